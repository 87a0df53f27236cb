import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { engine, type RunResult } from "../../../test/support/Cli"
import { skopeoInspect, umociUnpack } from "../../../test/support/Validate"
import { makeAquaBackend } from "../src/Aqua"
import { tempDir } from "./support/Context"
import { tarGz, zipBytes } from "./support/Fixtures"
import { type FixtureAsset, serveError, serveGitHub, sha256, toolScript } from "./support/Forges"
import { useReleaseHarness } from "./support/ReleaseHarness"
import type { TestServer } from "./support/Server"

// An aqua registry folder (aqua-registry's own layout: pkgs/<owner>/<repo>/registry.yaml plus the merged
// registry.yaml at the root) generated per run, over loopback GitHub releases and plain download URLs.

/** `hello_<v>_<os>_<arch>/bin/hello-cli` in a tar.gz: the registry links it as `hello`. */
const helloTarGz = (version: string, os: string, arch: string) =>
  tarGz([
    { name: `hello_${version}_${os}_${arch}/`, type: "directory" },
    { name: `hello_${version}_${os}_${arch}/bin/`, type: "directory" },
    { name: `hello_${version}_${os}_${arch}/bin/hello-cli`, content: toolScript("hello", version, `${os}-${arch}`), mode: 0o644 },
    { name: `hello_${version}_${os}_${arch}/LICENSE`, content: "MIT\n" }
  ])

/** A release in the current naming, with the checksums file the registry points at. */
const currentRelease = async (version: string, checksumOverride?: string): Promise<ReadonlyArray<FixtureAsset>> => {
  const archives: Array<FixtureAsset> = []
  for (const [os, arch] of [["linux", "amd64"], ["linux", "aarch64"], ["darwin", "arm64"]] as const) {
    archives.push({ name: `hello_${version}_${os}_${arch}.tar.gz`, body: await helloTarGz(version, os, arch) })
  }
  const sums = archives.map((a) => `${checksumOverride ?? sha256(a.body)}  ${a.name}\n`).join("")
  return [...archives, { name: `hello_${version}_checksums.txt`, body: Buffer.from(sums) }]
}

/** Before 1.0 the project shipped a zip named with Rust target triples and no checksums. */
const oldRelease = (version: string): ReadonlyArray<FixtureAsset> => [
  {
    name: `hello-${version}-x86_64-unknown-linux-gnu.zip`,
    body: zipBytes([{ name: "hello", content: toolScript("hello", version, "old-zip"), mode: 0o755 }])
  }
]

const HELLO = `
  - type: github_release
    repo_owner: acme
    repo_name: hello
    description: says hello
    aliases:
      - name: acme/hi
    asset: hello_{{trimV .Version}}_{{.OS}}_{{.Arch}}.{{.Format}}
    format: tar.gz
    files:
      - name: hello
        src: "{{.AssetWithoutExt}}/bin/hello-cli"
    supported_envs:
      - linux
      - darwin
    version_filter: not (Version startsWith "nightly")
    checksum:
      type: github_release
      asset: hello_{{trimV .Version}}_checksums.txt
      algorithm: sha256
    overrides:
      - goos: linux
        goarch: arm64
        replacements:
          arm64: aarch64
    version_constraint: semver(">= 1.0.0")
    version_overrides:
      - version_constraint: semver(">= 0.9.0, < 1.0.0")
        asset: hello-{{trimV .Version}}-{{.Arch}}-unknown-{{.OS}}-gnu.zip
        format: zip
        replacements:
          amd64: x86_64
        files:
          - name: hello
        checksum:
          enabled: false
`

