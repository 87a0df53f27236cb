import { Context, Data, Effect } from "effect"

/** A tool as the project asks for it: `"http:hello" = { version = "1.0.0", url = ... }`. */
export interface ToolRequest {
  /** The key as written in `[tools]` with any `[opts]` suffix removed: `http:hello`, `node`, `npm:@scope/pkg`. */
  readonly short: string
  /** Backend id: `http`, `npm`, `core`, ... (for a bare name like `node`, the backend that serves it). */
  readonly backend: string
  /** Tool name within the backend: `hello`, `@scope/pkg`, `node`. */
  readonly name: string
  /** The version spec as written: `1.0.0`, `20`, `latest`, `ref:abc`, `path:/x`. */
  readonly version: string
  /** Backend options, nested tables flattened to dotted keys (`platforms.linux-x64.url`). */
  readonly options: Readonly<Record<string, string | number | boolean | ReadonlyArray<string>>>
}

/** A tool whose version is concrete (never a prefix; `latest` only where a backend takes versions as written). */
export interface ResolvedTool extends ToolRequest {
  readonly resolved: string
  /** The directory name under `installs/<tool_dir>/`: the version, `ref-x`, `path-<hash>`. */
  readonly versionDir: string
}

/** What a backend needs from the world, supplied by the engine. */
export interface BackendContext {
  /** mise settings, flattened dotted keys (`node.mirror_url`, `npm.registry`, ...). */
  readonly settings: Readonly<Record<string, unknown>>
  /** The process environment the build runs with (PATH here decides which `npm` runs). */
  readonly env: Readonly<Record<string, string | undefined>>
  /** `<data>/` root (ENGINE_DATA_DIR / MISE_DATA_DIR / XDG). */
  readonly dataDir: string
  /** Scratch space for downloads (`<cache>/downloads`). */
  readonly downloadDir: string
  /** os/arch in mise's words: `linux`, `x64` | `arm64`. */
  readonly platform: { readonly os: string; readonly arch: string }
  readonly log: (message: string) => void
  readonly warn: (message: string) => void
}

/**
 * Any failure of a backend. `message` is complete on its own (it names the tool) so the CLI can print it as is;
 * `cause` keeps the typed failure underneath (DownloadError, ChecksumMismatchError, ArchiveError, CommandError).
 */
export class BackendError extends Data.TaggedError("BackendError")<{
  readonly tool: string
  readonly message: string
  readonly cause?: unknown
}> {}

/** What `engine backends` shows about a backend; needs no services, so it can be listed statically. */
export interface BackendInfo {
  readonly id: string
  /** One line for `engine backends`: `http:<name>`. */
  readonly specForm: string
  /** Option names the backend understands, for `engine backends` and for validation messages. */
  readonly options: ReadonlyArray<string>
  /** `[settings]` keys (with their `MISE_*` env var) the backend reads, where it is configured through settings. */
  readonly settings?: ReadonlyArray<string>
  readonly description: string
}

/** A program a backend's `install` runs, so the engine can check for it before any install starts. */
export interface RequiredCommand {
  /** The program's name on PATH: `cargo`. */
  readonly command: string
  /** Programs that do the job as well (`uv` for `pipx`): any one of them found is enough. */
  readonly alternatives?: ReadonlyArray<string>
  /** Dirs the backend also runs it from when PATH lacks it (rustup's `~/.cargo/bin`). */
  readonly alsoIn?: ReadonlyArray<string>
  /** How to get it, as a clause: `install Rust with rustup (https://rustup.rs) or \`apt-get install cargo\``. */
  readonly hint: string
}

/**
 * A backend plugin. Kept small on purpose (see STYLE.md): it says how to list versions,
 * how to install into the directory the engine hands it, and what its bin paths and env are.
 * A backend that needs services (HTTP, processes) captures them when it is made.
 */
export interface Backend extends BackendInfo {
  /** Versions available upstream, ascending. */
  readonly listVersions: (tool: ToolRequest, ctx: BackendContext) => Effect.Effect<ReadonlyArray<string>, BackendError>
  /**
   * Turn a spec into a concrete version. Backends whose version is given as-is (http) override this;
   * the default (see `resolveFromList`) resolves `latest` and prefixes against `listVersions`.
   */
  readonly resolveVersion?: (tool: ToolRequest, ctx: BackendContext) => Effect.Effect<string, BackendError>
  /** The programs `install` would run for this tool (none when omitted); checked for every tool before any install. */
  readonly requiredCommands?: (tool: ToolRequest, ctx: BackendContext) => ReadonlyArray<RequiredCommand>
  /** Install into `installDir`, which the engine has created empty. Must write nothing outside it. */
  readonly install: (tool: ResolvedTool, installDir: string, ctx: BackendContext) => Effect.Effect<void, BackendError>
  /** Absolute host paths of the dirs to put on PATH (default `<installDir>/bin`). */
  readonly binPaths: (tool: ResolvedTool, installDir: string, ctx: BackendContext) => Effect.Effect<ReadonlyArray<string>, BackendError>
  /** Extra env vars in the tool's exec env (host paths; the engine rebases them into the image). */
  readonly execEnv: (tool: ResolvedTool, installDir: string, ctx: BackendContext) => Effect.Effect<ReadonlyArray<readonly [string, string]>, BackendError>
}

/** Resolves `backend:name` specs to plugins. */
export class BackendRegistry extends Context.Tag("@engine/backends/BackendRegistry")<
  BackendRegistry,
  {
    readonly get: (tool: ToolRequest) => Effect.Effect<Backend, BackendError>
    /** Every backend id it answers, built-in ones first. */
    readonly ids: () => ReadonlyArray<string>
  }
>() {}
