import { CommandExecutor } from "@effect/platform"
import { Effect, Option, Schema } from "effect"
import * as fsp from "node:fs/promises"
import * as os from "node:os"
import * as NodePath from "node:path"
import type { Backend, BackendContext, ResolvedTool, ToolRequest } from "./Backend"
import { BackendError } from "./Backend"
import type { DownloaderShape } from "./Downloader"
import { optionString } from "./Platform"
import { run, which } from "./Process"
import { isPrerelease, matchVersion, resolveFromList, sortVersions } from "./Versions"

export const npmInfo = {
  id: "npm",
  specForm: "npm:<package>",
  options: ["npm_args"],
  description: "Install an npm package with the real npm (`npm install -g --prefix <install>`); versions from the registry"
} as const

export const DEFAULT_REGISTRY = "https://registry.npmjs.org/"

const Packument = Schema.Struct({
  "dist-tags": Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.String }), { default: () => ({}) }),
  versions: Schema.optionalWith(
    Schema.Record({ key: Schema.String, value: Schema.Struct({ deprecated: Schema.optional(Schema.Unknown) }) }),
    { default: () => ({}) }
  )
})
type Packument = typeof Packument.Type

const decodePackument = Schema.decodeUnknown(Schema.parseJson(Packument))

const label = (tool: ToolRequest) => `${tool.short}@${tool.version}`

const fail = (tool: ToolRequest, message: string, cause?: unknown) =>
  new BackendError({ tool: tool.short, message: `${label(tool)}: ${message}`, ...(cause !== undefined ? { cause } : {}) })

const withSlash = (url: string) => (url.endsWith("/") ? url : `${url}/`)

/** `@scope/pkg` → `@scope%2fpkg`, as npm asks registries for scoped packages. */
export const packumentUrl = (registry: string, name: string): string => `${withSlash(registry)}${name.replace("/", "%2f")}`

/** Versions as mise lists them: ascending, deprecated ones left out unless every version is deprecated. */
export const packumentVersions = (packument: Packument): ReadonlyArray<string> => {
  const all = Object.entries(packument.versions)
  const isDeprecated = ([, meta]: (typeof all)[number]) =>
    (typeof meta.deprecated === "string" && meta.deprecated !== "") || meta.deprecated === true
  const live = all.every(isDeprecated) ? all : all.filter((e) => !isDeprecated(e))
  return sortVersions(live.map(([v]) => v))
}

/** mise's npm resolution: `latest` is the `latest` dist-tag, another tag name is that tag, anything else matches the list. */
export const resolveNpmVersion = (
  spec: string,
  packument: Packument,
  tool?: string
): Effect.Effect<string, BackendError> => {
  const tags = packument["dist-tags"]
  const versions = packumentVersions(packument)
  if (spec === "latest" && tags.latest !== undefined) return Effect.succeed(tags.latest)
  const tagged = tags[spec]
  if (tagged !== undefined && !/^\d/.test(spec)) return Effect.succeed(tagged)
  // Pre-releases count only when nothing else matches `latest` (npm packages marked all-beta, for example).
  const stable = versions.filter((v) => !isPrerelease(v))
  return Option.match(matchVersion(spec, stable), {
    onSome: Effect.succeed,
    onNone: () => resolveFromList(spec, versions, tool)
  })
}

/** `a "b c" d\ e` → [a, b c, d e]: enough shell word splitting for `npm_args`. */
export const splitArgs = (text: string): ReadonlyArray<string> => {
  const words: Array<string> = []
  let word: string | undefined
  let quote: string | undefined
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (quote !== undefined) {
      if (c === quote) quote = undefined
      else if (c === "\\" && quote === "\"" && i + 1 < text.length) word = (word ?? "") + text[++i]
      else word = (word ?? "") + c
    } else if (c === "'" || c === "\"") {
      quote = c
      word ??= ""
    } else if (c === "\\" && i + 1 < text.length) {
      word = (word ?? "") + text[++i]
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word)
      word = undefined
    } else {
      word = (word ?? "") + c
    }
  }
  if (word !== undefined) words.push(word)
  return words
}

