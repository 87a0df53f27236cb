import { CommandExecutor } from "@effect/platform"
import { Effect, Schema } from "effect"
import * as fsp from "node:fs/promises"
import * as os from "node:os"
import * as NodePath from "node:path"
import type { Backend, BackendContext, BackendError, RequiredCommand, ResolvedTool, ToolRequest } from "./Backend"
import { fail, flag, installing, makeUpstream, memo, setting } from "./core/CoreTool"
import type { DownloaderShape } from "./Downloader"
import { splitArgs } from "./Npm"
import { optionString } from "./Platform"
import { run, which } from "./Process"
import { isPrerelease, resolveFromList, sortVersions } from "./Versions"

export const pipxInfo = {
  id: "pipx",
  specForm: "pipx:<package|owner/repo>",
  options: ["extras", "package_name", "registry_url", "pipx_args", "uvx_args", "uvx"],
  description:
    "Install a Python CLI in its own venv with `uv tool install` (uv on PATH) or the real pipx; versions from PyPI's " +
    "JSON API or a simple index (setting pipx.registry_url, else pip's index-url); also pipx:git+<url>.git"
} as const

export const DEFAULT_PIPX_REGISTRY = "https://pypi.org/pypi/{}/json"

const REGISTRY = "pipx.registry_url"

/** What a `pipx:` name asks for: a PyPI package, or a git repository (`owner/repo` is on GitHub). */
export type PipxSource = { readonly kind: "pypi"; readonly pkg: string } | { readonly kind: "git"; readonly url: string }

export const pipxSource = (name: string): PipxSource => {
  const git = /git\+(.*)\.git/.exec(name)
  if (git !== null) return { kind: "git", url: git[1]! }
  if (name.includes("/")) return { kind: "git", url: `https://github.com/${name}` }
  return { kind: "pypi", pkg: name }
}

/** PEP 503 name normalization: `Foo.Bar_baz` → `foo-bar-baz`. */
export const normalizePackageName = (name: string): string => name.replace(/[-_.]+/g, "-").toLowerCase()

/** mise's PEP 440 pre-release test (`3.12.0a1`, `1.0rc2`, `2.0b1`), on top of the shared `-rc`/`.dev` one. */
export const isPep440Prerelease = (version: string): boolean =>
  /[0-9](?:a|b|c|rc)[0-9]+(?:$|[^a-z0-9])/i.test(version) || isPrerelease(version)

/** The version in a wheel or sdist file name of `pkg`, as a simple index lists them. */
export const versionFromDistribution = (pkg: string, file: string): string | undefined => {
  const wanted = normalizePackageName(pkg)
  if (file.endsWith(".whl")) {
    const fields = file.slice(0, -4).split("-")
    return (fields.length === 5 || fields.length === 6) && normalizePackageName(fields[0]!) === wanted ? fields[1] : undefined
  }
  if (!file.endsWith(".tar.gz")) return undefined
  const stem = file.slice(0, -7)
  for (let i = stem.indexOf("-"); i >= 0; i = stem.indexOf("-", i + 1)) {
    if (normalizePackageName(stem.slice(0, i)) === wanted) return stem.slice(i + 1)
  }
  return undefined
}

