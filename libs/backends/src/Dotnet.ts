import { CommandExecutor } from "@effect/platform"
import { Effect, Schema } from "effect"
import * as NodePath from "node:path"
import type { Backend, BackendContext, BackendError, RequiredCommand, ResolvedTool, ToolRequest } from "./Backend"
import { fail, flag, installing, makeUpstream, memo, setting } from "./core/CoreTool"
import type { DownloaderShape } from "./Downloader"
import { optionString } from "./Platform"
import { run, which } from "./Process"
import { fuzzyMatchVersions, resolveFromList, sortVersions } from "./Versions"

export const dotnetInfo = {
  id: "dotnet",
  specForm: "dotnet:<Tool.Name>",
  options: ["prerelease"],
  description:
    "Install a .NET tool with the .NET SDK on the build machine (`dotnet tool install --tool-path <install>/bin`); " +
    "versions from the NuGet v3 feed at dotnet.registry_url (MISE_DOTNET_REGISTRY_URL), which installs also use"
} as const

export const DEFAULT_NUGET_INDEX = "https://api.nuget.org/v3/index.json"

const REGISTRY_URL = "dotnet.registry_url"
const REGISTRY_ENV = "MISE_DOTNET_REGISTRY_URL"

const DOTNET_HINT = "install the .NET SDK on the build machine (https://dotnet.microsoft.com/download, " +
  "`apt-get install dotnet-sdk-8.0` or `mise use -g dotnet`) and make sure `dotnet` is on PATH"

const ServiceIndex = Schema.Struct({
  resources: Schema.Array(Schema.Struct({ "@id": Schema.String, "@type": Schema.String }))
})

const SearchResult = Schema.Struct({
  totalHits: Schema.Number,
  data: Schema.Array(Schema.Struct({ id: Schema.String, versions: Schema.Array(Schema.Struct({ version: Schema.String })) }))
})

const FlatContainer = Schema.Struct({ versions: Schema.Array(Schema.String) })

/** The feed's resources mise looks for, by `@type`: the search service it lists from, the flat container beside it. */
export const nugetResources = (index: typeof ServiceIndex.Type): { readonly search?: string; readonly flat?: string } => {
  const find = (...types: ReadonlyArray<string>) => {
    for (const type of types) {
      const found = index.resources.find((r) => r["@type"] === type)
      if (found !== undefined) return found["@id"]
    }
    return undefined
  }
  const search = find("SearchQueryService/3.5.0", "SearchQueryService")
  const flat = find("PackageBaseAddress/3.0.0")
  return { ...(search !== undefined ? { search } : {}), ...(flat !== undefined ? { flat } : {}) }
}

/** mise's search query: tools only, pre-releases and SemVer 2.0.0 versions included (as the dotnet CLI asks). */
export const nugetSearchUrl = (search: string, name: string): string =>
  `${search}?q=${encodeURIComponent(name)}&packageType=dotnettool&take=1&prerelease=true&semVerLevel=2.0.0`

/** The flat container's version list of a package: `<base>/<id-lower>/index.json`. */
export const nugetFlatUrl = (base: string, name: string): string =>
  `${base.endsWith("/") ? base : `${base}/`}${encodeURIComponent(name.toLowerCase())}/index.json`

const TRUE = ["true", "1"]

/** mise's tool option booleans: `true`/`1` (any case, as TOML or a string), anything else is false. */
const optionFlag = (tool: ToolRequest, key: string) => TRUE.includes((optionString(tool.options, key) ?? "").trim().toLowerCase())

/**
 * Whether pre-releases take part in `latest` and prefixes: the global `prereleases` setting, the tool's `prerelease`
 * option, or the deprecated `dotnet.package_flags = ["prerelease"]`.
 */
export const includePrereleases = (tool: ToolRequest, ctx: BackendContext): boolean => {
  if (flag(ctx, "prereleases", "MISE_PRERELEASES") === true) return true
  if (tool.options["prerelease"] !== undefined) return optionFlag(tool, "prerelease")
  const flags = ctx.settings["dotnet.package_flags"]
  if (Array.isArray(flags) && flags.includes("prerelease")) {
    ctx.warn("`dotnet.package_flags = [\"prerelease\"]` is deprecated. Use the `prerelease = true` tool option instead.")
    return true
  }
  return false
}

const SEMVER = /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/

/** The arguments of mise's install, plus the feed versions were listed from when it is not nuget.org's. */
export const dotnetInstallArgs = (tool: ResolvedTool, installDir: string, ctx: BackendContext): ReadonlyArray<string> => {
  const feed = setting(ctx, REGISTRY_URL, REGISTRY_ENV)
  return [
    "tool",
    "install",
    tool.name,
    "--tool-path",
    NodePath.join(installDir, "bin"),
    "--version",
    tool.resolved,
    ...(feed !== undefined && feed !== DEFAULT_NUGET_INDEX ? ["--add-source", feed] : [])
  ]
}

