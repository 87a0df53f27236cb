import { CommandExecutor } from "@effect/platform"
import { Effect, Schema } from "effect"
import * as fsp from "node:fs/promises"
import * as os from "node:os"
import * as NodePath from "node:path"
import type { Backend, BackendContext, BackendError, RequiredCommand, ResolvedTool, ToolRequest } from "./Backend"
import { fail, fsStep, installing, makeUpstream, memo, setting, withSlash } from "./core/CoreTool"
import type { DownloaderShape } from "./Downloader"
import { optionString, platformOption } from "./Platform"
import { run, which } from "./Process"
import { resolveFromList, sortVersions } from "./Versions"

export const cargoInfo = {
  id: "cargo",
  specForm: "cargo:<crate|git url|./dir>",
  options: ["features", "default-features", "bin", "crate", "locked"],
  description:
    "Build a crate with the real cargo (`cargo install --root <install>`); versions from the crates.io sparse index " +
    "(settings cargo.registry_name, cargo.index_url); a git URL or owner/repo builds with --git at HEAD, tag:, branch: " +
    "or rev:, a ./dir with --path"
} as const

export const DEFAULT_CARGO_INDEX = "https://index.crates.io/"

/** Where the crate comes from: a registry, a git repository, or a directory on this machine (an engine addition). */
export type CrateSource =
  | { readonly kind: "registry"; readonly crate: string }
  | { readonly kind: "git"; readonly url: string }
  | { readonly kind: "path"; readonly dir: string }

/**
 * mise's reading of the name: a URL is a git repository, `owner/repo` is a GitHub repository, anything else a crate.
 * A name starting with `/`, `./`, `../` or `~/` (never valid for mise) is a local crate dir, resolved from `cwd`.
 */
export const crateSource = (name: string, cwd: string = process.cwd(), home: string = os.homedir()): CrateSource => {
  if (name.startsWith("~/")) return { kind: "path", dir: NodePath.join(home, name.slice(2)) }
  if (/^\.{0,2}\//.test(name)) return { kind: "path", dir: NodePath.resolve(cwd, name) }
  if (/^[a-z][a-z0-9+.-]*:/i.test(name) && URL.canParse(name)) return { kind: "git", url: name }
  const slash = name.indexOf("/")
  if (slash > 0) return { kind: "git", url: `https://github.com/${name.slice(0, slash)}/${name.slice(slash + 1)}.git` }
  return { kind: "registry", crate: name }
}

/** The sparse index path of a crate: `1/a`, `2/ab`, `3/a/abc`, `ca/rg/cargo-deny` (lowercased). */
export const sparseIndexPath = (crate: string): string | undefined => {
  if (crate === "" || !/^[\x21-\x7e]+$/.test(crate)) return undefined
  const n = crate.toLowerCase()
  if (n.length <= 2) return `${n.length}/${n}`
  if (n.length === 3) return `3/${n[0]}/${n}`
  return `${n.slice(0, 2)}/${n.slice(2, 4)}/${n}`
}

const IndexLine = Schema.parseJson(Schema.Struct({ vers: Schema.String, yanked: Schema.Boolean }))
const decodeIndexLine = Schema.decodeUnknownEither(IndexLine)

/** The versions in a sparse index file (one JSON object a line), yanked ones left out, ascending. */
export const indexVersions = (text: string): ReadonlyArray<string> | { readonly badLine: number } => {
  const versions: Array<string> = []
  const lines = text.split("\n")
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() === "") continue
    const entry = decodeIndexLine(lines[i])
    if (entry._tag === "Left") return { badLine: i + 1 }
    if (!entry.right.yanked) versions.push(entry.right.vers)
  }
  return sortVersions(versions)
}

/** A tool option that may be a list (`features = ["a", "b"]`) or a string, as mise reads `features`. */
const listOption = (tool: ToolRequest, key: string): string | undefined => {
  const value = tool.options[key]
  if (Array.isArray(value)) return value.length > 0 ? value.join(" ") : undefined
  return optionString(tool.options, key)
}

