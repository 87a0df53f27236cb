import { Effect } from "effect"
import { statSync } from "node:fs"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { ConfigError } from "./ConfigError"

/** project: the build's own configs (monorepo parents included); global/system: the user's and the machine's. */
export type ConfigScope = "project" | "global" | "system"

export type ConfigKind = "mise.toml" | ".tool-versions"

/** A config file that exists, with what mise derives from its location. */
export interface DiscoveredConfig {
  readonly path: string
  readonly kind: ConfigKind
  readonly scope: ConfigScope
  /** mise's `config_root`: the directory the config applies to (`{{ config_root }}`). */
  readonly root: string
}

/** What discovery reads from the environment, resolved once. */
export interface DiscoveryContext {
  readonly cwd: string
  readonly home: string
  /** `$MISE_CONFIG_DIR`, else `$XDG_CONFIG_HOME/mise`, else `~/.config/mise`. */
  readonly configDir: string
  /** Whether `$MISE_CONFIG_DIR` moved the config dir away from its default. */
  readonly configDirOverridden: boolean
  readonly defaultConfigDir: string
  /** `$MISE_SYSTEM_CONFIG_DIR`, else `/etc/mise`. */
  readonly systemConfigDir: string
  readonly globalConfigFile?: string
  readonly systemConfigFile?: string
  /** `$MISE_GLOBAL_CONFIG_ROOT`, else home: the config root of global and system configs. */
  readonly globalConfigRoot: string
  /** Active environments, lowest precedence first (`MISE_ENV=a,b`: b wins). */
  readonly environments: ReadonlyArray<string>
  /** Directories where the walk up from cwd stops (they are not searched). */
  readonly ceilingPaths: ReadonlySet<string>
}

const nonEmpty = (value: string | undefined): string | undefined => (value === undefined || value === "" ? undefined : value)

/** `MISE_ENV` (or `MISE_PROFILE` / `MISE_ENVIRONMENT`), comma-separated; an explicit value wins. */
export const miseEnvironments = (env: Readonly<Record<string, string | undefined>>, explicit?: string): ReadonlyArray<string> => {
  const raw = explicit ?? env["MISE_ENV"] ?? env["MISE_PROFILE"] ?? env["MISE_ENVIRONMENT"] ?? ""
  return raw.split(",").filter((part) => part !== "")
}

export const discoveryContext = (opts: {
  readonly cwd: string
  readonly env: Readonly<Record<string, string | undefined>>
  readonly home: string
  readonly miseEnv?: string
}): DiscoveryContext => {
  const { env, home } = opts
  const xdgConfigHome = nonEmpty(env["XDG_CONFIG_HOME"]) ?? path.join(home, ".config")
  const defaultConfigDir = path.join(xdgConfigHome, "mise")
  const configDir = nonEmpty(env["MISE_CONFIG_DIR"]) ?? defaultConfigDir
  const globalConfigFile = nonEmpty(env["MISE_GLOBAL_CONFIG_FILE"]) ?? nonEmpty(env["MISE_CONFIG_FILE"])
  const systemConfigFile = nonEmpty(env["MISE_SYSTEM_CONFIG_FILE"])
  return {
    cwd: path.resolve(opts.cwd),
    home: path.resolve(home),
    configDir: path.resolve(configDir),
    configDirOverridden: path.resolve(configDir) !== path.resolve(defaultConfigDir),
    defaultConfigDir: path.resolve(defaultConfigDir),
    systemConfigDir: path.resolve(nonEmpty(env["MISE_SYSTEM_CONFIG_DIR"]) ?? nonEmpty(env["MISE_SYSTEM_DIR"]) ?? "/etc/mise"),
    ...(globalConfigFile === undefined ? {} : { globalConfigFile: path.resolve(globalConfigFile) }),
    ...(systemConfigFile === undefined ? {} : { systemConfigFile: path.resolve(systemConfigFile) }),
    globalConfigRoot: path.resolve(nonEmpty(env["MISE_GLOBAL_CONFIG_ROOT"]) ?? home),
    environments: miseEnvironments(env, opts.miseEnv),
    ceilingPaths: new Set(
      (env["MISE_CEILING_PATHS"] ?? "")
        .split(path.delimiter)
        .filter((p) => p !== "")
        .map((p) => path.resolve(p.startsWith("~/") ? path.join(home, p.slice(2)) : p))
    )
  }
}

