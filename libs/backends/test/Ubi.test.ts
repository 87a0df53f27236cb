import { makeUbiBackend, ubiInfo } from "@engine/backends"
import { execFileSync } from "node:child_process"
import * as path from "node:path"
import * as zlib from "node:zlib"
import { describe, expect, it } from "vitest"
import { tarGz } from "./support/Fixtures"
import { serveError, serveForgejo, serveGitHub, serveGitLab, sha256, toolScript, toolTarGz, typicalAssets } from "./support/Forges"
import { useReleaseHarness } from "./support/ReleaseHarness"

const h = useReleaseHarness("ubi", makeUbiBackend, (server) => ({ api_url: `${server.url}/api/v3` }), async (server) => {
  serveGitHub(server, {
    base: "/api/v3",
    repo: "acme/hello",
    pageSize: 2,
    latest: true,
    releases: [
      { tag: "v1.2.0-rc.1", prerelease: true, assets: await typicalAssets("hello", "1.2.0-rc.1") },
      { tag: "v1.1.0", assets: await typicalAssets("hello", "1.1.0") },
      { tag: "v1.0.0", assets: await typicalAssets("hello", "1.0.0") }
    ]
  })
  // ripgrep's layout: the executable is `rg` in a versioned directory, not the repository's name.
  const rg = await tarGz([
    { name: "ripgrep-14.1.0-x86_64-unknown-linux-musl/", type: "directory" },
    { name: "ripgrep-14.1.0-x86_64-unknown-linux-musl/doc/rg.1", content: ".TH rg\n" },
    { name: "ripgrep-14.1.0-x86_64-unknown-linux-musl/rg", content: toolScript("rg", "14.1.0", "musl"), mode: 0o755 }
  ])
  serveGitHub(server, {
    base: "/api/v3",
    repo: "acme/ripgrep",
    pageSize: 100,
    releases: [{
      tag: "14.1.0",
      assets: [
        { name: "ripgrep-14.1.0-x86_64-unknown-linux-musl.tar.gz", body: rg },
        { name: "ripgrep-14.1.0-x86_64-unknown-linux-musl.tar.gz.sha256", body: Buffer.from(sha256(rg)) },
        { name: "ripgrep-14.1.0-aarch64-apple-darwin.tar.gz", body: rg },
        { name: "ripgrep_14.1.0-1_amd64.deb", body: Buffer.from("deb") }
      ]
    }]
  })
  serveGitHub(server, {
    base: "/api/v3",
    repo: "acme/tiny",
    pageSize: 100,
    releases: [{
      tag: "v2.0.0",
      assets: [
        // No arch in the name: ubi takes it for x86_64.
        { name: "tiny-linux", body: Buffer.from(toolScript("tiny", "2.0.0", "x64")) },
        { name: "tiny-linux-arm64.gz", body: zlib.gzipSync(toolScript("tiny", "2.0.0", "arm64")) },
        { name: "tiny-macos", body: Buffer.from("mac") }
      ]
    }]
  })
  const build = (kind: string) => tarGz([{ name: "tiny", content: toolScript("tiny", "2.0.0", kind), mode: 0o755 }])
  serveGitHub(server, {
    base: "/api/v3",
    repo: "acme/tiny-builds",
    pageSize: 100,
    releases: [{
      tag: "v2.0.0",
      assets: [
        { name: "tiny-linux-amd64.tar.gz", body: await build("dynamic") },
        { name: "tiny-linux-amd64-static.tar.gz", body: await build("static") },
        { name: "tiny-linux-amd64.tar.gz.sha256", body: Buffer.from("0".repeat(64)) }
      ]
    }]
  })
  serveGitHub(server, {
    base: "/api/v3",
    repo: "acme/maconly",
    pageSize: 100,
    releases: [{
      tag: "v1.0.0",
      assets: [
        { name: "maconly-darwin-arm64.tar.gz", body: await toolTarGz("maconly", "1.0.0", "mac") },
        { name: "maconly-linux-riscv64.tar.gz", body: await toolTarGz("maconly", "1.0.0", "riscv") }
      ]
    }]
  })
  serveGitLab(server, { repo: "acme/hello", pageSize: 1, releases: [{ tag: "v1.1.0", assets: await typicalAssets("hello", "1.1.0") }] })
  serveForgejo(server, { repo: "acme/hello", pageSize: 1, releases: [{ tag: "v1.1.0", assets: await typicalAssets("hello", "1.1.0") }] })
  serveError(server, "/api/v3/repos/acme/limited/releases", 403, "API rate limit exceeded", { "x-ratelimit-remaining": "0" })
})

