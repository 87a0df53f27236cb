import {
  type Backend,
  type BackendContext,
  Downloader,
  githubForge,
  githubInfo,
  layerDownloader,
  makeForgeBackend,
  makeGitHubBackend,
  type ResolvedTool,
  type ToolRequest,
  versionDirName
} from "@engine/backends"
import { Effect, ManagedRuntime } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { tempDir, testContext, tree } from "./support/Context"
import { tarGz } from "./support/Fixtures"
import { type FixtureAsset, serveError, serveGitHub, sha256, toolScript, toolTarGz, typicalAssets } from "./support/Forges"
import { startServer, type TestServer } from "./support/Server"

let server: TestServer
let root: string
let api: string
let runtime: ManagedRuntime.ManagedRuntime<Downloader, never>
let n = 0

beforeAll(async () => {
  server = await startServer()
  root = tempDir("github")
  api = `${server.url}/api/v3`
  runtime = ManagedRuntime.make(layerDownloader({ retries: 1, retryBaseDelayMs: 5 }))
  // As GitHub lists them: newest first. A draft (visible to maintainers), a pre-release, a release marked
  // pre-release whose tag looks stable, then three full releases; two per page makes three pages.
  serveGitHub(server, {
    base: "/api/v3",
    repo: "acme/hello",
    pageSize: 2,
    latest: true,
    releases: [
      { tag: "v3.0.0", draft: true, assets: await typicalAssets("hello", "3.0.0") },
      { tag: "v2.0.0-rc.1", prerelease: true, assets: await typicalAssets("hello", "2.0.0-rc.1") },
      { tag: "v1.2.0", prerelease: true, assets: await typicalAssets("hello", "1.2.0") },
      { tag: "v1.1.0", assets: await typicalAssets("hello", "1.1.0") },
      { tag: "v1.0.0", assets: await typicalAssets("hello", "1.0.0") },
      { tag: "v0.9.0", assets: await typicalAssets("hello", "0.9.0") }
    ]
  })
  // A backport (1.0.5) published after 1.1.0: GitHub marks the newest by date "Latest", not the highest version.
  serveGitHub(server, {
    base: "/api/v3",
    repo: "acme/backport",
    pageSize: 100,
    latest: true,
    releases: [
      { tag: "v1.0.5", assets: [] },
      { tag: "v1.1.0", assets: [] },
      { tag: "v1.0.0", assets: [] }
    ]
  })
  // The same releases without a /releases/latest endpoint answer (as for a repository with only pre-releases).
  serveGitHub(server, {
    base: "/api/v3",
    repo: "acme/nolatest",
    pageSize: 100,
    releases: [
      { tag: "v1.2.0", prerelease: true, assets: [] },
      { tag: "v1.1.0", assets: [] },
      { tag: "v1.0.0", assets: [] }
    ]
  })
  serveGitHub(server, {
    base: "/api/v3",
    repo: "acme/mono",
    pageSize: 100,
    releases: [
      { tag: "hello-v1.1.0", assets: await typicalAssets("hello", "1.1.0") },
      { tag: "other-v5.0.0", assets: await typicalAssets("other", "5.0.0") },
      { tag: "hello-v1.0.0", assets: await typicalAssets("hello", "1.0.0") }
    ]
  })
  const good = await toolTarGz("hello", "1.0.0", "linux-x64-gnu")
  serveGitHub(server, {
    base: "/api/v3",
    repo: "acme/tampered",
    pageSize: 100,
    releases: [{
      tag: "v1.0.0",
      assets: [
        { name: "hello-1.0.0-linux-amd64.tar.gz", body: good },
        { name: "hello-1.0.0-linux-amd64.tar.gz.sha256", body: Buffer.from(`${"0".repeat(64)}  hello-1.0.0-linux-amd64.tar.gz\n`) }
      ]
    }]
  })
  serveGitHub(server, {
    base: "/api/v3",
    repo: "acme/digest",
    pageSize: 100,
    releases: [
      { tag: "v1.0.0", assets: [{ name: "hello-linux-x86_64.tar.gz", body: good, digest: `sha256:${"1".repeat(64)}` }] },
      { tag: "v0.9.0", assets: [{ name: "hello-linux-x86_64.tar.gz", body: good, digest: true }] }
    ]
  })
  serveGitHub(server, {
    base: "/api/v3",
    repo: "acme/maconly",
    pageSize: 100,
    releases: [{
      tag: "v1.0.0",
      assets: [
        { name: "hello-darwin-arm64.tar.gz", body: good },
        { name: "hello-darwin-arm64.tar.gz.sha256", body: Buffer.from(sha256(good)) },
        { name: "hello-windows-amd64.zip", body: good },
        { name: "hello-linux-arm64.tar.gz", body: good }
      ]
    }]
  })
  // Assets on another host than the API (github.com's downloads vs api.github.com): `localhost` vs `127.0.0.1`.
  serveGitHub(server, {
    base: "/api/v3",
    repo: "acme/elsewhere",
    pageSize: 100,
    downloadOrigin: server.url.replace("127.0.0.1", "localhost"),
    releases: [{ tag: "v1.0.0", assets: [{ name: "hello-linux-amd64.tar.gz", body: good }] }]
  })
  serveGitHub(server, {
    base: "/api/v3",
    repo: "acme/flat",
    pageSize: 100,
    releases: [{
      tag: "v1.0.0",
      assets: [
        {
          name: "flat-1.0.0-linux-amd64.tar.gz",
          body: await tarGz([
            { name: "flat-1.0.0/LICENSE", content: "MIT\n" },
            { name: "flat-1.0.0/flat", content: toolScript("flat", "1.0.0", "x64"), mode: 0o755 }
          ])
        },
        { name: "jq-linux-amd64", body: Buffer.from(toolScript("jq", "1.0.0", "x64")) },
        { name: "jq-linux-arm64", body: Buffer.from(toolScript("jq", "1.0.0", "arm64")) }
      ]
    }]
  })
  // Private repositories: bytes only through the API's asset URL with the token, stored on another host.
  const secret = async (tool: string): Promise<ReadonlyArray<FixtureAsset>> => {
    const body = await toolTarGz(tool, "1.0.0", "private")
    const name = `${tool}-1.0.0-linux-amd64.tar.gz`
    return [{ name, body }, { name: `${name}.sha256`, body: Buffer.from(`${sha256(body)}  ${name}\n`) }]
  }
  for (const repo of ["acme/secret", "acme/sso"]) {
    serveGitHub(server, {
      base: "/api/v3",
      repo,
      pageSize: 100,
      privateToken: "ghp_secret",
      storageOrigin: server.url.replace("127.0.0.1", "localhost"),
      releases: [{ tag: "v1.0.0", assets: await secret(repo.split("/")[1]!) }]
    })
  }
  // A single sign-on organisation answers a browser URL with its login page.
  for (const name of ["sso-1.0.0-linux-amd64.tar.gz", "sso-1.0.0-linux-amd64.tar.gz.sha256"]) {
    server.route(`/acme/sso/releases/download/v1.0.0/${name}`, (_req, res) => res.writeHead(200, { "content-type": "Text/HTML; charset=utf-8" }).end("<html>Sign in</html>"))
  }
  serveError(server, "/api/v3/repos/acme/limited/releases", 403, "API rate limit exceeded for 127.0.0.1. (But here's the good news: ...)", {
    "x-ratelimit-limit": "60",
    "x-ratelimit-remaining": "0",
    "x-ratelimit-reset": "1700000000"
  })
  serveError(server, "/api/v3/repos/acme/secondary/releases", 429, "You have exceeded a secondary rate limit.", { "retry-after": "60" })
  serveError(server, "/api/v3/repos/acme/nope/releases", 404, "Not Found")
})