const isFalse = (value: string | undefined) => value?.toLowerCase() === "false"

/** The flags mise adds after the source, in its order. */
export const cargoInstallFlags = (tool: ToolRequest, ctx: BackendContext): ReadonlyArray<string> => {
  const bin = platformOption(tool.options, "bin", ctx.platform)
  const features = listOption(tool, "features")
  const crate = optionString(tool.options, "crate")
  return [
    ...(bin !== undefined ? [`--bin=${bin}`] : []),
    ...(isFalse(optionString(tool.options, "locked")) ? [] : ["--locked"]),
    ...(features !== undefined ? [`--features=${features}`] : []),
    ...(isFalse(optionString(tool.options, "default-features")) ? ["--no-default-features"] : []),
    ...(crate !== undefined ? [crate] : [])
  ]
}

/** What mise records as `.mise-cargo-install.toml` (toml-rs layout), so the install dir holds the same files. */
export const installStateToml = (tool: ToolRequest, ctx: BackendContext): string => {
  const features = Array.from(new Set((listOption(tool, "features") ?? "").split(/[,\s]+/).filter((f) => f !== ""))).sort()
  const bin = platformOption(tool.options, "bin", ctx.platform)
  const crate = optionString(tool.options, "crate")
  return [
    `features = [${features.map((f) => JSON.stringify(f)).join(", ")}]`,
    `default_features = ${!isFalse(optionString(tool.options, "default-features"))}`,
    ...(bin !== undefined ? [`bin = ${JSON.stringify(bin)}`] : []),
    ...(crate !== undefined ? [`crate = ${JSON.stringify(crate)}`] : []),
    `locked = ${!isFalse(optionString(tool.options, "locked"))}`,
    ""
  ].join("\n")
}

const GIT_REF = /^(tag|branch|rev):(.+)$/

/** `[package] version = "…"` of a Cargo.toml, when it is written out (not inherited from a workspace). */
export const packageVersion = (cargoToml: string): string | undefined => {
  let inPackage = false
  for (const line of cargoToml.split(/\r?\n/)) {
    const header = /^\s*\[([^\]]+)\]\s*(#.*)?$/.exec(line)
    if (header !== null) inPackage = header[1]!.trim() === "package"
    else if (inPackage) {
      const m = /^\s*version\s*=\s*["']([^"']+)["']/.exec(line)
      if (m !== null) return m[1]
    }
  }
  return undefined
}

const REGISTRY_NAME = "cargo.registry_name"
const INDEX_URL = "cargo.index_url"

/** `CARGO_REGISTRIES_MY_CORP_INDEX` for registry `my-corp`, as cargo names the variable. */
const registryIndexVar = (name: string) => `CARGO_REGISTRIES_${name.toUpperCase().replace(/-/g, "_")}_INDEX`

const CARGO_HINT = "install Rust with rustup (https://rustup.rs), your system's package (`apt-get install cargo`) or " +
  "`mise use -g rust`, and make sure `cargo` is on PATH"

/** Where rustup puts cargo when a fresh shell has not put it on PATH yet: `$CARGO_HOME/bin`, `~/.cargo/bin`. */
const rustupBinDirs = (ctx: BackendContext): ReadonlyArray<string> =>
  [ctx.env.CARGO_HOME, NodePath.join(ctx.env.HOME ?? os.homedir(), ".cargo")]
    .filter((h): h is string => h !== undefined && h !== "")
    .map((h) => NodePath.join(h, "bin"))