const tools = (url: string) => `
  - type: github_release
    repo_owner: acme
    repo_name: tampered
    asset: tampered_{{.Version}}_{{.OS}}_{{.Arch}}.tar.gz
    checksum:
      type: github_release
      asset: checksums.txt
      algorithm: sha256
  - type: http
    repo_owner: acme
    repo_name: hello
    name: acme/webtool
    url: ${url}/downloads/webtool/{{.Version}}/webtool_{{.OS}}_{{.Arch}}.tar.gz
    files:
      - name: webtool
        src: webtool-{{trimV .Version}}/webtool
    checksum:
      type: http
      url: ${url}/downloads/webtool/{{.Version}}/SHA256SUMS
      algorithm: sha256
      file_format: regexp
      pattern:
        checksum: ^(\\b[A-Fa-f0-9]{64}\\b)
        file: "^\\\\b[A-Fa-f0-9]{64}\\\\b\\\\s+(\\\\S+)$"
  - type: http
    name: acme/rawtool
    url: ${url}/raw/rawtool-{{.Version}}-{{title .OS}}-{{.Arch}}
    format: raw
    files:
      - name: rawtool
  - type: http
    name: acme/gone
    url: ${url}/nowhere/gone-{{.Version}}.tar.gz
  - type: github_archive
    repo_owner: acme
    repo_name: hello
    name: acme/hello-src
    files:
      - name: greet
        src: hello-{{trimV .Version}}/greet.sh
  - type: github_content
    repo_owner: acme
    repo_name: hello
    name: acme/greet
    path: scripts/greet.sh
    files:
      - name: greet
  - type: github_release
    repo_owner: acme
    repo_name: limited
    asset: limited_{{.Version}}.tar.gz
  - type: github_content
    repo_owner: acme
    repo_name: hello
    name: acme/tagged
    version_source: github_tag
    path: scripts/greet.sh
  - type: github_release
    repo_owner: acme
    repo_name: sibling
    asset: sib-{{.Version}}-{{.Arch}}-{{.OS}}.tar.gz
    replacements:
      amd64: x86_64
      linux: unknown-linux-musl
    files:
      - name: sib
        src: sib-{{.Version}}-{{.Arch}}-{{.OS}}/sib
    overrides:
      - goos: linux
        variants:
          - key: libc
            value: musl
        asset: never-{{.Version}}.tar.gz
  - type: github_release
    repo_owner: acme
    repo_name: hello
    name: acme/fancy
    asset: hello_{{trimV .Version}}_{{.OS}}_{{.Arch}}.tar.gz
    version_constraint: Version > "v1.0.0"
  - type: go_install
    name: acme/gotool
    path: example.com/acme/gotool
`

let registryDir = ""
let webtoolBody = Buffer.alloc(0)

const h = useReleaseHarness("aqua", makeAquaBackend, (server) => ({ api_url: `${server.url}/api/v3` }), async (server: TestServer) => {
  serveGitHub(server, {
    base: "/api/v3",
    repo: "acme/hello",
    pageSize: 2,
    latest: true,
    releases: [
      { tag: "nightly-2026", prerelease: true, assets: [] },
      { tag: "v2.0.0-rc.1", prerelease: true, assets: await currentRelease("2.0.0-rc.1") },
      { tag: "v1.1.0", assets: await currentRelease("1.1.0") },
      { tag: "v1.0.0", assets: await currentRelease("1.0.0") },
      { tag: "v0.9.0", assets: oldRelease("0.9.0") },
      { tag: "v0.1.0", assets: oldRelease("0.1.0") }
    ]
  })
  const tampered = await tarGz([{ name: "tampered", content: toolScript("tampered", "1.0.0", "x"), mode: 0o755 }])
  serveGitHub(server, {
    base: "/api/v3",
    repo: "acme/tampered",
    pageSize: 100,
    releases: [{
      tag: "1.0.0",
      assets: [
        { name: "tampered_1.0.0_linux_amd64.tar.gz", body: tampered },
        { name: "checksums.txt", body: Buffer.from(`${"0".repeat(64)}  tampered_1.0.0_linux_amd64.tar.gz\n`) }
      ]
    }]
  })
  webtoolBody = await tarGz([{ name: "webtool-1.1.0/webtool", content: toolScript("webtool", "1.1.0", "http"), mode: 0o755 }])
  server.route("/downloads/webtool/v1.1.0/webtool_linux_amd64.tar.gz", webtoolBody)
  server.route(
    "/downloads/webtool/v1.1.0/SHA256SUMS",
    `${sha256("other")}  webtool_linux_arm64.tar.gz\n${sha256(webtoolBody)}  webtool_linux_amd64.tar.gz\n`
  )
  server.route("/raw/rawtool-3.0.0-Linux-amd64", toolScript("rawtool", "3.0.0", "raw"))
  // GitHub's generated source archive (`<repo>-<version>/`) and a raw file of the tagged tree, on the api_url's host.
  server.route(
    "/acme/hello/archive/refs/tags/v1.1.0.tar.gz",
    await tarGz([{ name: "hello-1.1.0/greet.sh", content: toolScript("greet", "1.1.0", "archive"), mode: 0o644 }])
  )
  server.route("/acme/hello/raw/v1.1.0/scripts/greet.sh", toolScript("greet", "1.1.0", "content"))
  const tag = (name: string) => ({ name, zipball_url: "", tarball_url: "", commit: { sha: sha256(name).slice(0, 40), url: "" }, node_id: "" })
  server.route("/api/v3/repos/acme/hello/tags", (_req, res) => {
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify([tag("v1.1.0"), tag("v1.0.0"), tag("nightly")]))
  })

  const sib = (libc: string) =>
    tarGz([{ name: `sib-v1.0.0-x86_64-unknown-linux-${libc}/sib`, content: toolScript("sib", "1.0.0", libc), mode: 0o755 }])
  serveGitHub(server, {
    base: "/api/v3",
    repo: "acme/sibling",
    pageSize: 100,
    releases: [{
      tag: "v1.0.0",
      assets: [
        { name: "sib-v1.0.0-x86_64-unknown-linux-musl.tar.gz", body: await sib("musl") },
        { name: "sib-v1.0.0-x86_64-unknown-linux-gnu.tar.gz", body: await sib("gnu") }
      ]
    }]
  })
  const limit = { "x-ratelimit-limit": "60", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1700000000" }
  serveError(server, "/api/v3/repos/acme/limited/releases/latest", 403, "API rate limit exceeded for 127.0.0.1.", limit)
  // A registry searched before the folder: it has its own rawtool (served from /raw2) and no hello.
  server.route("/aqua2/registry.yaml", `packages:
  - type: http
    name: acme/rawtool
    url: ${server.url}/raw2/rawtool-{{.Version}}
    format: raw
`)
  server.route("/raw2/rawtool-3.0.0", toolScript("rawtool", "3.0.0", "second registry"))

  registryDir = tempDir("aqua-registry")
  const write = (rel: string, body: string) => {
    fs.mkdirSync(path.dirname(path.join(registryDir, rel)), { recursive: true })
    fs.writeFileSync(path.join(registryDir, rel), body)
  }
  write("pkgs/acme/hello/registry.yaml", `packages:${HELLO}`)
  write("registry.yaml", `packages:${HELLO}${tools(server.url)}`)
  server.route("/aqua/registry.yaml", `packages:${HELLO}${tools(server.url)}`)
  server.route("/aquadir/pkgs/acme/hello/registry.yaml", `packages:${HELLO}`)
})

