import { CommandExecutor } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { type Backend, DEFAULT_NUGET_INDEX, Downloader, layerDownloader, makeDotnetBackend, nugetFlatUrl, nugetResources, nugetSearchUrl } from "@engine/backends"
import { Effect, Layer, ManagedRuntime } from "effect"
import { execFileSync } from "node:child_process"
import type * as http from "node:http"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { tempDir, testContext, toolsOf, tree } from "./support/Context"
import { startServer, type TestServer } from "./support/Server"

let server: TestServer
let root: string
let standins: string
let runtime: ManagedRuntime.ManagedRuntime<Downloader | CommandExecutor.CommandExecutor, never>
let n = 0

const json = (res: http.ServerResponse, body: unknown) => {
  const text = JSON.stringify(body)
  res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) }).end(text)
}

/** nuget.org's search answer for one package, trimmed to the fields every v3 feed sends. */
const searchHit = (id: string, versions: ReadonlyArray<string>) => ({
  "@id": `${server.url}/registration/${id.toLowerCase()}/index.json`,
  "@type": "Package",
  registration: `${server.url}/registration/${id.toLowerCase()}/index.json`,
  id,
  version: versions[versions.length - 1],
  description: `${id} test tool`,
  totalDownloads: 42,
  verified: false,
  packageTypes: [{ name: "DotnetTool" }],
  versions: versions.map((version) => ({ version, downloads: 1, "@id": `${server.url}/registration/${id.toLowerCase()}/${version}.json` }))
})

/** Search results by query: GitVersion.Tool itself, dotnet-ef ranked below a package whose name contains it. */
const SEARCH: Record<string, ReadonlyArray<ReturnType<typeof searchHit>>> = {}

/**
 * A stand-in `dotnet` that records its argv and env, refuses version 9.9.9 as NuGet would, and otherwise lays
 * out `--tool-path` as `dotnet tool install` does: the command shim and the `.store` of the package.
 */
const writeStandIn = (dir: string, record: string) => {
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(
    path.join(dir, "dotnet"),
    `#!/bin/sh
printf '%s\\n' "$@" > "${record}.argv"
env | sort > "${record}.env"
tool="$3"; toolpath=""; version=""
while [ $# -gt 0 ]; do
  case "$1" in --tool-path) toolpath="$2"; shift ;; --version) version="$2"; shift ;; esac
  shift
done
if [ "$version" = "9.9.9" ]; then echo "error NU1102: Unable to find package $tool with version (= 9.9.9)" >&2; exit 1; fi
lower=$(echo "$tool" | tr 'A-Z' 'a-z')
command=$(echo "$lower" | tr '.' '-')
mkdir -p "$toolpath/.store/$lower/$version/$lower/$version/tools/net8.0/any"
printf '#!/bin/sh\\necho "%s %s"\\n' "$tool" "$version" > "$toolpath/$command"
chmod +x "$toolpath/$command"
echo "You can invoke the tool using the following command: $command"
`,
    { mode: 0o755 }
  )
}

beforeAll(async () => {
  server = await startServer()
  root = tempDir("dotnet")
  standins = path.join(root, "standins")
  writeStandIn(standins, path.join(root, "dotnet-call"))
  runtime = ManagedRuntime.make(Layer.merge(layerDownloader({ retries: 0 }), NodeContext.layer))
  SEARCH["gitversion.tool"] = [searchHit("GitVersion.Tool", ["5.9.0", "5.11.0", "5.12.0", "6.0.0-beta.1", "1.2.3.4"])]
  SEARCH["dotnet-ef"] = [searchHit("dotnet-ef-extensions", ["1.0.0"])]
  server.route("/v3/index.json", JSON.stringify({
    version: "3.0.0",
    resources: [
      { "@id": `${server.url}/query-old`, "@type": "SearchQueryService", comment: "Query endpoint of NuGet Search service" },
      { "@id": `${server.url}/query`, "@type": "SearchQueryService/3.5.0", comment: "Query endpoint of NuGet Search service" },
      { "@id": `${server.url}/flat/`, "@type": "PackageBaseAddress/3.0.0", comment: "Base URL of where NuGet packages are stored" }
    ],
    "@context": { "@vocab": "http://schema.nuget.org/services#", comment: "http://www.w3.org/2000/01/rdf-schema#comment" }
  }))
  server.route("/query", (req, res) => {
    const q = new URL(req.url ?? "/", server.url).searchParams.get("q")?.toLowerCase() ?? ""
    const data = SEARCH[q] ?? []
    json(res, { "@context": { "@vocab": "http://schema.nuget.org/schema#" }, totalHits: data.length, data })
  })
  server.route("/flat/dotnet-ef/index.json", JSON.stringify({ versions: ["8.0.0", "8.0.11", "9.0.0-preview.1.24081.2"] }))
  // A feed without a search service (a plain static feed): versions come from the flat container.
  server.route("/static/index.json", JSON.stringify({ version: "3.0.0", resources: [{ "@id": `${server.url}/flat`, "@type": "PackageBaseAddress/3.0.0" }] }))
  server.route("/garbage/index.json", "{\"resources\": \"none\"}")
})
afterAll(async () => {
  await runtime.dispose()
  await server.close()
  fs.rmSync(root, { recursive: true, force: true })
})