const run = (dir: string, ...p: Array<string>) => execFileSync("sh", [path.join(dir, ...p)], { encoding: "utf8" })

describe("ubi backend: versions", () => {
  it("lists GitHub releases across pages and resolves latest and prefixes like the github backend", async () => {
    const b = await h.backend()
    expect(await h.run(b.listVersions(h.tool("acme/hello"), h.ctx()))).toEqual(["1.0.0", "1.1.0", "1.2.0-rc.1"])
    expect(h.server().hits("/api/v3/repos/acme/hello/releases")).toBe(2)
    expect(await h.run(b.resolveVersion!(h.tool("acme/hello"), h.ctx()))).toBe("1.1.0")
    expect(await h.run(b.resolveVersion!(h.tool("acme/hello", "1.0"), h.ctx()))).toBe("1.0.0")
  })

  it("filters versions by tag_regex", async () => {
    const b = await h.backend()
    expect(await h.run(b.listVersions(h.tool("acme/hello", "latest", { tag_regex: "^1\\.[01]\\." }), h.ctx()))).toEqual(["1.0.0", "1.1.0"])
    const e = await h.flip(b.listVersions(h.tool("acme/hello", "latest", { tag_regex: "(" }), h.ctx()))
    expect(e.message).toContain(`ubi:acme/hello@latest: tag_regex "(" is not a valid regular expression`)
  })

  it("lists the options mise's ubi backend takes", () => {
    expect(ubiInfo.options).toEqual(["exe", "rename_exe", "matching", "matching_regex", "extract_all", "bin_path", "tag_regex", "provider", "api_url"])
  })
})

describe("ubi backend: install", () => {
  it("installs only the executable, as <install>/bin/<repo name>, from the glibc build", async () => {
    const out = await h.install(await h.backend(), h.resolved(h.tool("acme/hello", "1"), "1.1.0"))
    expect(out.tree).toEqual(["d bin", "f bin/hello 755"])
    expect(out.bins).toEqual(["bin"])
    expect(execFileSync(path.join(out.dir, "bin", "hello"), { encoding: "utf8" })).toBe("hello 1.1.0 linux-x64-gnu\n")
  })

  it("finds `exe` anywhere in the archive (ripgrep's rg in a versioned directory), skipping the .deb", async () => {
    const out = await h.install(await h.backend(), h.resolved(h.tool("acme/ripgrep", "14", { exe: "rg" }), "14.1.0"))
    expect(out.tree).toEqual(["d bin", "f bin/rg 755"])
    expect(execFileSync(path.join(out.dir, "bin", "rg"), { encoding: "utf8" })).toBe("rg 14.1.0 musl\n")
    expect(h.server().hits("/acme/ripgrep/releases/download/14.1.0/ripgrep_14.1.0-1_amd64.deb")).toBe(0)
  })

  it("stops on a checksum mismatch against the published .sha256", async () => {
    const e = await h.installError(await h.backend(), h.resolved(h.tool("acme/tiny-builds", "2.0.0"), "2.0.0"))
    expect(e.message).toContain("ubi:acme/tiny-builds@2.0.0: checksum mismatch for ")
    expect(e.message).toContain("(the checksum is from tiny-linux-amd64.tar.gz.sha256)")
    expect(e.tree).toEqual([])
  })

  it("installs a bare binary named for no arch (ubi's x86_64 default), and a .gz one for arm64", async () => {
    const x64 = await h.install(await h.backend(), h.resolved(h.tool("acme/tiny", "2.0.0"), "2.0.0"))
    expect(x64.tree).toEqual(["d bin", "f bin/tiny 755"])
    expect(run(x64.dir, "bin", "tiny")).toBe("tiny 2.0.0 x64\n")
    const arm = await h.install(await h.backend(), h.resolved(h.tool("acme/tiny", "2.0.0"), "2.0.0"), h.ctx({ platform: { os: "linux", arch: "arm64" } }))
    expect(run(arm.dir, "bin", "tiny")).toBe("tiny 2.0.0 arm64\n")
  })

  it("breaks a tie with `matching`, filters first with `matching_regex`, and renames with rename_exe", async () => {
    const matched = await h.install(await h.backend(), h.resolved(h.tool("acme/tiny-builds", "2.0.0", { exe: "tiny", matching: "static" }), "2.0.0"))
    expect(run(matched.dir, "bin", "tiny")).toBe("tiny 2.0.0 static\n")
    const regex = await h.install(
      await h.backend(),
      h.resolved(h.tool("acme/tiny-builds", "2.0.0", { exe: "tiny", matching_regex: "-static\\.", rename_exe: "tn", bin_path: "tools" }), "2.0.0")
    )
    expect(regex.tree).toEqual(["d tools", "f tools/tn 755"])
    expect(regex.bins).toEqual(["tools"])
  })

  it("keeps the whole archive with extract_all; its bin path is then the install dir (mise's rule) unless bin_path", async () => {
    const all = await h.install(await h.backend(), h.resolved(h.tool("acme/hello", "1.0.0", { extract_all: true }), "1.0.0"))
    expect(all.tree).toEqual(["f README.md 644", "d bin", "f bin/hello 755"])
    expect(all.bins).toEqual(["."])
    const withBin = await h.install(await h.backend(), h.resolved(h.tool("acme/hello", "1.0.0", { extract_all: "true", bin_path: "bin" }), "1.0.0"))
    expect(withBin.bins).toEqual(["bin"])
  })

  it("reads GitLab and Forgejo releases with provider and api_url", async () => {
    const server = h.server()
    for (const [provider, api] of [["gitlab", "/api/v4"], ["forgejo", "/api/v1"]] as const) {
      const t = h.tool("acme/hello", "latest", { provider, api_url: `${server.url}${api}` })
      const b = await h.backend()
      expect(await h.run(b.resolveVersion!(t, h.ctx()))).toBe("1.1.0")
      const out = await h.install(b, h.resolved(t, "1.1.0"))
      expect(execFileSync(path.join(out.dir, "bin", "hello"), { encoding: "utf8" }), provider).toBe("hello 1.1.0 linux-x64-gnu\n")
    }
    const e = await h.flip((await h.backend()).listVersions(h.tool("acme/hello", "latest", { provider: "bitbucket" }), h.ctx()))
    expect(e.message).toBe(`ubi:acme/hello@latest: unknown provider "bitbucket" (ubi knows: github, gitlab, forgejo)`)
  })
})