afterAll(async () => {
  await runtime.dispose()
  await server.close()
  fs.rmSync(root, { recursive: true, force: true })
})

const backend = () => runtime.runPromise(Effect.map(Downloader, makeGitHubBackend))
const ctx = (overrides: Partial<BackendContext> = {}) => testContext(root, { env: {}, ...overrides })
const tool = (name: string, version = "latest", options: ToolRequest["options"] = {}): ToolRequest => ({
  short: `github:${name}`,
  backend: "github",
  name,
  version,
  options: { api_url: api, ...options }
})
const resolved = (t: ToolRequest, version: string): ResolvedTool => ({ ...t, resolved: version, versionDir: versionDirName(version) })

const run = <A, E>(effect: Effect.Effect<A, E>) => runtime.runPromise(effect)
const flip = <A, E>(effect: Effect.Effect<A, E>) => runtime.runPromise(Effect.flip(effect))

const install = async (b: Backend, t: ResolvedTool, c = ctx()) => {
  const dir = path.join(root, `install-${n++}`)
  fs.mkdirSync(dir)
  await run(b.install(t, dir, c))
  const bins = await run(b.binPaths(t, dir, c))
  return { dir, tree: tree(dir), bins: bins.map((p) => path.relative(dir, p) || ".") }
}
const installError = async (b: Backend, t: ResolvedTool, c = ctx()) => {
  const dir = path.join(root, `install-${n++}`)
  fs.mkdirSync(dir)
  const e = await flip(b.install(t, dir, c))
  return { e, tree: tree(dir) }
}

