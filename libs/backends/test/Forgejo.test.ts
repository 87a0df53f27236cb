import { FORGEJO_API, forgejoInfo, makeForgejoBackend } from "@engine/backends"
import { execFileSync } from "node:child_process"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { serveError, serveForgejo, toolTarGz, typicalAssets } from "./support/Forges"
import { useReleaseHarness } from "./support/ReleaseHarness"

const LIST = "/api/v1/repos/acme/hello/releases"

const h = useReleaseHarness("forgejo", makeForgejoBackend, (server) => ({ api_url: `${server.url}/api/v1` }), async (server) => {
  const good = await toolTarGz("hello", "1.0.0", "linux-x64-gnu")
  serveForgejo(server, {
    repo: "acme/hello",
    pageSize: 2,
    releases: [
      { tag: "v1.2.0-beta.1", prerelease: true, assets: await typicalAssets("hello", "1.2.0-beta.1") },
      { tag: "v1.1.0", draft: true, assets: [] },
      { tag: "v1.0.1", assets: await typicalAssets("hello", "1.0.1") },
      { tag: "v1.0.0", assets: await typicalAssets("hello", "1.0.0") },
      { tag: "0.9.0", assets: [{ name: "hello-0.9.0-darwin-amd64.tar.gz", body: good }, { name: "hello-0.9.0-windows-amd64.zip", body: good }] }
    ]
  })
  serveForgejo(server, {
    repo: "acme/tampered",
    pageSize: 50,
    releases: [{
      tag: "v1.0.0",
      assets: [
        { name: "hello-linux-amd64.tar.gz", body: good },
        { name: "SHA256SUMS", body: Buffer.from(`${"ab".repeat(32)} *hello-linux-amd64.tar.gz\n`) }
      ]
    }]
  })
  // A backport (1.0.5) published after 1.1.0: the server's /releases/latest names it, being the newest by date.
  serveForgejo(server, {
    repo: "acme/backport",
    pageSize: 50,
    latest: true,
    releases: [
      { tag: "v1.0.5", assets: await typicalAssets("hello", "1.0.5") },
      { tag: "v1.1.0", assets: await typicalAssets("hello", "1.1.0") },
      { tag: "v1.0.0", assets: [] }
    ]
  })
  serveError(server, "/api/v1/repos/acme/limited/releases", 429, "rate limited", { "retry-after": "30" })
  serveError(server, "/api/v1/repos/acme/nope/releases", 404, "The target couldn't be found.")
})

describe("forgejo backend: versions", () => {
  it("lists every page by Link rel=\"next\" (limit/page), drafts left out, a tag with or without v", async () => {
    const before = h.server().hits(LIST)
    expect(await h.run((await h.backend()).listVersions(h.tool("acme/hello"), h.ctx()))).toEqual([
      "0.9.0",
      "1.0.0",
      "1.0.1",
      "1.2.0-beta.1"
    ])
    expect(h.server().hits(LIST) - before).toBe(3)
  })

  it("resolves latest past the pre-release, and a prefix", async () => {
    const b = await h.backend()
    expect(await h.run(b.resolveVersion!(h.tool("acme/hello"), h.ctx()))).toBe("1.0.1")
    expect(await h.run(b.resolveVersion!(h.tool("acme/hello", "1.0"), h.ctx()))).toBe("1.0.1")
    expect(await h.run(b.resolveVersion!(h.tool("acme/hello", "0"), h.ctx()))).toBe("0.9.0")
  })

  it("latest is what the server's /releases/latest names (the newest by date, here a backport), as mise takes it", async () => {
    const b = await h.backend()
    expect(await h.run(b.resolveVersion!(h.tool("acme/backport"), h.ctx()))).toBe("1.0.5")
    expect(h.server().hits("/api/v1/repos/acme/backport/releases/latest")).toBe(1)
    expect(h.server().hits("/api/v1/repos/acme/backport/releases")).toBe(0)
    // A prefix still resolves against the list, by version.
    expect(await h.run(b.resolveVersion!(h.tool("acme/backport", "1"), h.ctx()))).toBe("1.1.0")
    // A server without the endpoint (Gitea before 1.17) answers 404: the list decides.
    expect(await h.run((await h.backend()).resolveVersion!(h.tool("acme/hello"), h.ctx()))).toBe("1.0.1")
    expect(h.server().hits("/api/v1/repos/acme/hello/releases/latest")).toBeGreaterThan(0)
  })

  it("defaults to codeberg.org", () => {
    expect(FORGEJO_API).toBe("https://codeberg.org/api/v1")
    expect(forgejoInfo.options).toContain("api_url")
  })
})