/** The 19 per-directory names of mise's `LOCAL_CONFIG_FILENAMES`, lowest precedence first. */
export const LOCAL_CONFIG_FILENAMES: ReadonlyArray<string> = [
  ".tool-versions",
  ".config/mise/conf.d/*.toml",
  ".config/mise/config.toml",
  ".config/mise/mise.toml",
  ".config/mise.toml",
  ".mise/conf.d/*.toml",
  ".mise/config.toml",
  "mise/config.toml",
  ".rtx.toml",
  "mise.toml",
  ".mise.toml",
  ".config/mise/config.local.toml",
  ".config/mise/mise.local.toml",
  ".config/mise.local.toml",
  ".mise/config.local.toml",
  "mise/config.local.toml",
  ".rtx.local.toml",
  "mise.local.toml",
  ".mise.local.toml"
]

/** mise's `env_config_patterns` for one environment, lowest precedence first. */
export const environmentConfigFilenames = (env: string): ReadonlyArray<string> => [
  `.config/mise/config.${env}.toml`,
  `.config/mise.${env}.toml`,
  `mise/config.${env}.toml`,
  `mise.${env}.toml`,
  `.mise/config.${env}.toml`,
  `.mise.${env}.toml`,
  `.config/mise/config.${env}.local.toml`,
  `.config/mise.${env}.local.toml`,
  `mise/config.${env}.local.toml`,
  `mise.${env}.local.toml`,
  `.mise/config.${env}.local.toml`,
  `.mise.${env}.local.toml`
]

/** Every per-directory pattern, lowest precedence first: the local names, then each environment's (later envs win). */
export const configFilenames = (environments: ReadonlyArray<string>): ReadonlyArray<string> => [
  ...LOCAL_CONFIG_FILENAMES,
  ...environments.flatMap(environmentConfigFilenames)
]

/** Global/system files of a config dir, lowest precedence first (mise's `config_files_from_dir`). */
export const configDirFilenames = (environments: ReadonlyArray<string>): ReadonlyArray<string> => [
  "conf.d/*.toml",
  "config.toml",
  "mise.toml",
  ...environments.flatMap((env) => [`config.${env}.toml`, `mise.${env}.toml`]),
  "config.local.toml",
  "mise.local.toml",
  ...environments.flatMap((env) => [`config.${env}.local.toml`, `mise.${env}.local.toml`])
]

/** The directories searched: cwd and its ancestors, stopping before a ceiling path. */
export const searchDirectories = (ctx: DiscoveryContext): ReadonlyArray<string> => {
  const dirs: Array<string> = []
  for (let dir = ctx.cwd; ; dir = path.dirname(dir)) {
    if (ctx.ceilingPaths.has(dir)) break
    dirs.push(dir)
    if (path.dirname(dir) === dir) break
  }
  return dirs
}

const isInside = (file: string, dir: string): boolean => file === dir || file.startsWith(dir.endsWith(path.sep) ? dir : dir + path.sep)

/** mise's `config_root`: `.mise/config.toml` and `.config/mise/conf.d/x.toml` apply to the directory above them. */
export const configRoot = (file: string, isGlobalConfig: boolean, ctx: DiscoveryContext): string => {
  if (isGlobalConfig) return ctx.globalConfigRoot
  const parent = path.dirname(file)
  const grandparent = path.dirname(parent)
  const parentName = path.basename(parent)
  const grandparentName = path.basename(grandparent)
  const isMiseDir = (name: string): boolean => name === "mise" || name === ".mise"
  const filename = path.basename(file)
  const isConfigFilename = filename === "config.toml" || filename === "config.local.toml" || /^config\..+\.toml$/.test(filename)
  if ((parentName === "tasks" || parentName === "conf.d") && isMiseDir(grandparentName)) {
    return path.basename(path.dirname(grandparent)) === ".config" ? path.dirname(path.dirname(grandparent)) : path.dirname(grandparent)
  }
  if (isMiseDir(parentName) && isConfigFilename) return grandparentName === ".config" ? path.dirname(grandparent) : grandparent
  if (parentName === ".config") return grandparent
  return parent
}

/**
 * Which scope a file belongs to. Like mise's `project_root()`, a file is not a project config when it is a
 * global or system config, lies under the global or system config dir, or sits directly in `$HOME`.
 */
export const classifyConfig = (file: string, ctx: DiscoveryContext, globalFiles: ReadonlySet<string>, systemFiles: ReadonlySet<string>): ConfigScope => {
  if (systemFiles.has(file)) return "system"
  if (globalFiles.has(file)) return "global"
  const dir = path.dirname(file)
  if (isInside(dir, ctx.systemConfigDir)) return "system"
  if (isInside(dir, ctx.configDir) || dir === ctx.home) return "global"
  return "project"
}