describe("ubi backend: errors", () => {
  it("says why no asset fits: no asset for the OS, or none for the arch", async () => {
    const e = await h.installError(await h.backend(), h.resolved(h.tool("acme/maconly", "1.0.0"), "1.0.0"), h.ctx({ platform: { os: "windows", arch: "x64" } }))
    expect(e.message).toBe(
      "ubi:acme/maconly@1.0.0: no asset of release v1.0.0 fits windows-x64: no asset names the OS windows " +
        "(its assets: maconly-darwin-arm64.tar.gz, maconly-linux-riscv64.tar.gz); set matching or matching_regex"
    )
    const arch = await h.installError(await h.backend(), h.resolved(h.tool("acme/maconly", "1.0.0"), "1.0.0"))
    expect(arch.message).toContain("fits linux-x64: no linux asset names the architecture x64 (its assets: ")
  })

  it("names the file it could not find in the archive", async () => {
    const e = await h.installError(await h.backend(), h.resolved(h.tool("acme/hello", "1.0.0", { exe: "hi" }), "1.0.0"))
    expect(e.message).toBe(
      "ubi:acme/hello@1.0.0: hello-1.0.0-x86_64-unknown-linux-gnu.tar.gz has no file named hi " +
        "(it holds: hello-1.0.0/README.md, hello-1.0.0/bin/hello); set exe to the executable's name, or extract_all = true"
    )
    expect(e.tree).toEqual([])
  })

  it("turns 404 and rate-limit answers into messages that say what to set", async () => {
    const api = `${h.server().url}/api/v3`
    const missing = await h.flip((await h.backend()).listVersions(h.tool("acme/nope"), h.ctx()))
    expect(missing.message).toBe(
      `ubi:acme/nope@latest: GitHub has no repository acme/nope at ${api} (HTTP 404 from ${api}/repos/acme/nope/releases?per_page=100&page=1); ` +
        "check the name and api_url; if it is private, set GITHUB_TOKEN"
    )
    const limited = await h.flip((await h.backend()).listVersions(h.tool("acme/limited"), h.ctx()))
    expect(limited.message).toContain("GitHub API rate limit exceeded (HTTP 403 from ")
    expect(limited.message).toContain("set GITHUB_TOKEN to a token to raise the limit")
  })
})