describe("forgejo backend: install", () => {
  it("installs the linux x86_64 gnu build, and the tool runs", async () => {
    const out = await h.install(await h.backend(), h.resolved(h.tool("acme/hello", "1"), "1.0.1"))
    expect(out.tree).toEqual(["f README.md 644", "d bin", "f bin/hello 755"])
    expect(out.bins).toEqual(["bin"])
    expect(execFileSync(path.join(out.dir, "bin", "hello"), { encoding: "utf8" })).toBe("hello 1.0.1 linux-x64-gnu\n")
  })

  it("finds a release tagged without v by trying v<version> first, then <version>", async () => {
    const server = h.server()
    const e = await h.installError(await h.backend(), h.resolved(h.tool("acme/hello", "0.9.0"), "0.9.0"))
    expect(server.hits(`${LIST}/tags/v0.9.0`)).toBe(1)
    expect(server.hits(`${LIST}/tags/0.9.0`)).toBe(1)
    // ...whose assets are for macOS and Windows only.
    expect(e.message).toBe(
      "forgejo:acme/hello@0.9.0: no asset of release 0.9.0 is for linux-x64 (its assets: hello-0.9.0-darwin-amd64.tar.gz, " +
        "hello-0.9.0-windows-amd64.zip); set asset_pattern (or platforms.linux-x64.asset_pattern) to the file to install"
    )
  })

  it("fails on a checksum mismatch against SHA256SUMS", async () => {
    const e = await h.installError(await h.backend(), h.resolved(h.tool("acme/tampered", "1.0.0"), "1.0.0"))
    expect(e.message).toContain(`expected sha256:${"ab".repeat(32)}`)
    expect(e.message).toContain("(the checksum is from SHA256SUMS)")
  })
})

describe("forgejo backend: API errors and tokens", () => {
  it("a missing repository names it and FORGEJO_TOKEN", async () => {
    const api = `${h.server().url}/api/v1`
    const e = await h.flip((await h.backend()).listVersions(h.tool("acme/nope"), h.ctx()))
    expect(e.message).toBe(
      `forgejo:acme/nope@latest: Forgejo has no repository acme/nope at ${api} ` +
        `(HTTP 404 from ${api}/repos/acme/nope/releases?limit=50&page=1); check the name and api_url; if it is private, set FORGEJO_TOKEN`
    )
  })

  it("a 429 says to set FORGEJO_TOKEN", async () => {
    const e = await h.flip((await h.backend()).listVersions(h.tool("acme/limited"), h.ctx()))
    expect(e.message).toContain("Forgejo API rate limit exceeded (HTTP 429 from ")
    expect(e.message).toContain("it resets at 30s from now); set FORGEJO_TOKEN to a token to raise the limit")
  })

  it("sends FORGEJO_TOKEN as `token <t>` to the API", async () => {
    const server = h.server()
    const seen = server.requests.length
    await h.run((await h.backend()).listVersions(h.tool("acme/hello"), h.ctx({ env: { FORGEJO_TOKEN: "fj" } })))
    expect(server.requests.slice(seen).map((r) => r.headers.authorization)).toEqual(["token fj", "token fj", "token fj"])
  })
})