const backend = (): Promise<Backend> =>
  runtime.runPromise(Effect.zipWith(Downloader, CommandExecutor.CommandExecutor, makeDotnetBackend))

const { request, resolved } = toolsOf("dotnet")

const feedContext = (settings: Record<string, unknown> = {}, env: Record<string, string> = {}) =>
  testContext(root, { settings: { "dotnet.registry_url": `${server.url}/v3/index.json`, ...settings }, env: { PATH: `${standins}:/usr/bin:/bin`, ...env } })

const freshDir = () => {
  const dir = path.join(root, `install-${n++}`)
  fs.mkdirSync(dir)
  return dir
}

const run = <A, E>(effect: Effect.Effect<A, E, never>) => runtime.runPromise(effect)
const flip = <A, E>(effect: Effect.Effect<A, E, never>) => runtime.runPromise(Effect.flip(effect))

describe("dotnet backend: the NuGet v3 protocol", () => {
  it("finds mise's search service (3.5.0 first) and the flat container in a service index", () => {
    expect(nugetResources({ resources: [{ "@id": "a", "@type": "SearchQueryService" }, { "@id": "b", "@type": "SearchQueryService/3.5.0" }] }))
      .toEqual({ search: "b" })
    expect(nugetResources({ resources: [{ "@id": "a", "@type": "SearchQueryService" }, { "@id": "f/", "@type": "PackageBaseAddress/3.0.0" }] }))
      .toEqual({ search: "a", flat: "f/" })
    expect(nugetResources({ resources: [] })).toEqual({})
  })

  it("asks as mise does: tools only, pre-releases and SemVer 2 included, one hit; the flat container by lowercase id", () => {
    expect(nugetSearchUrl("https://x/query", "GitVersion.Tool"))
      .toBe("https://x/query?q=GitVersion.Tool&packageType=dotnettool&take=1&prerelease=true&semVerLevel=2.0.0")
    expect(nugetFlatUrl("https://api.nuget.org/v3-flatcontainer/", "GitVersion.Tool")).toBe("https://api.nuget.org/v3-flatcontainer/gitversion.tool/index.json")
    expect(nugetFlatUrl("https://x/flat", "Dotnet-EF")).toBe("https://x/flat/dotnet-ef/index.json")
    expect(DEFAULT_NUGET_INDEX).toBe("https://api.nuget.org/v3/index.json")
  })
})

