import { gitlabForge, makeGitLabBackend } from "@engine/backends"
import { execFileSync } from "node:child_process"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { serveError, serveGitLab, sha256, toolTarGz, typicalAssets } from "./support/Forges"
import { useReleaseHarness } from "./support/ReleaseHarness"

// A project in a subgroup, so its id is `acme%2Ftools%2Fhello` in API paths.
const PROJECT = "/api/v4/projects/acme%2Ftools%2Fhello/releases"

const h = useReleaseHarness("gitlab", makeGitLabBackend, (server) => ({ api_url: `${server.url}/api/v4` }), async (server) => {
  const good = await toolTarGz("hello", "1.0.0", "linux-x64-gnu")
  // Newest first, as GitLab sorts by released_at; two per page makes three pages.
  serveGitLab(server, {
    repo: "acme/tools/hello",
    pageSize: 2,
    releases: [
      { tag: "v2.0.0", prerelease: true, assets: await typicalAssets("hello", "2.0.0") },
      { tag: "v1.1.0", assets: await typicalAssets("hello", "1.1.0") },
      { tag: "v1.0.0", assets: await typicalAssets("hello", "1.0.0") },
      // Only the generated source archives: GitLab lists them under assets.sources, never as links.
      { tag: "v0.9.0", assets: [] },
      { tag: "v0.8.0", assets: [{ name: "hello-macos-arm64.tar.gz", body: good }, { name: "hello-linux-arm64.tar.gz", body: good }] }
    ]
  })
  serveGitLab(server, {
    repo: "acme/tampered",
    pageSize: 20,
    releases: [{
      tag: "v1.0.0",
      assets: [
        { name: "hello_1.0.0_linux_amd64.tar.gz", body: good },
        { name: "hello_1.0.0_checksums.txt", body: Buffer.from(`${sha256("other bytes")}  hello_1.0.0_linux_amd64.tar.gz\n`) }
      ]
    }]
  })
  serveError(server, "/api/v4/projects/acme%2Flimited/releases", 429, "Retry later", {
    "ratelimit-limit": "2000",
    "ratelimit-remaining": "0",
    "ratelimit-reset": "1700000000"
  })
  serveError(server, "/api/v4/projects/acme%2Fnope/releases", 404, "404 Project Not Found")
})

describe("gitlab backend: versions", () => {
  it("lists every page by x-next-page, for a project in a subgroup", async () => {
    const before = h.server().hits(PROJECT)
    expect(await h.run((await h.backend()).listVersions(h.tool("acme/tools/hello"), h.ctx()))).toEqual([
      "0.8.0",
      "0.9.0",
      "1.0.0",
      "1.1.0",
      "2.0.0"
    ])
    expect(h.server().hits(PROJECT) - before).toBe(3)
  })

  it("resolves latest past an upcoming release, and a prefix to its newest stable match", async () => {
    const b = await h.backend()
    const resolve = (v: string) => h.run(b.resolveVersion!(h.tool("acme/tools/hello", v), h.ctx()))
    expect(await resolve("latest")).toBe("1.1.0")
    expect(await resolve("1")).toBe("1.1.0")
    expect(await resolve("2")).toBe("2.0.0")
  })
})