const settings = () => ({ "aqua.registry_url": registryDir })
const ctx = (platform = { os: "linux", arch: "x64" }) => h.ctx({ settings: settings(), platform })
const run = (installed: { readonly dir: string }, rel: string) => execFileSync(path.join(installed.dir, rel), { encoding: "utf8" })

describe("aqua versions", () => {
  it("lists the releases as aqua reads their tags: constraint, version_overrides and version_filter applied", async () => {
    const backend = await h.backend()
    // v0.1.0 matches neither the package's constraint nor its override's; nightly-2026 fails version_filter.
    expect(await h.run(backend.listVersions(h.tool("acme/hello"), ctx()))).toEqual(["0.9.0", "1.0.0", "1.1.0", "2.0.0-rc.1"])
  })

  it("resolves latest through GitHub's latest release, prefixes to the newest stable match", async () => {
    const backend = await h.backend()
    const resolve = (version: string, options = {}) => h.run(backend.resolveVersion!(h.tool("acme/hello", version, options), ctx()))
    expect(await resolve("latest")).toBe("1.1.0")
    expect(h.server().hits("/api/v3/repos/acme/hello/releases/latest")).toBe(1)
    expect(await resolve("1.0")).toBe("1.0.0")
    expect(await resolve("0")).toBe("0.9.0")
    // A prefix prefers stable releases; a pre-release is reached by its full version.
    expect(await resolve("2.0.0-rc.1")).toBe("2.0.0-rc.1")
    expect(await resolve("latest", { prerelease: true })).toBe("2.0.0-rc.1")
    const e = await h.flip(backend.resolveVersion!(h.tool("acme/hello", "5"), ctx()))
    expect(e.message).toBe("aqua:acme/hello@5: no version matches (available: 0.9.0, 1.0.0, 1.1.0, 2.0.0-rc.1)")
  })

  it("finds a package by its alias through the merged registry.yaml", async () => {
    const backend = await h.backend()
    expect(await h.run(backend.listVersions(h.tool("acme/hi"), ctx()))).toContain("1.1.0")
  })

  it("searches aqua.registries in order, the first that has the package wins", async () => {
    const backend = await h.backend()
    const c = h.ctx({ settings: { "aqua.registries": [`${h.server().url}/aqua2/registry.yaml`, registryDir], "aqua.registry_url": "/ignored" } })
    const installed = await h.install(backend, h.resolved(h.tool("acme/rawtool", "3.0.0"), "3.0.0"), c)
    expect(run(installed, "rawtool")).toBe("rawtool 3.0.0 second registry\n")
    expect(await h.run(backend.resolveVersion!(h.tool("acme/hello", "1.0"), c))).toBe("1.0.0")
    const relative = await h.flip(backend.listVersions(h.tool("acme/hello"), h.ctx({ env: { MISE_AQUA_REGISTRIES: "registry.yaml" } })))
    expect(relative.message).toBe(
      "aqua:acme/hello@latest: aqua registry \"registry.yaml\" is a relative path; give an absolute path, a file:// URL or an http(s) URL"
    )
  })

  it("reads pkgs/<owner>/<repo>/registry.yaml under an http base URL, and a file:// URL", async () => {
    const backend = await h.backend()
    const overHttp = h.ctx({ settings: { "aqua.registry_url": `${h.server().url}/aquadir/` } })
    expect(await h.run(backend.resolveVersion!(h.tool("acme/hello", "1.0"), overHttp))).toBe("1.0.0")
    expect(h.server().hits("/aquadir/registry.yaml")).toBe(0)
    const overFile = h.ctx({ env: { MISE_AQUA_REGISTRY_URL: `file://${registryDir}` } })
    expect(await h.run(backend.resolveVersion!(h.tool("acme/hello", "0.9"), overFile))).toBe("0.9.0")
  })

  it("reads a merged registry.yaml over http", async () => {
    const backend = await h.backend()
    const c = h.ctx({ settings: {}, env: { MISE_AQUA_REGISTRY_URL: `${h.server().url}/aqua/registry.yaml` } })
    expect(await h.run(backend.resolveVersion!(h.tool("acme/hello", "1.0"), c))).toBe("1.0.0")
  })
})

