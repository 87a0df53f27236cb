import { Effect } from "effect"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { discoverConfigs, discoveryContext } from "./ConfigDiscovery"
import { ConfigError } from "./ConfigError"
import { readConfigFile, withTools, type ConfigFileInfo, type ParsedConfigFile } from "./ConfigFile"
import { resolveEnv, resolveVars, type EnvSource, type ResolvedEnv } from "./EnvResolver"
import type { EnvDirective } from "./EnvDirective"
import { readLockfile, type Lockfile } from "./Lockfile"
import { mergeOciConfigs, OCI_KEYS, type OciConfig, type ValueOrigin } from "./OciConfig"
import { mergeSettings, type Settings } from "./Settings"
import { hostToolPlatform, mergeToolsets, toolSupportsPlatform, type ToolSpec } from "./Tools"

export interface LoadProjectOptions {
  readonly cwd: string
  /** The build host's environment (MISE_ENV, MISE_CEILING_PATHS, MISE_OCI_*, and what `{{ env.X }}` reads). */
  readonly env: Readonly<Record<string, string | undefined>>
  readonly home: string
  /** Also use the global and system configs (`--include-global`). */
  readonly includeGlobal: boolean
  /** Active environments, comma-separated; defaults to `env.MISE_ENV`. */
  readonly miseEnv?: string
  /** Arch the tools' `os` filters are checked against (`x64`, `arm64`, or node's names); defaults to the host's. */
  readonly arch?: string
}

/** Everything the build needs from a project's mise configs. */
export interface Project {
  /** Config root of the most specific project config (the cwd when only global configs are used). */
  readonly root: string
  /** Every config file used, most specific first. */
  readonly files: ReadonlyArray<ConfigFileInfo>
  /** Toolset order, with `os` filters applied for linux/<arch>. */
  readonly tools: ReadonlyArray<ToolSpec>
  readonly env: ResolvedEnv
  /** Merged `[oci]`, no defaults applied. */
  readonly oci: OciConfig
  /** Where each merged `[oci]` value was written, for errors raised after CLI precedence. */
  readonly ociOrigins: Readonly<Partial<Record<(typeof OCI_KEYS)[number], ValueOrigin>>>
  /** Merged `[settings]` (all loaded configs, as mise's settings are not project-scoped) with env overrides. */
  readonly settings: Settings
  readonly lock?: Lockfile
  /** Things skipped on purpose that the user should hear about (e.g. `_.source`). */
  readonly warnings: ReadonlyArray<string>
}

export const NO_PROJECT_CONFIG_MESSAGE =
  "mise oci: no project mise config found in the current directory or any parent. Add a `mise.toml` to the project, " +
  "or pass `--include-global` to use tools and [oci] settings from your global config (note: asdf plugins remain unsupported)."

const readEnvFile = (file: string): Effect.Effect<string | undefined, ConfigError> =>
  Effect.tryPromise({
    try: () => fs.readFile(file, "utf8").catch((cause: NodeJS.ErrnoException) => (cause.code === "ENOENT" ? undefined : Promise.reject(cause))),
    catch: (cause) => new ConfigError({ file, reason: `cannot read env file: ${cause instanceof Error ? cause.message : String(cause)}` })
  })

const envSources = (leastSpecificFirst: ReadonlyArray<ParsedConfigFile>, select: (file: ParsedConfigFile) => ReadonlyArray<EnvDirective>): ReadonlyArray<EnvSource> =>
  leastSpecificFirst.map((file) => ({ file: file.path, root: file.root, directives: select(file), locate: file.locator.locate }))

/** The most specific file that set each `[oci]` key. */
const mergeOrigins = (mostSpecificFirst: ReadonlyArray<ParsedConfigFile>): Project["ociOrigins"] => {
  const out: Partial<Record<(typeof OCI_KEYS)[number], ValueOrigin>> = {}
  for (const file of mostSpecificFirst) {
    for (const key of OCI_KEYS) {
      const origin = file.ociOrigins[key]
      if (out[key] === undefined && origin !== undefined) out[key] = origin
    }
  }
  return out
}

/** mise puts a config's lockfile beside it (`.mise/conf.d/x.toml` → `.mise/mise.lock`). */
const lockfilePath = (configFile: string): string => {
  const dir = path.dirname(configFile)
  return path.join(path.basename(dir) === "conf.d" ? path.dirname(dir) : dir, "mise.lock")
}

/**
 * Loads a project the way `mise oci build` sees it: discovers configs from `cwd` up, keeps the project scope
 * (or everything with `includeGlobal`), and resolves tools, `[env]`, `[oci]`, settings and the lockfile.
 */
export const loadProject = (opts: LoadProjectOptions): Effect.Effect<Project, ConfigError> =>
  Effect.gen(function* () {
    const ctx = discoveryContext(opts)
    const discovered = yield* discoverConfigs(ctx)
    // Settings are machine-wide in mise, so every config is read even when only project configs are used.
    const all = yield* Effect.forEach(discovered, readConfigFile)
    const scoped = opts.includeGlobal ? all : all.filter((file) => file.scope === "project")
    if (scoped.length === 0 && !opts.includeGlobal) return yield* Effect.fail(new ConfigError({ reason: NO_PROJECT_CONFIG_MESSAGE }))

    const settings = yield* mergeSettings(all.map((file) => file.settings), opts.env)
    const leastSpecificFirst = [...scoped].reverse()
    const resolveCtx = { hostEnv: opts.env, cwd: ctx.cwd, home: ctx.home, readFile: readEnvFile }
    const vars = yield* resolveVars(envSources(leastSpecificFirst, (file) => file.vars), resolveCtx)
    const files = yield* Effect.forEach(scoped, (file) =>
      withTools(file, { env: opts.env, vars, config_root: file.root, cwd: ctx.cwd })
    )
    const platform = hostToolPlatform(opts.arch)
    const tools = mergeToolsets(files.map((file) => file.tools)).filter((tool) => toolSupportsPlatform(tool, platform))
    const oci = mergeOciConfigs(scoped.flatMap((file) => (file.oci === undefined ? [] : [file.oci])))
    const resolution = yield* resolveEnv(envSources(leastSpecificFirst, (file) => file.env), { ...resolveCtx, vars, ociEnv: Object.fromEntries(oci.env) })

    const projectFile = scoped.find((file) => file.scope === "project" && file.kind === "mise.toml")
    const lock = projectFile === undefined ? undefined : yield* readLockfile(lockfilePath(projectFile.path))
    return {
      root: scoped.find((file) => file.scope === "project")?.root ?? ctx.cwd,
      files,
      tools,
      env: resolution.env,
      oci,
      ociOrigins: mergeOrigins(scoped),
      settings,
      ...(lock === undefined ? {} : { lock }),
      warnings: resolution.warnings
    }
  })