/** The `//host/path/:_authToken` of a registry in the user's .npmrc (npm will not print it), with `${VAR}` expanded. */
const registryToken = (registry: string, env: BackendContext["env"]) =>
  Effect.promise(async () => {
    const file = env.NPM_CONFIG_USERCONFIG ?? env.npm_config_userconfig ?? NodePath.join(env.HOME ?? os.homedir(), ".npmrc")
    const text = await fsp.readFile(file, "utf8").catch(() => "")
    const url = new URL(withSlash(registry))
    const wanted = [`//${url.host}${url.pathname}:_authToken`, `//${url.host}/:_authToken`]
    for (const line of text.split(/\r?\n/)) {
      const m = /^\s*([^=;#\s][^=]*?)\s*=\s*(.*?)\s*$/.exec(line)
      if (m === null || !wanted.includes(m[1]!)) continue
      return m[2]!.replace(/^"(.*)"$/, "$1").replace(/\$\{([^}]+)\}/g, (_, name: string) => env[name] ?? "")
    }
    return undefined
  })

/** The `npm` backend, over the given Downloader (packuments) and the platform's CommandExecutor (npm itself). */
const NPM_HINT = "install Node.js (it ships npm), e.g. `mise use -g node` or your system's nodejs/npm packages, " +
  "and make sure `npm` is on PATH"

export const makeNpmBackend = (
  downloader: DownloaderShape,
  executor: CommandExecutor.CommandExecutor
): Backend => {
  const registries = new Map<string, string>()
  const packuments = new Map<string, Packument>()

  const provided = <A, E>(effect: Effect.Effect<A, E, CommandExecutor.CommandExecutor>) =>
    Effect.provideService(effect, CommandExecutor.CommandExecutor, executor)

  /** The registry for this package: setting `npm.registry`, else npm's own config (scoped first), else npmjs.org. */
  const registryFor = (tool: ToolRequest, ctx: BackendContext) =>
    Effect.gen(function*() {
      const setting = ctx.settings["npm.registry"]
      if (typeof setting === "string" && setting !== "") return withSlash(setting)
      const scope = tool.name.startsWith("@") ? tool.name.split("/")[0]! : ""
      const cached = registries.get(scope)
      if (cached !== undefined) return cached
      const npm = yield* which("npm", ctx.env)
      let registry = ctx.env.NPM_CONFIG_REGISTRY ?? ctx.env.npm_config_registry ?? DEFAULT_REGISTRY
      if (npm !== undefined) {
        const keys = scope === "" ? ["registry"] : ["registry", `${scope}:registry`]
        const out = yield* provided(run(npm, ["config", "get", ...keys], { env: ctx.env })).pipe(Effect.option)
        if (Option.isSome(out)) {
          const lines = out.value.stdout.trim().split("\n")
          // One key prints its bare value; several print `key=value` lines.
          const values: Record<string, string | undefined> = keys.length === 1
            ? { registry: lines[0]?.trim() }
            : Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1).trim()]))
          const pick = [values[`${scope}:registry`], values.registry].find((v) => v !== undefined && v !== "" && v !== "undefined")
          if (pick !== undefined) registry = pick
        }
      }
      registry = withSlash(registry)
      registries.set(scope, registry)
      return registry
    })

  const packumentOf = (tool: ToolRequest, ctx: BackendContext) =>
    Effect.gen(function*() {
      const registry = yield* registryFor(tool, ctx)
      const url = packumentUrl(registry, tool.name)
      const cached = packuments.get(url)
      if (cached !== undefined) return cached
      const token = yield* registryToken(registry, ctx.env)
      const response = yield* downloader.fetchText(url, {
        accept: "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*",
        ...(token !== undefined && token !== "" ? { authorization: `Bearer ${token}` } : {})
      }).pipe(
        Effect.mapError((e) =>
          fail(
            tool,
            e.status === 404
              ? `package ${tool.name} was not found in the registry ${registry} (${url}: HTTP 404)`
              : e.message,
            e
          )
        )
      )
      const packument = yield* decodePackument(response.body).pipe(
        Effect.mapError((e) => fail(tool, `the registry's answer for ${url} is not a package document: ${e.message}`, e))
      )
      packuments.set(url, packument)
      return packument
    })

  let globalConfig: Option.Option<string | undefined> = Option.none()
  /**
   * `-g --prefix <dir>` moves npm's global config to `<dir>/etc/npmrc`, losing the user's (a `cafile` for a
   * company proxy, a mirror registry). Pin it to the one npm reads without the prefix.
   */
  const globalConfigOf = (npm: string, ctx: BackendContext) =>
    Effect.gen(function*() {
      if (ctx.env.NPM_CONFIG_GLOBALCONFIG !== undefined || ctx.env.npm_config_globalconfig !== undefined) return undefined
      if (Option.isSome(globalConfig)) return globalConfig.value
      const out = yield* provided(run(npm, ["config", "get", "globalconfig"], { env: ctx.env })).pipe(Effect.option)
      const value = Option.isSome(out) ? out.value.stdout.trim() || undefined : undefined
      globalConfig = Option.some(value)
      return value
    })

  const install = (tool: ResolvedTool, dir: string, ctx: BackendContext) =>
    Effect.gen(function*() {
      const npm = yield* which("npm", ctx.env)
      if (npm === undefined) {
        return yield* fail(
          tool,
          `npm was not found on PATH. The npm backend installs packages with the real npm: ${NPM_HINT}.`
        )
      }
      const setting = ctx.settings["npm.registry"]
      const extra = splitArgs(optionString(tool.options, "npm_args") ?? "")
      // Exactly what mise 2026.9 runs with npm.package_manager=npm, so the installed tree matches its layer.
      const args = [
        "install",
        "-g",
        `${tool.name}@${tool.resolved}`,
        "--prefix",
        dir,
        "--ignore-scripts=true",
        ...(typeof setting === "string" && setting !== "" ? ["--registry", setting] : []),
        ...extra
      ]
      ctx.log(`${tool.short}@${tool.resolved}: npm ${args.join(" ")}`)
      const globalconfig = yield* globalConfigOf(npm, ctx)
      const env = { ...ctx.env, NPM_CONFIG_UPDATE_NOTIFIER: "false", ...(globalconfig !== undefined ? { NPM_CONFIG_GLOBALCONFIG: globalconfig } : {}) }
      yield* provided(run(npm, args, { env })).pipe(
        Effect.mapError((e) => fail({ ...tool, version: tool.resolved }, `npm install failed: ${e.message}`, e))
      )
    })

  const exists = (p: string) => Effect.promise(() => fsp.stat(p).then(() => true, () => false))

  return {
    ...npmInfo,
    listVersions: (tool, ctx) => Effect.map(packumentOf(tool, ctx), packumentVersions),
    resolveVersion: (tool, ctx) =>
      Effect.flatMap(packumentOf(tool, ctx), (p) =>
        resolveNpmVersion(tool.version.replace(/^prefix:/, ""), p, tool.short)),
    requiredCommands: () => [{ command: "npm", hint: NPM_HINT }],
    install,
    // mise: node_modules/.bin and/or bin, else the install root.
    binPaths: (_tool, dir) =>
      Effect.gen(function*() {
        const found: Array<string> = []
        for (const sub of [NodePath.join(dir, "node_modules", ".bin"), NodePath.join(dir, "bin")]) {
          if (yield* exists(sub)) found.push(sub)
        }
        return found.length > 0 ? found : [dir]
      }),
    execEnv: () => Effect.succeed([])
  }
}