describe("github backend: versions", () => {
  it("lists every page (Link rel=\"next\"), tags without their v, drafts left out", async () => {
    const before = server.hits("/api/v3/repos/acme/hello/releases")
    const versions = await run((await backend()).listVersions(tool("acme/hello"), ctx()))
    expect(versions).toEqual(["0.9.0", "1.0.0", "1.1.0", "1.2.0", "2.0.0-rc.1"])
    expect(server.hits("/api/v3/repos/acme/hello/releases") - before).toBe(3)
  })

  it("resolves latest with /releases/latest: a release marked pre-release is skipped though its tag looks stable", async () => {
    const b = await backend()
    const list = server.hits("/api/v3/repos/acme/hello/releases")
    expect(await run(b.resolveVersion!(tool("acme/hello"), ctx()))).toBe("1.1.0")
    // One request answers `latest`: the list is not needed.
    expect(server.hits("/api/v3/repos/acme/hello/releases")).toBe(list)
    expect(server.hits("/api/v3/repos/acme/hello/releases/latest")).toBeGreaterThan(0)
  })

  it("latest is the release GitHub marks Latest, even a backport below the highest version, as mise resolves it", async () => {
    const b = await backend()
    expect(await run(b.resolveVersion!(tool("acme/backport"), ctx()))).toBe("1.0.5")
    expect(await run(b.resolveVersion!(tool("acme/backport", "1"), ctx()))).toBe("1.1.0")
  })

  it("without a /releases/latest answer, latest is the newest release neither marked nor named a pre-release", async () => {
    expect(await run((await backend()).resolveVersion!(tool("acme/nolatest"), ctx()))).toBe("1.1.0")
  })

  it("resolves a prefix to its newest stable release, and an exact version as written", async () => {
    const b = await backend()
    const resolve = (v: string) => run(b.resolveVersion!(tool("acme/hello", v), ctx()))
    expect(await resolve("1")).toBe("1.1.0")
    expect(await resolve("1.0")).toBe("1.0.0")
    expect(await resolve("0")).toBe("0.9.0")
    // Only the marked pre-release matches: it is taken rather than failing.
    expect(await resolve("1.2")).toBe("1.2.0")
    expect(await resolve("2.0.0-rc.1")).toBe("2.0.0-rc.1")
    const e = await flip(b.resolveVersion!(tool("acme/hello", "9"), ctx()))
    expect(e.message).toBe("github:acme/hello@9: no version matches (available: 0.9.0, 1.0.0, 1.1.0, 1.2.0, 2.0.0-rc.1)")
  })

  it("with version_prefix, only tags carrying it are versions, and the prefix is what is removed", async () => {
    const b = await backend()
    const t = tool("acme/mono", "latest", { version_prefix: "hello-v" })
    expect(await run(b.listVersions(t, ctx()))).toEqual(["1.0.0", "1.1.0"])
    expect(await run(b.resolveVersion!(t, ctx()))).toBe("1.1.0")
    const out = await install(await backend(), resolved(t, "1.0.0"))
    expect(execFileSync(path.join(out.dir, "bin", "hello"), { encoding: "utf8" })).toBe("hello 1.0.0 linux-x64-gnu\n")
    expect(server.hits("/api/v3/repos/acme/mono/releases/tags/hello-v1.0.0")).toBe(1)
  })
})