const io = <A>(what: string, file: string, run: () => Promise<A>): Effect.Effect<A, ConfigError> =>
  Effect.tryPromise({
    try: run,
    catch: (cause) => new ConfigError({ file, reason: `cannot ${what}: ${cause instanceof Error ? cause.message : String(cause)}` })
  })

/**
 * Discovery probes dozens of names in every ancestor directory: a synchronous stat each (a stat never blocks on a
 * special file), since a round trip through the thread pool costs more than the syscall. Unreadable means absent.
 */
const statKind = (file: string, kind: "file" | "directory"): Effect.Effect<boolean> =>
  Effect.sync(() => {
    try {
      const st = statSync(file, { throwIfNoEntry: false })
      return st !== undefined && (kind === "file" ? st.isFile() : st.isDirectory())
    } catch {
      return false
    }
  })
const isFile = (file: string): Effect.Effect<boolean> => statKind(file, "file")

/** `dir/conf.d/*.toml`: regular files, hidden ones skipped (editor backups), sorted by name. */
const listConfD = (dir: string): Effect.Effect<ReadonlyArray<string>, ConfigError> =>
  Effect.gen(function* () {
    const exists = yield* statKind(dir, "directory")
    if (!exists) return []
    const names = yield* io("list config directory", dir, () => fs.readdir(dir))
    const candidates = names.filter((name) => name.endsWith(".toml") && !name.startsWith(".")).sort()
    const files: Array<string> = []
    for (const name of candidates) if (yield* isFile(path.join(dir, name))) files.push(path.join(dir, name))
    return files
  })

/** Existing files for the patterns in `dir`, lowest precedence first. */
const filesIn = (dir: string, patterns: ReadonlyArray<string>): Effect.Effect<ReadonlyArray<string>, ConfigError> =>
  Effect.gen(function* () {
    const out: Array<string> = []
    for (const pattern of patterns) {
      if (pattern.endsWith("conf.d/*.toml")) out.push(...(yield* listConfD(path.join(dir, path.dirname(pattern)))))
      else if (yield* isFile(path.join(dir, pattern))) out.push(path.join(dir, pattern))
    }
    return out
  })

const realpath = (file: string): Effect.Effect<string> => Effect.promise(() => fs.realpath(file).catch(() => file))

/**
 * Every config file mise would load, most specific first: each directory from cwd up (closest first, and
 * within a directory the highest-precedence name first), then global, then system configs. The same file
 * reached twice (symlinks, `~/.config/mise` seen from a walk through `$HOME`) counts once, where first seen.
 */
export const discoverConfigs = (ctx: DiscoveryContext): Effect.Effect<ReadonlyArray<DiscoveredConfig>, ConfigError> =>
  Effect.gen(function* () {
    const globalFiles = ctx.globalConfigFile === undefined
      ? yield* filesIn(ctx.configDir, configDirFilenames(ctx.environments))
      : [ctx.globalConfigFile]
    const systemFiles = ctx.systemConfigFile === undefined
      ? yield* filesIn(ctx.systemConfigDir, configDirFilenames(ctx.environments))
      : [ctx.systemConfigFile]
    const patterns = configFilenames(ctx.environments)
    const walked: Array<string> = []
    for (const dir of searchDirectories(ctx)) walked.push(...[...(yield* filesIn(dir, patterns))].reverse())
    const candidates = [...walked, ...[...globalFiles].reverse(), ...[...systemFiles].reverse()]

    const globalSet = new Set(globalFiles)
    const systemSet = new Set(systemFiles)
    const seen = new Set<string>()
    const out: Array<DiscoveredConfig> = []
    for (const file of candidates) {
      const real = yield* realpath(file)
      if (seen.has(real)) continue
      seen.add(real)
      // A moved MISE_CONFIG_DIR hides what the walk finds in the default config dir (mise #7015).
      if (ctx.configDirOverridden && !globalSet.has(file) && isInside(file, ctx.defaultConfigDir)) continue
      if (!(yield* isFile(file))) continue
      const scope = classifyConfig(file, ctx, globalSet, systemSet)
      out.push({
        path: file,
        kind: path.basename(file) === ".tool-versions" ? ".tool-versions" : "mise.toml",
        scope,
        root: configRoot(file, globalSet.has(file) || systemSet.has(file), ctx)
      })
    }
    return out
  })