describe("aqua install", () => {
  it("installs the asset the templates name, verified against the registry's checksum file, with files linked", async () => {
    const backend = await h.backend()
    const installed = await h.install(backend, h.resolved(h.tool("acme/hello", "1.1.0"), "1.1.0"), ctx())
    expect(installed.tree).toEqual([
      "d hello_1.1.0_linux_amd64",
      "f hello_1.1.0_linux_amd64/LICENSE 644",
      "d hello_1.1.0_linux_amd64/bin",
      "l hello_1.1.0_linux_amd64/bin/hello -> hello-cli",
      "f hello_1.1.0_linux_amd64/bin/hello-cli 755"
    ])
    expect(installed.bins).toEqual(["hello_1.1.0_linux_amd64/bin"])
    expect(run(installed, "hello_1.1.0_linux_amd64/bin/hello")).toBe("hello 1.1.0 linux-amd64\n")
    expect(h.server().hits("/acme/hello/releases/download/v1.1.0/hello_1.1.0_checksums.txt")).toBeGreaterThan(0)
  })

  it("takes the version_override's asset, format and files for an old version", async () => {
    const backend = await h.backend()
    const installed = await h.install(backend, h.resolved(h.tool("acme/hello", "0.9.0"), "0.9.0"), ctx())
    expect(installed.tree).toEqual(["f hello 755"])
    expect(installed.bins).toEqual(["."])
    expect(run(installed, "hello")).toBe("hello 0.9.0 old-zip\n")
  })

  it("applies the linux/arm64 override's replacements", async () => {
    const backend = await h.backend()
    const installed = await h.install(backend, h.resolved(h.tool("acme/hello", "1.0.0"), "1.0.0"), ctx({ os: "linux", arch: "arm64" }))
    expect(installed.bins).toEqual(["hello_1.0.0_linux_aarch64/bin"])
    expect(fs.readFileSync(path.join(installed.dir, "hello_1.0.0_linux_aarch64/bin/hello"), "utf8")).toBe(toolScript("hello", "1.0.0", "linux-aarch64"))
  })

  it("prefers the glibc build beside the musl asset the registry names, as mise does, and links it into .mise-bins", async () => {
    const backend = await h.backend()
    const installed = await h.install(backend, h.resolved(h.tool("acme/sibling"), "1.0.0"), ctx())
    // The override for musl systems (a libc variant) does not apply to a glibc image.
    expect(installed.tree).toEqual([
      "d .mise-bins",
      "l .mise-bins/sib -> ../sib-v1.0.0-x86_64-unknown-linux-gnu/sib",
      "d sib-v1.0.0-x86_64-unknown-linux-gnu",
      "f sib-v1.0.0-x86_64-unknown-linux-gnu/sib 755"
    ])
    expect(installed.bins).toEqual([".mise-bins"])
    expect(run(installed, ".mise-bins/sib")).toBe("sib 1.0.0 gnu\n")
  })

  it("puts only the registry's files on PATH with symlink_bins", async () => {
    const backend = await h.backend()
    const installed = await h.install(backend, h.resolved(h.tool("acme/hello", "1.1.0", { symlink_bins: true }), "1.1.0"), ctx())
    expect(installed.bins).toEqual([".mise-bins"])
    expect(installed.tree).toContain("l .mise-bins/hello -> ../hello_1.1.0_linux_amd64/bin/hello")
    expect(run(installed, ".mise-bins/hello")).toBe("hello 1.1.0 linux-amd64\n")
  })

  it("installs an http package at the release's tag, verified with a regexp checksum file", async () => {
    const backend = await h.backend()
    const tool = h.tool("acme/webtool")
    const version = await h.run(backend.resolveVersion!(tool, ctx()))
    expect(version).toBe("1.1.0")
    const installed = await h.install(backend, h.resolved(tool, version), ctx())
    expect(installed.tree).toEqual(["d webtool-1.1.0", "f webtool-1.1.0/webtool 755"])
    expect(installed.bins).toEqual(["webtool-1.1.0"])
    expect(run(installed, "webtool-1.1.0/webtool")).toBe("webtool 1.1.0 http\n")
  })

  it("installs a raw http download without a repository at the version given", async () => {
    const backend = await h.backend()
    const tool = h.tool("acme/rawtool", "3.0.0")
    expect(await h.run(backend.resolveVersion!(tool, ctx()))).toBe("3.0.0")
    const installed = await h.install(backend, h.resolved(tool, "3.0.0"), ctx())
    expect(installed.tree).toEqual(["f rawtool 755"])
    expect(installed.bins).toEqual(["."])
    expect(run(installed, "rawtool")).toBe("rawtool 3.0.0 raw\n")
    const e = await h.flip(backend.resolveVersion!(h.tool("acme/rawtool"), ctx()))
    expect(e.message).toBe("aqua:acme/rawtool@latest: aqua package acme/rawtool names no repo_owner/repo_name to list versions from; give an exact version")
  })
})