describe("dotnet backend: versions from a NuGet v3 feed (loopback)", () => {
  it("lists the search hit's versions ascending, whatever the case of the name", async () => {
    const b = await backend()
    expect(await run(b.listVersions(request("gitversion.TOOL"), feedContext()))).toEqual(["1.2.3.4", "5.9.0", "5.11.0", "5.12.0", "6.0.0-beta.1"])
    expect(server.hits("/query-old")).toBe(0)
  })

  it("resolves latest and prefixes to the newest stable version; a full semver is taken as written, a 4-part one is listed", async () => {
    const b = await backend()
    const ctx = feedContext()
    const resolve = (spec: string) => run(b.resolveVersion!(request("GitVersion.Tool", spec), ctx))
    expect(await resolve("latest")).toBe("5.12.0")
    expect(await resolve("5")).toBe("5.12.0")
    expect(await resolve("5.11")).toBe("5.11.0")
    expect(await resolve("1.2.3.4")).toBe("1.2.3.4")
    const hits = server.hits("/query")
    expect(await resolve("7.1.0")).toBe("7.1.0")
    expect(await resolve("6.0.0-beta.1")).toBe("6.0.0-beta.1")
    expect(server.hits("/query")).toBe(hits)
    const e = await flip(b.resolveVersion!(request("GitVersion.Tool", "7"), ctx))
    expect(e.message).toBe("dotnet:GitVersion.Tool@7: no version matches (available: 1.2.3.4, 5.9.0, 5.11.0, 5.12.0, 6.0.0-beta.1)")
  })

  it("takes pre-releases with prerelease = true, the prereleases setting (MISE_PRERELEASES) or the deprecated package flag", async () => {
    const b = await backend()
    const latest = (options: Record<string, string | boolean>, settings: Record<string, unknown> = {}, env: Record<string, string> = {}) =>
      run(b.resolveVersion!(request("GitVersion.Tool", "latest", options), feedContext(settings, env)))
    expect(await latest({ prerelease: true })).toBe("6.0.0-beta.1")
    expect(await latest({ prerelease: "1" })).toBe("6.0.0-beta.1")
    expect(await latest({ prerelease: "false" })).toBe("5.12.0")
    expect(await latest({}, { prereleases: true })).toBe("6.0.0-beta.1")
    expect(await latest({}, {}, { MISE_PRERELEASES: "1" })).toBe("6.0.0-beta.1")
    const ctx = feedContext({ "dotnet.package_flags": ["prerelease"] })
    expect(await run(b.resolveVersion!(request("GitVersion.Tool", "6"), ctx))).toBe("6.0.0-beta.1")
    expect(ctx.warnings).toEqual(["`dotnet.package_flags = [\"prerelease\"]` is deprecated. Use the `prerelease = true` tool option instead."])
  })

  it("falls back to the flat container when the search ranks another package first, or the feed has no search", async () => {
    const b = await backend()
    expect(await run(b.listVersions(request("dotnet-ef"), feedContext()))).toEqual(["8.0.0", "8.0.11", "9.0.0-preview.1.24081.2"])
    const staticFeed = feedContext({ "dotnet.registry_url": `${server.url}/static/index.json` })
    expect(await run(b.listVersions(request("Dotnet-EF"), staticFeed))).toEqual(["8.0.0", "8.0.11", "9.0.0-preview.1.24081.2"])
    expect(await run(b.resolveVersion!(request("dotnet-ef", "latest"), staticFeed))).toBe("8.0.11")
  })

  it("says when no feed has the tool, when the feed is not a NuGet feed, and which setting moves it", async () => {
    const b = await backend()
    const missing = await flip(b.listVersions(request("No.Such.Tool"), feedContext()))
    expect(missing.message).toBe(
      `dotnet:No.Such.Tool@latest: no .NET tool No.Such.Tool was found in the NuGet feed ${server.url}/v3/index.json ` +
        "(set dotnet.registry_url (MISE_DOTNET_REGISTRY_URL) to use another NuGet feed)"
    )
    const garbage = await flip(b.listVersions(request("x"), feedContext({ "dotnet.registry_url": `${server.url}/garbage/index.json` })))
    expect(garbage.message).toMatch(new RegExp(`^dotnet:x@latest: ${server.url}/garbage/index\\.json is not the document expected there`))
    const gone = await flip(b.listVersions(request("x"), feedContext({}, { MISE_DOTNET_REGISTRY_URL: `${server.url}/nope/index.json` })))
    expect(gone.message).toContain(`${server.url}/nope/index.json`)
    expect(gone.message).toContain("HTTP 404")
    expect(gone.message).toContain("set dotnet.registry_url (MISE_DOTNET_REGISTRY_URL) to use another NuGet feed")
  })
})