describe("github backend: install", () => {
  it("picks the linux x86_64 gnu archive over musl, verifies its .sha256, strips its directory, and the tool runs", async () => {
    const b = await backend()
    const t = resolved(tool("acme/hello", "1"), "1.1.0")
    const out = await install(b, t)
    expect(out.tree).toEqual(["f README.md 644", "d bin", "f bin/hello 755"])
    expect(out.bins).toEqual(["bin"])
    expect(execFileSync(path.join(out.dir, "bin", "hello"), { encoding: "utf8" })).toBe("hello 1.1.0 linux-x64-gnu\n")
    expect(server.hits("/acme/hello/releases/download/v1.1.0/hello-1.1.0-x86_64-unknown-linux-gnu.tar.gz.sha256")).toBe(1)
    expect(server.hits("/acme/hello/releases/download/v1.1.0/hello-1.1.0-x86_64-unknown-linux-musl.tar.gz")).toBe(0)
    expect(fs.existsSync(path.join(root, "downloads", "github-acme-hello", "1.1.0"))).toBe(false)
  })

  it("picks the aarch64 build for an arm64 image", async () => {
    const out = await install(await backend(), resolved(tool("acme/hello"), "1.0.0"), ctx({ platform: { os: "linux", arch: "arm64" } }))
    expect(execFileSync("sh", [path.join(out.dir, "bin", "hello")], { encoding: "utf8" })).toBe("hello 1.0.0 linux-arm64-gnu\n")
  })

  it("installs a pinned version from /releases/tags/v<version> without listing releases", async () => {
    const list = server.hits("/api/v3/repos/acme/hello/releases")
    const out = await install(await backend(), resolved(tool("acme/hello", "0.9.0"), "0.9.0"))
    expect(execFileSync(path.join(out.dir, "bin", "hello"), { encoding: "utf8" })).toBe("hello 0.9.0 linux-x64-gnu\n")
    expect(server.hits("/api/v3/repos/acme/hello/releases")).toBe(list)
    expect(server.hits("/api/v3/repos/acme/hello/releases/tags/v0.9.0")).toBe(1)
  })

  it("takes asset_pattern (templated, a glob) over autodetection, and bin_path over discovery", async () => {
    const b = await backend()
    const musl = await install(b, resolved(tool("acme/hello", "1.0.0", { asset_pattern: "hello-{{ version }}-x86_64-*-musl.tar.gz" }), "1.0.0"))
    expect(execFileSync(path.join(musl.dir, "bin", "hello"), { encoding: "utf8" })).toBe("hello 1.0.0 linux-x64-musl\n")
    const kept = await install(b, resolved(tool("acme/hello", "1.0.0", { bin_path: "hello-{{ version }}/bin" }), "1.0.0"))
    expect(kept.tree[0]).toBe("d hello-1.0.0")
    expect(kept.bins).toEqual(["hello-1.0.0/bin"])
    const e = await installError(b, resolved(tool("acme/hello", "1.0.0", { asset_pattern: "*.deb" }), "1.0.0"))
    expect(e.e.message).toContain(`github:acme/hello@1.0.0: no asset of release v1.0.0 matches asset_pattern "*.deb" (its assets: hello-1.0.0-x86_64-unknown-linux-musl.tar.gz, `)
  })

  it("finds bin paths as mise does: the root when it holds the executable, else the top-level dirs that do", async () => {
    const b = await backend()
    const stripped = await install(b, resolved(tool("acme/flat", "1.0.0"), "1.0.0"))
    expect(stripped.tree).toEqual(["f LICENSE 644", "f flat 755"])
    expect(stripped.bins).toEqual(["."])
    const kept = await install(b, resolved(tool("acme/flat", "1.0.0", { strip_components: 0 }), "1.0.0"))
    expect(kept.bins).toEqual(["flat-1.0.0"])
    expect(execFileSync(path.join(kept.dir, kept.bins[0]!, "flat"), { encoding: "utf8" })).toBe("flat 1.0.0 x64\n")
  })

  it("installs a bare binary asset at the root under its cleaned name (or `bin`)", async () => {
    const b = await backend()
    const jq = await install(b, resolved(tool("acme/flat", "1.0.0", { asset_pattern: "jq-*" }), "1.0.0"))
    expect(jq.tree).toEqual(["f jq 755"])
    expect(jq.bins).toEqual(["."])
    expect(execFileSync(path.join(jq.dir, "jq"), { encoding: "utf8" })).toBe("jq 1.0.0 x64\n")
    const named = await install(b, resolved(tool("acme/flat", "1.0.0", { asset_pattern: "jq-*", bin: "jq1", bin_path: "bin" }), "1.0.0"))
    expect(named.tree).toEqual(["d bin", "f bin/jq1 755"])
  })

  it("verifies GitHub's own asset digest when it publishes one", async () => {
    const out = await install(await backend(), resolved(tool("acme/digest", "0.9.0"), "0.9.0"))
    expect(out.bins).toEqual(["bin"])
    const { e, tree: left } = await installError(await backend(), resolved(tool("acme/digest", "1.0.0"), "1.0.0"))
    expect(e.message).toMatch(/^github:acme\/digest@1\.0\.0: checksum mismatch for .*\/releases\/assets\/\d+: expected sha256:1{64}, got sha256:[0-9a-f]{64} \(the checksum is from GitHub's digest of hello-linux-x86_64\.tar\.gz\)/)
    expect(left).toEqual([])
  })

  it("fails a download whose bytes differ from the published .sha256, naming where the checksum came from", async () => {
    const { e, tree: left } = await installError(await backend(), resolved(tool("acme/tampered", "1.0.0"), "1.0.0"))
    expect(e.message).toContain("github:acme/tampered@1.0.0: checksum mismatch for ")
    expect(e.message).toContain(`expected sha256:${"0".repeat(64)}`)
    expect(e.message).toContain("(the checksum is from hello-1.0.0-linux-amd64.tar.gz.sha256)")
    expect(left).toEqual([])
  })

  it("says no asset is for this platform, listing what the release has and what to set", async () => {
    const { e } = await installError(await backend(), resolved(tool("acme/maconly", "1.0.0"), "1.0.0"))
    expect(e.message).toBe(
      "github:acme/maconly@1.0.0: no asset of release v1.0.0 is for linux-x64 (its assets: hello-darwin-arm64.tar.gz, " +
        "hello-darwin-arm64.tar.gz.sha256, hello-windows-amd64.zip, hello-linux-arm64.tar.gz); " +
        "set asset_pattern (or platforms.linux-x64.asset_pattern) to the file to install"
    )
  })

  it("an asset the API lists but its download answers 404: the URL and the status", async () => {
    serveGitHub(server, { base: "/api/v3", repo: "acme/vanished", pageSize: 100, releases: [{ tag: "v1.0.0", assets: [{ name: "hello-linux-amd64.tar.gz", body: Buffer.from("x") }] }] })
    server.route("/acme/vanished/releases/download/v1.0.0/hello-linux-amd64.tar.gz", (_req, res) => res.writeHead(404).end("Not Found"))
    const { e, tree: left } = await installError(await backend(), resolved(tool("acme/vanished", "1.0.0"), "1.0.0"))
    // An Enterprise API serves the asset itself, redirecting to the browser URL, which is gone.
    expect(e.message).toBe(`github:acme/vanished@1.0.0: download of ${api}/repos/acme/vanished/releases/assets/100 failed: HTTP 404 Not Found`)
    expect(server.hits("/acme/vanished/releases/download/v1.0.0/hello-linux-amd64.tar.gz")).toBe(1)
    expect(left).toEqual([])
  })

  it("names the tags it tried when the version has no release", async () => {
    const { e } = await installError(await backend(), resolved(tool("acme/hello", "7.7.7"), "7.7.7"))
    expect(e.message).toBe(
      "github:acme/hello@7.7.7: GitHub has no release tagged v7.7.7 or 7.7.7 in acme/hello (releases: 0.9.0, 1.0.0, 1.1.0, 1.2.0, 2.0.0-rc.1)"
    )
  })
})

describe("github backend: API errors", () => {
  it("a missing repository names it, the API, and the token to set", async () => {
    const b = await backend()
    const url = `${api}/repos/acme/nope/releases?per_page=100&page=1`
    const e = await flip(b.listVersions(tool("acme/nope"), ctx()))
    expect(e.message).toBe(
      `github:acme/nope@latest: GitHub has no repository acme/nope at ${api} (HTTP 404 from ${url}); ` +
        "check the name and api_url; if it is private, set GITHUB_TOKEN"
    )
    const withToken = await flip((await backend()).listVersions(tool("acme/nope"), ctx({ env: { GH_TOKEN: "t" } })))
    expect(withToken.message).toContain("check the name and api_url, and that the token in GH_TOKEN can read it")
  })

  it("an exhausted rate limit says when it resets and to set GITHUB_TOKEN, without retrying", async () => {
    const url = `${api}/repos/acme/limited/releases?per_page=100&page=1`
    const e = await flip((await backend()).resolveVersion!(tool("acme/limited", "1"), ctx()))
    expect(e.message).toBe(
      `github:acme/limited@1: GitHub API rate limit exceeded (HTTP 403 from ${url}; it resets at 2023-11-14T22:13:20Z); ` +
        "set GITHUB_TOKEN to a token to raise the limit"
    )
    expect(server.hits("/api/v3/repos/acme/limited/releases")).toBe(1)
    const withToken = await flip((await backend()).listVersions(tool("acme/limited"), ctx({ env: { MISE_GITHUB_TOKEN: "t" } })))
    expect(withToken.message).toContain("GitHub API rate limit exceeded for the token in MISE_GITHUB_TOKEN")
    const secondary = await flip((await backend()).listVersions(tool("acme/secondary"), ctx()))
    expect(secondary.message).toContain("GitHub API rate limit exceeded (HTTP 429 from")
    expect(secondary.message).toContain("it resets at 60s from now); set GITHUB_TOKEN")
  })

  it("refuses a spec that is not owner/repo, and an api_url that is not a URL", async () => {
    const e = await flip((await backend()).listVersions(tool("hello"), ctx()))
    expect(e.message).toBe(`github:hello@latest: "hello" is not a GitHub repository; write it as "github:<owner>/<repo>", e.g. "github:cli/cli"`)
    const url = await flip((await backend()).listVersions(tool("acme/hello", "latest", { api_url: "ghe.example.com/api/v3" }), ctx()))
    expect(url.message).toBe(`github:acme/hello@latest: api_url "ghe.example.com/api/v3" is not an http(s) URL; write it like https://api.github.com`)
  })
})

describe("github backend: tokens", () => {
  it("sends the token to the Enterprise API and its own downloads, never to another host", async () => {
    const seen = server.requests.length
    const c = ctx({ env: { GITHUB_TOKEN: "ghp_abc" } })
    await install(await backend(), resolved(tool("acme/hello", "1.0.0"), "1.0.0"), c)
    const elsewhere = await install(await backend(), resolved(tool("acme/elsewhere", "1.0.0"), "1.0.0"), c)
    expect(elsewhere.bins).toEqual(["bin"])
    const auth = server.requests.slice(seen).map((r) => [r.path, r.headers.authorization, r.headers.host?.split(":")[0]] as const)
    expect(auth.filter(([p]) => p.startsWith("/api/v3/")).every(([, a]) => a === "Bearer ghp_abc")).toBe(true)
    expect(auth.find(([p]) => p === "/acme/hello/releases/download/v1.0.0/hello-1.0.0-x86_64-unknown-linux-gnu.tar.gz")?.[1]).toBe("Bearer ghp_abc")
    const foreign = auth.find(([p]) => p === "/acme/elsewhere/releases/download/v1.0.0/hello-linux-amd64.tar.gz")
    expect(foreign?.[2]).toBe("localhost")
    expect(foreign?.[1]).toBeUndefined()
  })

  it("sends the token with every page of the release list, not just the first (mise's #6318)", async () => {
    const seen = server.requests.length
    await run((await backend()).listVersions(tool("acme/hello"), ctx({ env: { GITHUB_TOKEN: "ghp_pages" } })))
    const pages = server.requests.slice(seen).filter((r) => r.path === "/api/v3/repos/acme/hello/releases")
    expect(pages.map((r) => r.headers.authorization)).toEqual(["Bearer ghp_pages", "Bearer ghp_pages", "Bearer ghp_pages"])
  })

  it("reads MISE_GITHUB_TOKEN, GITHUB_API_TOKEN, GITHUB_TOKEN, GH_TOKEN; an Enterprise host first its own token", () => {
    expect(githubForge.tokenVars("https://api.github.com")).toEqual(["MISE_GITHUB_TOKEN", "GITHUB_API_TOKEN", "GITHUB_TOKEN", "GH_TOKEN"])
    expect(githubForge.tokenVars("https://ghe.example.com/api/v3")[0]).toBe("MISE_GITHUB_ENTERPRISE_TOKEN")
    expect(githubForge.headers("t")).toEqual({
      accept: "application/vnd.github+json",
      "x-github-api-version": "2022-11-28",
      authorization: "Bearer t"
    })
  })
})

describe("github backend: private repositories and GitHub Enterprise", () => {
  const secretTool = "/acme/secret/releases/download/v1.0.0/secret-1.0.0-linux-amd64.tar.gz"
  // Ids as serveGitHub numbers them: release 1, assets 100 (the archive) and 101 (its .sha256).
  const secretApi = "/api/v3/repos/acme/secret/releases/assets"
  const withToken = () => ctx({ env: { GITHUB_TOKEN: "ghp_secret" } })
  // The public API's rule, with api.github.com played by the loopback API.
  const dotCom = () => runtime.runPromise(Effect.map(Downloader, (d) => makeForgeBackend({ ...githubForge, defaultApiUrl: api }, githubInfo, d)))
  const seenSince = (since: number, p: string) => server.requests.slice(since).filter((r) => r.path === p)

  it("on an Enterprise api_url, assets come from the API's asset URL with the token; the redirect to storage carries none", async () => {
    const since = server.requests.length
    const out = await install(await backend(), resolved(tool("acme/secret", "1.0.0"), "1.0.0"), withToken())
    expect(execFileSync(path.join(out.dir, "bin", "secret"), { encoding: "utf8" })).toBe("secret 1.0.0 private\n")
    expect(server.hits(secretTool)).toBe(0)
    for (const id of [100, 101]) {
      const [asked] = seenSince(since, `${secretApi}/${id}`)
      expect([asked?.headers.authorization, asked?.headers.accept]).toEqual(["Bearer ghp_secret", "application/octet-stream"])
      const [stored] = seenSince(since, `/storage/acme/secret/${id}`)
      expect([stored?.headers.host?.split(":")[0], stored?.headers.authorization]).toEqual(["localhost", undefined])
    }
  })

  it("without the token, a private repository is one the API does not know, and the message says what to set", async () => {
    const { e } = await installError(await backend(), resolved(tool("acme/secret", "1.0.0"), "1.0.0"))
    expect(e.message).toContain("GitHub has no repository acme/secret at")
    expect(e.message).toContain("if it is private, set GITHUB_TOKEN")
  })

  it("on github.com, a public asset comes from its browser URL once a HEAD finds it there", async () => {
    const since = server.requests.length
    const asset = "/acme/elsewhere/releases/download/v1.0.0/hello-linux-amd64.tar.gz"
    const out = await install(await dotCom(), resolved(tool("acme/elsewhere", "1.0.0"), "1.0.0"))
    expect(out.bins).toEqual(["bin"])
    expect(seenSince(since, asset)).toHaveLength(2)
    expect(seenSince(since, "/api/v3/repos/acme/elsewhere/releases/assets/100")).toHaveLength(0)
  })

  it("on github.com, a private repository's browser URL 404s, so the asset comes from the API with the token", async () => {
    const since = server.requests.length
    const out = await install(await dotCom(), resolved(tool("acme/secret", "1.0.0"), "1.0.0"), withToken())
    expect(execFileSync(path.join(out.dir, "bin", "secret"), { encoding: "utf8" })).toBe("secret 1.0.0 private\n")
    // Only the HEAD reached the browser URL.
    expect(seenSince(since, secretTool)).toHaveLength(1)
    expect(seenSince(since, `${secretApi}/100`).map((r) => r.headers.authorization)).toEqual(["Bearer ghp_secret"])
    expect(seenSince(since, "/storage/acme/secret/100").map((r) => r.headers.authorization)).toEqual([undefined])
  })

  it("on github.com, a browser URL answering a login page (text/html) is not the asset: the API serves it", async () => {
    const since = server.requests.length
    const out = await install(await dotCom(), resolved(tool("acme/sso", "1.0.0"), "1.0.0"), withToken())
    expect(execFileSync(path.join(out.dir, "bin", "sso"), { encoding: "utf8" })).toBe("sso 1.0.0 private\n")
    expect(seenSince(since, "/acme/sso/releases/download/v1.0.0/sso-1.0.0-linux-amd64.tar.gz")).toHaveLength(1)
    expect(seenSince(since, "/storage/acme/sso/100")).toHaveLength(1)
  })
})