describe("aqua github_archive and github_content", () => {
  it("unpacks the tag's source archive and links the script the registry names", async () => {
    const backend = await h.backend()
    const installed = await h.install(backend, h.resolved(h.tool("acme/hello-src"), "1.1.0"), ctx())
    expect(installed.tree).toEqual(["d hello-1.1.0", "l hello-1.1.0/greet -> greet.sh", "f hello-1.1.0/greet.sh 755"])
    expect(installed.bins).toEqual(["hello-1.1.0"])
    expect(run(installed, "hello-1.1.0/greet")).toBe("greet 1.1.0 archive\n")
  })

  it("takes versions from git tags with version_source github_tag", async () => {
    const backend = await h.backend()
    const before = h.server().hits("/api/v3/repos/acme/hello/releases/latest")
    expect(await h.run(backend.listVersions(h.tool("acme/tagged"), ctx()))).toEqual(["nightly", "1.0.0", "1.1.0"])
    expect(await h.run(backend.resolveVersion!(h.tool("acme/tagged"), ctx()))).toBe("1.1.0")
    expect(h.server().hits("/api/v3/repos/acme/hello/releases/latest")).toBe(before)
    const installed = await h.install(backend, h.resolved(h.tool("acme/tagged"), "1.1.0"), ctx())
    // Without `files`, the executable is named after the package.
    expect(installed.tree).toEqual(["f tagged 755"])
  })

  it("installs one file of the tagged tree under the files name", async () => {
    const backend = await h.backend()
    const installed = await h.install(backend, h.resolved(h.tool("acme/greet"), "1.1.0"), ctx())
    expect(installed.tree).toEqual(["f greet 755"])
    expect(installed.bins).toEqual(["."])
    expect(run(installed, "greet")).toBe("greet 1.1.0 content\n")
  })
})