describe("dotnet backend: dotnet tool install (a stand-in dotnet on PATH)", () => {
  const recorded = () => ({
    argv: fs.readFileSync(path.join(root, "dotnet-call.argv"), "utf8").trimEnd().split("\n"),
    env: fs.readFileSync(path.join(root, "dotnet-call.env"), "utf8").trimEnd().split("\n")
  })

  it("runs mise's command with the feed versions came from, into <install>/bin, which is the tool's only bin path", async () => {
    const b = await backend()
    const ctx = feedContext({ "dotnet.cli_telemetry_optout": true }, { HOME: path.join(root, "home") })
    const dir = freshDir()
    const tool = resolved("GitVersion.Tool", "5.12.0")
    await run(b.install(tool, dir, ctx))
    expect(recorded().argv).toEqual([
      "tool", "install", "GitVersion.Tool", "--tool-path", path.join(dir, "bin"), "--version", "5.12.0", "--add-source", `${server.url}/v3/index.json`
    ])
    // The shell adds PWD; everything else is the build env plus the telemetry choice.
    expect(recorded().env.filter((l) => !l.startsWith("PWD="))).toEqual(["DOTNET_CLI_TELEMETRY_OPTOUT=1", `HOME=${path.join(root, "home")}`, `PATH=${standins}:/usr/bin:/bin`])
    expect(tree(dir)).toEqual([
      "d bin",
      "d bin/.store",
      "d bin/.store/gitversion.tool",
      "d bin/.store/gitversion.tool/5.12.0",
      "d bin/.store/gitversion.tool/5.12.0/gitversion.tool",
      "d bin/.store/gitversion.tool/5.12.0/gitversion.tool/5.12.0",
      "d bin/.store/gitversion.tool/5.12.0/gitversion.tool/5.12.0/tools",
      "d bin/.store/gitversion.tool/5.12.0/gitversion.tool/5.12.0/tools/net8.0",
      "d bin/.store/gitversion.tool/5.12.0/gitversion.tool/5.12.0/tools/net8.0/any",
      "f bin/gitversion-tool 755"
    ])
    expect(await run(b.binPaths(tool, dir, ctx))).toEqual([path.join(dir, "bin")])
    expect(await run(b.execEnv(tool, dir, ctx))).toEqual([])
    expect(execFileSync(path.join(dir, "bin", "gitversion-tool"), { encoding: "utf8" })).toBe("GitVersion.Tool 5.12.0\n")
  })

  it("leaves nuget.org's feed to dotnet's own config, and passes no telemetry choice unless one is set", async () => {
    const b = await backend()
    const ctx = testContext(root, { env: { PATH: `${standins}:/usr/bin:/bin` } })
    const dir = freshDir()
    await run(b.install(resolved("dotnet-ef", "8.0.11"), dir, ctx))
    expect(recorded().argv).toEqual(["tool", "install", "dotnet-ef", "--tool-path", path.join(dir, "bin"), "--version", "8.0.11"])
    expect(recorded().env.some((l) => l.startsWith("DOTNET_CLI_TELEMETRY_OPTOUT="))).toBe(false)
    const explicit = feedContext({ "dotnet.registry_url": DEFAULT_NUGET_INDEX, "dotnet.cli_telemetry_optout": false })
    await run(b.install(resolved("dotnet-ef", "8.0.11"), freshDir(), explicit))
    expect(recorded().argv).not.toContain("--add-source")
    expect(recorded().env).toContain("DOTNET_CLI_TELEMETRY_OPTOUT=0")
  })

  it("reports dotnet's own failure with its stderr", async () => {
    const b = await backend()
    const dir = freshDir()
    const e = await flip(b.install(resolved("GitVersion.Tool", "9.9.9"), dir, feedContext()))
    expect(e.message).toBe(
      `dotnet:GitVersion.Tool@9.9.9: dotnet tool install failed: \`${path.join(standins, "dotnet")} tool install GitVersion.Tool ` +
        `--tool-path ${path.join(dir, "bin")} --version 9.9.9 --add-source ${server.url}/v3/index.json\` exited with code 1:\n` +
        "error NU1102: Unable to find package GitVersion.Tool with version (= 9.9.9)"
    )
  })

  it("explains a missing dotnet: the tool, the spec, how to get it; and declares it for the engine's check before any install", async () => {
    const b = await backend()
    const dir = freshDir()
    const e = await flip(b.install(resolved("GitVersion.Tool", "5.12.0"), dir, feedContext({}, { PATH: "/usr/bin:/bin" })))
    expect(e.message).toBe(
      "dotnet:GitVersion.Tool@5.12.0: dotnet was not found on PATH. The dotnet backend installs .NET tools with the SDK's " +
        "`dotnet tool install`: install the .NET SDK on the build machine (https://dotnet.microsoft.com/download, " +
        "`apt-get install dotnet-sdk-8.0` or `mise use -g dotnet`) and make sure `dotnet` is on PATH."
    )
    expect(tree(dir)).toEqual([])
    expect(b.requiredCommands?.(request("GitVersion.Tool"), feedContext())).toEqual([{
      command: "dotnet",
      hint: "install the .NET SDK on the build machine (https://dotnet.microsoft.com/download, `apt-get install dotnet-sdk-8.0` " +
        "or `mise use -g dotnet`) and make sure `dotnet` is on PATH"
    }])
  })
})