describe("gitlab backend: install", () => {
  it("downloads the link's direct_asset_url, checks its .sha256, and the tool runs", async () => {
    const server = h.server()
    const out = await h.install(await h.backend(), h.resolved(h.tool("acme/tools/hello", "1.1"), "1.1.0"))
    expect(out.bins).toEqual(["bin"])
    expect(execFileSync(path.join(out.dir, "bin", "hello"), { encoding: "utf8" })).toBe("hello 1.1.0 linux-x64-gnu\n")
    expect(server.hits("/acme/tools/hello/-/releases/v1.1.0/downloads/hello-1.1.0-x86_64-unknown-linux-gnu.tar.gz")).toBe(1)
    expect(server.hits("/acme/tools/hello/-/releases/v1.1.0/downloads/hello-1.1.0-x86_64-unknown-linux-gnu.tar.gz.sha256")).toBe(1)
    expect(server.hits("/uploads/gone/hello-1.1.0-x86_64-unknown-linux-gnu.tar.gz")).toBe(0)
  })

  it("never takes the generated source archives for a build: a release with only sources has no asset", async () => {
    const e = await h.installError(await h.backend(), h.resolved(h.tool("acme/tools/hello", "0.9.0"), "0.9.0"))
    expect(e.message).toBe(
      "gitlab:acme/tools/hello@0.9.0: no asset of release v0.9.0 is for linux-x64 (it has no assets); " +
        "set asset_pattern (or platforms.linux-x64.asset_pattern) to the file to install"
    )
    expect(h.server().requests.some((r) => r.path.includes("/-/archive/"))).toBe(false)
  })

  it("says no asset is for this platform when the links are for others", async () => {
    const e = await h.installError(await h.backend(), h.resolved(h.tool("acme/tools/hello", "0.8.0"), "0.8.0"))
    expect(e.message).toContain("no asset of release v0.8.0 is for linux-x64 (its assets: hello-macos-arm64.tar.gz, hello-linux-arm64.tar.gz)")
    const arm = await h.install(await h.backend(), h.resolved(h.tool("acme/tools/hello", "0.8.0"), "0.8.0"), h.ctx({ platform: { os: "linux", arch: "arm64" } }))
    expect(arm.bins).toEqual(["bin"])
  })

  it("fails on a checksum mismatch against a goreleaser-style <name>_checksums.txt", async () => {
    const e = await h.installError(await h.backend(), h.resolved(h.tool("acme/tampered", "1.0.0"), "1.0.0"))
    expect(e.message).toContain("gitlab:acme/tampered@1.0.0: checksum mismatch for ")
    expect(e.message).toContain(`expected sha256:${sha256("other bytes")}`)
    expect(e.message).toContain("(the checksum is from hello_1.0.0_checksums.txt)")
    expect(e.tree).toEqual([])
  })
})

describe("gitlab backend: API errors and tokens", () => {
  it("a missing project names it and GITLAB_TOKEN", async () => {
    const api = `${h.server().url}/api/v4`
    const e = await h.flip((await h.backend()).listVersions(h.tool("acme/nope"), h.ctx()))
    expect(e.message).toBe(
      `gitlab:acme/nope@latest: GitLab has no repository acme/nope at ${api} ` +
        `(HTTP 404 from ${api}/projects/acme%2Fnope/releases?per_page=100&page=1); check the name and api_url; if it is private, set GITLAB_TOKEN`
    )
  })

  it("a rate limit (429, RateLimit-Remaining: 0) says when it resets and to set GITLAB_TOKEN", async () => {
    const api = `${h.server().url}/api/v4`
    const e = await h.flip((await h.backend()).resolveVersion!(h.tool("acme/limited"), h.ctx()))
    expect(e.message).toBe(
      `gitlab:acme/limited@latest: GitLab API rate limit exceeded (HTTP 429 from ${api}/projects/acme%2Flimited/releases?per_page=100&page=1; ` +
        "it resets at 2023-11-14T22:13:20Z); set GITLAB_TOKEN to a token to raise the limit"
    )
    expect(h.server().hits("/api/v4/projects/acme%2Flimited/releases")).toBe(1)
  })

  it("sends MISE_GITLAB_TOKEN (else GITLAB_TOKEN) as a Bearer to the API and its own downloads", async () => {
    const server = h.server()
    const seen = server.requests.length
    await h.install(await h.backend(), h.resolved(h.tool("acme/tools/hello"), "1.0.0"), h.ctx({ env: { GITLAB_TOKEN: "glpat-x", MISE_GITLAB_TOKEN: "glpat-mise" } }))
    const made = server.requests.slice(seen)
    expect(made.length).toBeGreaterThan(2)
    expect(made.every((r) => r.headers.authorization === "Bearer glpat-mise")).toBe(true)
    expect(gitlabForge.tokenVars("")).toEqual(["MISE_GITLAB_TOKEN", "GITLAB_TOKEN"])
  })

  it("sends the token with every page of the release list, as mise does since it sent page 2 on unauthenticated", async () => {
    const server = h.server()
    const seen = server.requests.length
    await h.run((await h.backend()).listVersions(h.tool("acme/tools/hello"), h.ctx({ env: { GITLAB_TOKEN: "glpat-pages" } })))
    expect(server.requests.slice(seen).filter((r) => r.path === PROJECT).map((r) => r.headers.authorization)).toEqual([
      "Bearer glpat-pages",
      "Bearer glpat-pages",
      "Bearer glpat-pages"
    ])
  })
})