describe("aqua errors", () => {
  it("says what to set when no registry is configured", async () => {
    const backend = await h.backend()
    const e = await h.flip(backend.listVersions(h.tool("acme/hello"), h.ctx()))
    expect(e.message).toBe(
      "aqua:acme/hello@latest: no aqua registry is configured (the engine ships none); set aqua.registry_url " +
        "(env MISE_AQUA_REGISTRY_URL) or aqua.registries (env MISE_AQUA_REGISTRIES, comma-separated) in [settings] to an " +
        "aqua-registry checkout, a registry.yaml, or the http(s) URL of either"
    )
  })

  it("names the registries searched for an unknown package", async () => {
    const backend = await h.backend()
    const e = await h.flip(backend.listVersions(h.tool("acme/nope"), ctx()))
    expect(e.message).toBe(
      `aqua:acme/nope@latest: package acme/nope is not in the aqua registry (searched ${registryDir}); check the name: ` +
        "aqua packages are named <owner>/<repo> as in pkgs/<owner>/<repo>/registry.yaml"
    )
  })

  it("reports a registry URL that answers 404", async () => {
    const backend = await h.backend()
    const url = `${h.server().url}/missing/registry.yaml`
    const e = await h.flip(backend.listVersions(h.tool("acme/hello"), h.ctx({ settings: { "aqua.registry_url": url } })))
    expect(e.message).toBe(`aqua:acme/hello@latest: aqua registry ${url} does not exist (HTTP 404 or no such file)`)
  })

  it("fails on a checksum mismatch and leaves the install dir empty", async () => {
    const backend = await h.backend()
    const { message, tree } = await h.installError(backend, h.resolved(h.tool("acme/tampered", "1.0.0"), "1.0.0"), ctx())
    expect(message).toMatch(/^aqua:acme\/tampered@1\.0\.0: checksum mismatch for http:\/\/127\.0\.0\.1:\d+\/acme\/tampered\/releases\/download\/1\.0\.0\/tampered_1\.0\.0_linux_amd64\.tar\.gz: expected sha256:0{64}, got sha256:[0-9a-f]{64} \(the checksum is from http:\/\/127\.0\.0\.1:\d+\/acme\/tampered\/releases\/download\/1\.0\.0\/checksums\.txt\)/)
    expect(tree).toEqual([])
  })

  it("refuses a platform outside supported_envs", async () => {
    const backend = await h.backend()
    const { message } = await h.installError(backend, h.resolved(h.tool("acme/hello", "1.1.0"), "1.1.0"), ctx({ os: "windows", arch: "x64" }))
    expect(message).toBe("aqua:acme/hello@1.1.0: aqua package acme/hello has no asset for windows/amd64 (its supported_envs: linux, darwin)")
  })

  it("names the asset it looked for when the release has none for the platform", async () => {
    const backend = await h.backend()
    const { message } = await h.installError(backend, h.resolved(h.tool("acme/hello", "1.1.0"), "1.1.0"), ctx({ os: "macos", arch: "x64" }))
    expect(message).toBe(
      "aqua:acme/hello@1.1.0: release v1.1.0 of acme/hello has no asset hello_1.1.0_darwin_amd64.tar.gz (the aqua registry's asset for " +
        "darwin/amd64); its assets: hello_1.1.0_linux_amd64.tar.gz, hello_1.1.0_linux_aarch64.tar.gz, hello_1.1.0_darwin_arm64.tar.gz, " +
        "hello_1.1.0_checksums.txt"
    )
  })

  it("reports a download that answers 404", async () => {
    const backend = await h.backend()
    const { message } = await h.installError(backend, h.resolved(h.tool("acme/gone", "1.0.0"), "1.0.0"), ctx())
    expect(message).toMatch(/^aqua:acme\/gone@1\.0\.0: download of http:\/\/127\.0\.0\.1:\d+\/nowhere\/gone-1\.0\.0\.tar\.gz failed: HTTP 404 Not Found; the aqua registry's url for acme\/gone does not exist for 1\.0\.0$/)
  })

  it("turns GitHub's rate limit into a message that says to set GITHUB_TOKEN", async () => {
    const backend = await h.backend()
    const e = await h.flip(backend.resolveVersion!(h.tool("acme/limited"), ctx()))
    expect(e.message).toBe(
      `aqua:acme/limited@latest: GitHub API rate limit exceeded (HTTP 403 from ${h.server().url}/api/v3/repos/acme/limited/releases/latest; ` +
        "it resets at 2023-11-14T22:13:20Z); set GITHUB_TOKEN to a token to raise the limit"
    )
  })

  it("warns about a constraint beyond the supported expr subset instead of reading it as false in silence", async () => {
    const backend = await h.backend()
    const c = ctx() as ReturnType<typeof ctx> & { readonly warnings: ReadonlyArray<string> }
    expect(await h.run(backend.listVersions(h.tool("acme/fancy"), c))).toEqual([])
    expect(c.warnings).toEqual([
      "aqua:acme/fancy: the aqua registry entry of acme/fancy has an expression the engine cannot evaluate " +
        "(unexpected \">\" in Version > \"v1.0.0\"); it counts as false"
    ])
  })

  it("points go_install packages at the go backend", async () => {
    const backend = await h.backend()
    const { message } = await h.installError(backend, h.resolved(h.tool("acme/gotool", "1.0.0"), "1.0.0"), ctx())
    expect(message).toBe("aqua:acme/gotool@1.0.0: aqua package acme/gotool is of type go_install, which the aqua backend does not install; use the go backend instead")
  })
})

describe("engine build with an aqua tool", () => {
  let work = ""
  let out = ""
  let result: RunResult

  beforeAll(async () => {
    work = tempDir("aqua-e2e")
    const project = path.join(work, "project")
    fs.mkdirSync(project, { recursive: true })
    fs.writeFileSync(
      path.join(project, "mise.toml"),
      `[settings]
aqua.registry_url = "${registryDir}"

[tools]
"aqua:acme/hello" = { version = "1.1", api_url = "${h.server().url}/api/v3" }
`
    )
    out = path.join(project, "out")
    result = await engine(["build", "--from", "scratch", "--no-mise", "-o", out, "-t", "e2e"], {
      cwd: project,
      env: {
        HOME: path.join(work, "home"),
        ENGINE_DATA_DIR: path.join(work, "data"),
        ENGINE_CACHE_DIR: path.join(work, "cache"),
        SOURCE_DATE_EPOCH: "1700000000"
      }
    })
    return () => fs.rmSync(work, { recursive: true, force: true })
  })

  it("builds a layout skopeo reads whose PATH runs the tool from the unpacked rootfs", () => {
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toContain("aqua:acme/hello@1.1.0")
    const arch = process.arch === "arm64" ? "aarch64" : "amd64"
    const config = skopeoInspect(out, true) as { config: { Env: ReadonlyArray<string> } }
    const pathVar = config.config.Env.find((e) => e.startsWith("PATH="))!.slice("PATH=".length)
    const binDir = `/mise/installs/aqua-acme-hello/1.1.0/hello_1.1.0_linux_${arch}/bin`
    expect(pathVar.split(":")).toContain(binDir)
    const rootfs = umociUnpack(out, "e2e")
    expect(fs.readlinkSync(path.join(rootfs, binDir, "hello"))).toBe("hello-cli")
    const rebased = pathVar.split(":").filter((p) => p.startsWith("/mise/")).map((p) => path.join(rootfs, p))
    const ran = execFileSync("sh", ["-c", "hello"], { encoding: "utf8", env: { PATH: [...rebased, "/usr/bin", "/bin"].join(":") } })
    expect(ran).toBe(`hello 1.1.0 linux-${arch}\n`)
  })

  it("fails with exit code 4 and says what to set when no aqua registry is configured", async () => {
    const project = path.join(work, "unset")
    fs.mkdirSync(project, { recursive: true })
    fs.writeFileSync(path.join(project, "mise.toml"), `[tools]\n"aqua:acme/hello" = "1.1"\n`)
    const r = await engine(["build", "--from", "scratch", "--no-mise", "-o", path.join(project, "out")], {
      cwd: project,
      env: { HOME: path.join(project, "home"), ENGINE_DATA_DIR: path.join(project, "data"), ENGINE_CACHE_DIR: path.join(project, "cache") }
    })
    expect(r.code).toBe(4)
    expect(r.stderr).toContain("aqua:acme/hello@1.1: no aqua registry is configured (the engine ships none); set aqua.registry_url")
    expect(fs.existsSync(path.join(project, "out"))).toBe(false)
  })
})