/** The `dotnet` backend, over the given Downloader (the NuGet feed) and the platform's CommandExecutor (dotnet itself). */
export const makeDotnetBackend = (downloader: DownloaderShape, executor: CommandExecutor.CommandExecutor): Backend => {
  const upstream = makeUpstream(downloader)
  const listed = memo<ReadonlyArray<string>>()
  const hint = `set ${REGISTRY_URL} (${REGISTRY_ENV}) to use another NuGet feed`

  const flatVersions = (tool: ToolRequest, base: string) =>
    Effect.map(
      upstream.optionalJson(tool, nugetFlatUrl(base, tool.name), FlatContainer, hint),
      (found) => found?.versions
    )

  const listVersions = (tool: ToolRequest, ctx: BackendContext): Effect.Effect<ReadonlyArray<string>, BackendError> => {
    const feed = setting(ctx, REGISTRY_URL, REGISTRY_ENV) ?? DEFAULT_NUGET_INDEX
    return listed(`${feed} ${tool.name.toLowerCase()}`, Effect.gen(function*() {
      const resources = nugetResources(yield* upstream.json(tool, feed, ServiceIndex, hint))
      if (resources.search === undefined && resources.flat === undefined) {
        return yield* fail(tool, `the NuGet feed ${feed} lists neither a SearchQueryService nor a PackageBaseAddress/3.0.0 resource (${hint})`)
      }
      if (resources.search !== undefined) {
        const result = yield* upstream.json(tool, nugetSearchUrl(resources.search, tool.name), SearchResult, hint)
        const hit = result.data[0]
        // A search ranks by relevance: the first hit may be another package whose name contains this one.
        if (hit !== undefined && hit.id.toLowerCase() === tool.name.toLowerCase()) {
          return sortVersions(hit.versions.map((v) => v.version))
        }
      }
      const flat = resources.flat !== undefined ? yield* flatVersions(tool, resources.flat) : undefined
      if (flat !== undefined && flat.length > 0) return sortVersions(flat)
      return yield* fail(tool, `no .NET tool ${tool.name} was found in the NuGet feed ${feed} (${hint})`)
    }))
  }

  const resolveVersion = (tool: ToolRequest, ctx: BackendContext): Effect.Effect<string, BackendError> => {
    const spec = tool.version.replace(/^prefix:/, "")
    // mise: a full semver is exact (`dotnet tool install --version` fails if it does not exist); 4-part NuGet versions list.
    if (SEMVER.test(spec)) return Effect.succeed(spec)
    return Effect.flatMap(listVersions(tool, ctx), (versions) => {
      if (!includePrereleases(tool, ctx)) return resolveFromList(spec, versions, tool.short)
      const found = versions.includes(spec) ? spec : fuzzyMatchVersions(versions, spec, false).at(-1)
      return found !== undefined ? Effect.succeed(found) : resolveFromList(spec, versions, tool.short)
    })
  }

  const install = (tool: ResolvedTool, dir: string, ctx: BackendContext) =>
    Effect.gen(function*() {
      const request = installing(tool)
      const dotnet = yield* which("dotnet", ctx.env)
      if (dotnet === undefined) {
        return yield* fail(request, `dotnet was not found on PATH. The dotnet backend installs .NET tools with the SDK's \`dotnet tool install\`: ${DOTNET_HINT}.`)
      }
      const args = dotnetInstallArgs(tool, dir, ctx)
      const optout = flag(ctx, "dotnet.cli_telemetry_optout", "MISE_DOTNET_CLI_TELEMETRY_OPTOUT")
      const env = { ...ctx.env, ...(optout !== undefined ? { DOTNET_CLI_TELEMETRY_OPTOUT: optout ? "1" : "0" } : {}) }
      ctx.log(`${tool.short}@${tool.resolved}: dotnet ${args.join(" ")}`)
      yield* run(dotnet, args, { env }).pipe(
        Effect.provideService(CommandExecutor.CommandExecutor, executor),
        Effect.mapError((e) => fail(request, `dotnet tool install failed: ${e.message}`, e))
      )
    })

  return {
    ...dotnetInfo,
    listVersions,
    resolveVersion,
    requiredCommands: (): ReadonlyArray<RequiredCommand> => [{ command: "dotnet", hint: DOTNET_HINT }],
    install,
    binPaths: (_tool, dir) => Effect.succeed([NodePath.join(dir, "bin")]),
    execEnv: () => Effect.succeed([])
  }
}