/** The versions a PEP 503 simple page links to. */
export const simpleIndexVersions = (pkg: string, html: string): ReadonlyArray<string> => {
  const versions: Array<string> = []
  for (const m of html.matchAll(/href\s*=\s*["']([^"']+)["']/gi)) {
    const file = m[1]!.split(/[?#]/)[0]!.split("/").at(-1)!
    let name = file
    try {
      name = decodeURIComponent(file)
    } catch {
      // A malformed escape is just not a distribution file.
    }
    const version = versionFromDistribution(pkg, name)
    if (version !== undefined) versions.push(version)
  }
  return sortVersions(versions)
}

const PypiProject = Schema.Struct({
  releases: Schema.Record({
    key: Schema.String,
    value: Schema.Array(Schema.Struct({ yanked: Schema.optional(Schema.NullOr(Schema.Union(Schema.Boolean, Schema.String))) }))
  })
})

/** Releases with at least one file not yanked (a yanked file says so with `true` or a reason). */
export const pypiVersions = (project: typeof PypiProject.Type): ReadonlyArray<string> =>
  sortVersions(
    Object.entries(project.releases)
      .filter(([, files]) => files.some((f) => f.yanked === undefined || f.yanked === null || f.yanked === false))
      .map(([v]) => v)
  )

/**
 * mise's `get_index_url`: the pip/uv index a registry URL stands for (`…/pypi/{}/json` → `…/simple`); the `//` mise
 * leaves where `{}` was (`…/api/{}/json` → `…/api//simple`) is collapsed.
 */
export const indexUrlOfRegistry = (registry: string): string => {
  const url = registry.replace("{}", "").replace(/\/+$/, "")
  if (/\/pypi\/[^/]*\/(?:json|simple)$/.test(url)) return url.replace(/\/pypi\/[^/]*\/(?:json|simple)$/, "/simple")
  if (url.endsWith("/json")) return `${url.slice(0, -5).replace(/\/+$/, "")}/simple`
  if (url.endsWith("/simple")) return url
  return `${url}/simple`
}

/** `index-url` from pip.conf text: `[global]` and `[install]` values, for pip's own merge. */
const pipConfValues = (text: string) => {
  const found: { global?: string; install?: string } = {}
  let section = ""
  for (const line of text.split(/\r?\n/)) {
    const header = /^\s*\[([^\]]+)\]/.exec(line)
    if (header !== null) {
      section = header[1]!.trim().toLowerCase()
      continue
    }
    const m = /^\s*index[-_]url\s*[=:]\s*(\S+)/i.exec(line)
    if (m !== null && (section === "global" || section === "install")) found[section] = m[1]!
  }
  return found
}

/**
 * The index pip would install from: PIP_INDEX_URL, else `index-url` in pip's config files (global, user, site and
 * PIP_CONFIG_FILE, later ones winning, `[install]` over `[global]`), else undefined (PyPI).
 */
export const pipIndexUrl = (env: BackendContext["env"]): Effect.Effect<string | undefined> =>
  Effect.promise(async () => {
    if (env.PIP_INDEX_URL !== undefined && env.PIP_INDEX_URL !== "") return env.PIP_INDEX_URL
    const home = env.HOME ?? os.homedir()
    const configFile = env.PIP_CONFIG_FILE
    if (configFile === os.devNull) return undefined
    const exists = async (p: string) => fsp.stat(p).then(() => true, () => false)
    const xdgDirs = (env.XDG_CONFIG_DIRS ?? "/etc/xdg").split(":").filter((d) => d !== "")
    const files = [
      ...xdgDirs.map((d) => NodePath.join(d, "pip", "pip.conf")),
      "/etc/pip.conf",
      ...(configFile !== undefined && (await exists(configFile))
        ? []
        : [NodePath.join(home, ".pip", "pip.conf"), NodePath.join(env.XDG_CONFIG_HOME ?? NodePath.join(home, ".config"), "pip", "pip.conf")]),
      ...(env.VIRTUAL_ENV !== undefined ? [NodePath.join(env.VIRTUAL_ENV, "pip.conf")] : []),
      ...(configFile !== undefined ? [configFile] : [])
    ]
    let global: string | undefined
    let install: string | undefined
    for (const file of files) {
      const values = pipConfValues(await fsp.readFile(file, "utf8").catch(() => ""))
      global = values.global ?? global
      install = values.install ?? install
    }
    return install ?? global
  })

const commaJoined = (tool: ToolRequest, key: string): string | undefined => {
  const value = tool.options[key]
  return Array.isArray(value) ? (value.length > 0 ? value.join(",") : undefined) : optionString(tool.options, key)
}

/** The requirement handed to pipx or uv, as mise writes it (`black[jupyter]==24.3.0`, `git+…@v1#egg=pkg[x]`). */
export const pipxRequirement = (tool: ToolRequest, version: string, installer: "uv" | "pipx"): string => {
  const source = pipxSource(tool.name)
  const extras = commaJoined(tool, "extras")
  const bracket = extras !== undefined ? `[${extras}]` : ""
  if (source.kind === "pypi") return version === "latest" ? `${source.pkg}${bracket}` : `${source.pkg}${bracket}==${version}`
  const git = version === "latest" ? `git+${source.url}.git` : `git+${source.url}.git@${version}`
  if (bracket === "") return git
  const pkg = optionString(tool.options, "package_name") ?? source.url.split("/").at(-1)!
  return installer === "uv" ? `${pkg}${bracket} @ ${git}` : `${git}#egg=${pkg}${bracket}`
}

const PIPX_HINT = "install pipx (`apt-get install pipx`, `pip install --user pipx` or `mise use -g pipx`)"
const UV_HINT = " or uv (`mise use -g uv`, then `uv tool install` is used)"

/** uv is not used when the tool's `uvx = false` or the `pipx.uvx` setting is false. */
const uvDisabledFor = (tool: ToolRequest, ctx: BackendContext): boolean =>
  optionString(tool.options, "uvx") === "false" || flag(ctx, "pipx.uvx", "MISE_PIPX_UVX") === false

/** The `pipx` backend, over the given Downloader (index metadata) and the platform's CommandExecutor (uv or pipx). */
export const makePipxBackend = (downloader: DownloaderShape, executor: CommandExecutor.CommandExecutor): Backend => {
  const upstream = makeUpstream(downloader)
  const lists = memo<ReadonlyArray<string>>()

  const provided = <A, E>(effect: Effect.Effect<A, E, CommandExecutor.CommandExecutor>) =>
    Effect.provideService(effect, CommandExecutor.CommandExecutor, executor)

  /** The index to install from: the `pipx.registry_url` setting's (as mise derives it), else pip's own; undefined is PyPI. */
  const installIndex = (ctx: BackendContext) =>
    Effect.gen(function*() {
      const registry = setting(ctx, REGISTRY, "MISE_PIPX_REGISTRY_URL")
      return registry !== undefined ? indexUrlOfRegistry(registry) : yield* pipIndexUrl(ctx.env)
    })

  /** The versions URL template: tool option `registry_url`, setting `pipx.registry_url`, pip's index, PyPI's JSON API. */
  const registryFor = (tool: ToolRequest, ctx: BackendContext) =>
    Effect.gen(function*() {
      const option = optionString(tool.options, "registry_url")
      const set = setting(ctx, REGISTRY, "MISE_PIPX_REGISTRY_URL")
      const pip = option === undefined && set === undefined ? yield* pipIndexUrl(ctx.env) : undefined
      const template = option ?? set ?? (pip !== undefined ? `${pip.replace(/\/+$/, "")}/{}/` : DEFAULT_PIPX_REGISTRY)
      const hint = option !== undefined
        ? "the URL is the tool's registry_url option"
        : set !== undefined
        ? `the URL is set by ${REGISTRY}`
        : pip !== undefined
        ? "the URL is pip's index-url; set pipx.registry_url to choose another"
        : `set ${REGISTRY} to use a mirror`
      if (!/^https?:\/\/.*\{\}/.test(template)) {
        return yield* fail(tool, `registry URL ${template} must be an http(s) URL with a {} placeholder for the package name (${hint})`)
      }
      return { template, hint }
    })

  const listVersions = (tool: ToolRequest, ctx: BackendContext): Effect.Effect<ReadonlyArray<string>, BackendError> =>
    Effect.gen(function*() {
      const source = pipxSource(tool.name)
      // mise lists GitHub releases for git sources; here a git source takes its version as written.
      if (source.kind === "git") return []
      const registry = yield* registryFor(tool, ctx)
      const json = registry.template.includes("/json")
      const url = registry.template.replace("{}", json ? source.pkg : normalizePackageName(source.pkg))
      return yield* lists(url, Effect.gen(function*() {
        const body = yield* upstream.optionalText(tool, url, registry.hint)
        if (body === undefined) return yield* fail(tool, `package ${source.pkg} was not found in the index (${url}: HTTP 404)`)
        if (!json) return simpleIndexVersions(source.pkg, body)
        const project = yield* Schema.decodeUnknown(Schema.parseJson(PypiProject))(body).pipe(
          Effect.mapError((e) => fail(tool, `${url} is not a PyPI JSON project document (${registry.hint}): ${e.message.split("\n")[0]}`, e))
        )
        return pypiVersions(project)
      }))
    })

  const resolveVersion = (tool: ToolRequest, ctx: BackendContext): Effect.Effect<string, BackendError> => {
    const spec = tool.version.replace(/^prefix:/, "")
    if (pipxSource(tool.name).kind === "git") return Effect.succeed(spec)
    return Effect.gen(function*() {
      // Surface a malformed registry setting even when the version is exact, as mise does.
      yield* registryFor(tool, ctx)
      if (/^\d+\.\d+\.\d+$/.test(spec)) return spec
      const versions = yield* listVersions(tool, ctx)
      const stable = versions.filter((v) => v === spec || !isPep440Prerelease(v))
      return yield* resolveFromList(spec, stable.length > 0 ? stable : versions, tool.short)
    })
  }

  const install = (tool: ResolvedTool, dir: string, ctx: BackendContext) =>
    Effect.gen(function*() {
      const request = installing(tool)
      const bin = NodePath.join(dir, "bin")
      const path = [bin, ctx.env.PATH].filter((p) => p !== undefined && p !== "").join(NodePath.delimiter)
      const index = yield* installIndex(ctx)
      const uvDisabled = uvDisabledFor(tool, ctx)
      const uv = uvDisabled ? undefined : yield* which("uv", ctx.env)
      if (uv !== undefined) {
        const args = ["tool", "install", pipxRequirement(tool, tool.resolved, "uv"), ...splitArgs(optionString(tool.options, "uvx_args") ?? "")]
        const env = {
          ...ctx.env,
          PATH: path,
          UV_TOOL_DIR: dir,
          UV_TOOL_BIN_DIR: bin,
          // Like pip's index-url: this index replaces PyPI rather than joining it.
          ...(index !== undefined ? { UV_DEFAULT_INDEX: index } : {})
        }
        ctx.log(`${tool.short}@${tool.resolved}: uv ${args.join(" ")}`)
        return yield* provided(run(uv, args, { env })).pipe(
          Effect.asVoid,
          Effect.mapError((e) => fail(request, `uv tool install failed: ${e.message}`, e))
        )
      }
      const pipx = yield* which("pipx", ctx.env)
      if (pipx === undefined) {
        const why = uvDisabled
          ? "pipx was not found on PATH, and uv may not be used for this tool (`uvx = false` or the pipx.uvx setting)"
          : "neither uv nor pipx was found on PATH"
        return yield* fail(
          request,
          `${why}. The pipx backend installs with the real tools: ${PIPX_HINT}${uvDisabled ? "" : UV_HINT}, and make sure it is on PATH.`
        )
      }
      const args = ["install", pipxRequirement(tool, tool.resolved, "pipx"), ...splitArgs(optionString(tool.options, "pipx_args") ?? "")]
      const { PIPX_SHARED_LIBS: _shared, ...inherited } = ctx.env
      const env = {
        ...inherited,
        PATH: path,
        // pipx 1.12+ would pick uv by itself; pipx_args are pip's.
        PIPX_DEFAULT_BACKEND: "pip",
        PIPX_HOME: dir,
        PIPX_BIN_DIR: bin,
        // Newer pipx links man pages into ~/.local/share/man; keep them in the install dir.
        PIPX_MAN_DIR: NodePath.join(dir, "share", "man"),
        ...(index !== undefined ? { PIP_INDEX_URL: index } : {})
      }
      ctx.log(`${tool.short}@${tool.resolved}: pipx ${args.join(" ")}`)
      yield* provided(run(pipx, args, { env })).pipe(
        Effect.mapError((e) => fail(request, `pipx install failed: ${e.message}`, e))
      )
    })

  return {
    ...pipxInfo,
    listVersions,
    resolveVersion,
    requiredCommands: (tool, ctx): ReadonlyArray<RequiredCommand> =>
      uvDisabledFor(tool, ctx)
        ? [{ command: "pipx", hint: `${PIPX_HINT} (uv is not used: \`uvx = false\` or the pipx.uvx setting)` }]
        : [{ command: "pipx", alternatives: ["uv"], hint: `${PIPX_HINT}${UV_HINT}` }],
    install,
    binPaths: (_tool, dir) => Effect.succeed([NodePath.join(dir, "bin")]),
    execEnv: () => Effect.succeed([])
  }
}