/** The `cargo` backend, over the given Downloader (the sparse index) and the platform's CommandExecutor (cargo itself). */
export const makeCargoBackend = (downloader: DownloaderShape, executor: CommandExecutor.CommandExecutor): Backend => {
  const upstream = makeUpstream(downloader)
  const indexes = memo<ReadonlyArray<string>>()

  const provided = <A, E>(effect: Effect.Effect<A, E, CommandExecutor.CommandExecutor>) =>
    Effect.provideService(effect, CommandExecutor.CommandExecutor, executor)

  /**
   * The sparse index to list versions from: engine setting `cargo.index_url`, else the index cargo has for mise's
   * `cargo.registry_name` (its `CARGO_REGISTRIES_<NAME>_INDEX`), else crates.io.
   */
  const indexFor = (tool: ToolRequest, ctx: BackendContext): Effect.Effect<{ url: string; hint: string }, BackendError> => {
    const configured = setting(ctx, INDEX_URL, "MISE_CARGO_INDEX_URL")
    if (configured !== undefined) {
      return Effect.succeed({ url: withSlash(configured.replace(/^sparse\+/, "")), hint: `the index is set by ${INDEX_URL}` })
    }
    const registry = setting(ctx, REGISTRY_NAME, "MISE_CARGO_REGISTRY_NAME")
    if (registry === undefined) return Effect.succeed({ url: DEFAULT_CARGO_INDEX, hint: `set ${INDEX_URL} to use a mirror` })
    const variable = registryIndexVar(registry)
    const index = ctx.env[variable]
    if (index === undefined || index === "") {
      return Effect.fail(fail(
        tool,
        `${REGISTRY_NAME} is "${registry}" but ${variable} is not set, so the engine cannot tell where that registry's ` +
          `index is: set ${variable}=sparse+https://… (cargo reads it too) or the setting ${INDEX_URL}`
      ))
    }
    if (!index.startsWith("sparse+")) {
      return Effect.fail(fail(
        tool,
        `${variable} is ${index}, a git index; the engine lists versions from sparse indexes only ` +
          `(sparse+https://…): point ${variable} or ${INDEX_URL} at the registry's sparse index`
      ))
    }
    return Effect.succeed({ url: withSlash(index.slice("sparse+".length)), hint: `the index is set by ${variable}` })
  }

  const registryVersions = (tool: ToolRequest, crate: string, ctx: BackendContext) =>
    Effect.gen(function*() {
      const path = sparseIndexPath(crate)
      if (path === undefined) return yield* fail(tool, `invalid Cargo crate name: ${JSON.stringify(crate)}`)
      const index = yield* indexFor(tool, ctx)
      const url = `${index.url}${path}`
      return yield* indexes(url, Effect.gen(function*() {
        const text = yield* upstream.optionalText(tool, url, index.hint)
        if (text === undefined) return yield* fail(tool, `crate ${crate} was not found in the index ${index.url} (${url}: HTTP 404)`)
        const versions = indexVersions(text)
        if ("badLine" in versions) {
          return yield* fail(tool, `${url} is not a sparse index file: line ${versions.badLine} is not a {"vers", "yanked"} entry`)
        }
        return versions
      }))
    })

  const pathVersion = (tool: ToolRequest, dir: string) =>
    Effect.gen(function*() {
      const manifest = NodePath.join(dir, "Cargo.toml")
      const text = yield* Effect.tryPromise({
        try: () => fsp.readFile(manifest, "utf8"),
        catch: (cause) => fail(tool, `the crate dir ${dir} has no readable Cargo.toml (${String(cause)})`, cause)
      })
      const version = packageVersion(text)
      if (version === undefined) {
        return yield* fail(tool, `${manifest} has no [package] version to install as (a workspace needs the member's dir)`)
      }
      return version
    })

  const listVersions = (tool: ToolRequest, ctx: BackendContext): Effect.Effect<ReadonlyArray<string>, BackendError> => {
    const source = crateSource(tool.name)
    switch (source.kind) {
      case "registry":
        return registryVersions(tool, source.crate, ctx)
      case "git":
        return Effect.succeed(["HEAD"])
      case "path":
        return Effect.map(pathVersion(tool, source.dir), (v) => [v])
    }
  }

  const resolveVersion = (tool: ToolRequest, ctx: BackendContext): Effect.Effect<string, BackendError> => {
    const spec = tool.version.replace(/^prefix:/, "")
    if (crateSource(tool.name).kind === "git") {
      if (spec === "latest" || spec === "HEAD") return Effect.succeed("HEAD")
      if (GIT_REF.test(spec)) return Effect.succeed(spec)
      return Effect.fail(fail(
        tool,
        `invalid cargo git version: ${spec}. Give "HEAD", "tag:<tag>", "branch:<branch>" or "rev:<commit>", e.g. ` +
          `"cargo:https://github.com/eza-community/eza" = "tag:v0.18.0"`
      ))
    }
    // mise: a full version (also `=1.2.3`) is taken as written; cargo fails the install if it does not exist.
    const exact = spec.replace(/^=/, "")
    if (crateSource(tool.name).kind === "registry" && /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/.test(exact)) {
      return Effect.succeed(exact)
    }
    return Effect.flatMap(listVersions(tool, ctx), (versions) => resolveFromList(spec, versions, tool.short))
  }

  /** cargo on PATH, else where rustup puts it (`$CARGO_HOME/bin`, `~/.cargo/bin`), which a fresh shell has on PATH. */
  const findCargo = (ctx: BackendContext) =>
    Effect.gen(function*() {
      const onPath = yield* which("cargo", ctx.env)
      if (onPath !== undefined) return onPath
      for (const dir of rustupBinDirs(ctx)) {
        const found = yield* which("cargo", { PATH: dir })
        if (found !== undefined) return found
      }
      return undefined
    })

  const install = (tool: ResolvedTool, dir: string, ctx: BackendContext) =>
    Effect.gen(function*() {
      const request = installing(tool)
      const cargo = yield* findCargo(ctx)
      if (cargo === undefined) {
        return yield* fail(
          request,
          "cargo was not found on PATH (nor in $CARGO_HOME/bin or ~/.cargo/bin). The cargo backend builds crates with " +
            `the real cargo: ${CARGO_HINT}.`
        )
      }
      const source = crateSource(tool.name)
      const from: Array<string> = []
      switch (source.kind) {
        case "registry": {
          from.push(`${source.crate}@${tool.resolved}`)
          const index = setting(ctx, INDEX_URL, "MISE_CARGO_INDEX_URL")
          const registry = setting(ctx, REGISTRY_NAME, "MISE_CARGO_REGISTRY_NAME")
          // The index versions were listed from is the one cargo installs from.
          if (index !== undefined) from.push(`--index=${index.startsWith("sparse+") ? index : `sparse+${withSlash(index)}`}`)
          else if (registry !== undefined) from.push(`--registry=${registry}`)
          break
        }
        case "git": {
          from.push(`--git=${source.url}`)
          const ref = GIT_REF.exec(tool.resolved)
          if (ref !== null) from.push(`--${ref[1]}=${ref[2]}`)
          else if (tool.resolved !== "HEAD") {
            return yield* fail(request, `invalid cargo git version: ${tool.resolved} (give HEAD, tag:<tag>, branch:<branch> or rev:<commit>)`)
          }
          break
        }
        case "path":
          from.push(`--path=${source.dir}`)
          break
      }
      const args = ["install", ...from, ...cargoInstallFlags(tool, ctx), "--root", dir]
      ctx.log(`${tool.short}@${tool.resolved}: cargo ${args.join(" ")}`)
      yield* provided(run(cargo, args, { env: ctx.env })).pipe(
        Effect.mapError((e) => fail(request, `cargo install failed: ${e.message}`, e))
      )
      yield* fsStep(tool, "cannot record the cargo install options", () =>
        fsp.writeFile(NodePath.join(dir, ".mise-cargo-install.toml"), installStateToml(tool, ctx)))
    })

  return {
    ...cargoInfo,
    listVersions,
    resolveVersion,
    requiredCommands: (_tool, ctx): ReadonlyArray<RequiredCommand> => [{ command: "cargo", alsoIn: rustupBinDirs(ctx), hint: CARGO_HINT }],
    install,
    binPaths: (_tool, dir) => Effect.succeed([NodePath.join(dir, "bin")]),
    execEnv: () => Effect.succeed([])
  }
}
