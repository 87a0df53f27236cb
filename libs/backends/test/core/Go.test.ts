import { execFileSync } from "node:child_process"
import * as path from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { type Member, tarGz } from "../support/Fixtures"
import { sha256Hex, useHarness } from "./Harness"

const h = useHarness("go")

// Debian's go is not installed here, so bin/go is a script that prints what go1.22.1 prints; the tarball is laid out
// as dl.google.com packs it, under one `go/` directory.
const goTree = (version: string): ReadonlyArray<Member> => [
  { name: "go/", type: "directory" },
  { name: "go/VERSION", content: `go${version}\ntime 2024-03-01T19:36:19Z\n` },
  { name: "go/bin/", type: "directory" },
  { name: "go/bin/go", content: `#!/bin/sh\necho "go version go${version} linux/amd64"\n`, mode: 0o755 },
  { name: "go/bin/gofmt", content: "#!/bin/sh\n", mode: 0o755 },
  { name: "go/pkg/tool/linux_amd64/compile", content: "#!/bin/sh\n", mode: 0o755 }
]

let index = ""
let mirror = ""

const file = (version: string, os: string, arch: string, sha256: string) => ({
  filename: `go${version}.${os}-${arch}.tar.gz`,
  os,
  arch,
  version: `go${version}`,
  sha256,
  size: 1,
  kind: "archive"
})

beforeAll(async () => {
  const server = h.server()
  const go1221 = await tarGz(goTree("1.22.1"))
  const go1220 = await tarGz(goTree("1.22.0"))
  const go12014 = await tarGz(goTree("1.20.14"))
  // go.dev/dl/?mode=json&include=all, newest first; 1.21.13 is listed but its tarball is missing from the mirror.
  const releases = [
    { version: "go1.23rc1", stable: false, files: [file("1.23rc1", "linux", "amd64", "e".repeat(64))] },
    {
      version: "go1.22.1",
      stable: true,
      files: [
        { filename: "go1.22.1.src.tar.gz", os: "", arch: "", version: "go1.22.1", sha256: "f".repeat(64), size: 1, kind: "source" },
        file("1.22.1", "darwin", "arm64", "a".repeat(64)),
        file("1.22.1", "linux", "amd64", sha256Hex(go1221)),
        file("1.22.1", "linux", "arm64", "b".repeat(64)),
        { ...file("1.22.1", "windows", "amd64", "c".repeat(64)), filename: "go1.22.1.windows-amd64.zip" }
      ]
    },
    { version: "go1.22.0", stable: true, files: [file("1.22.0", "linux", "amd64", "0".repeat(64))] },
    { version: "go1.21.13", stable: true, files: [file("1.21.13", "linux", "amd64", "d".repeat(64))] },
    { version: "go1", stable: true, files: [] }
  ]
  server.route("/dl/", JSON.stringify(releases))
  server.route("/golang/go1.22.1.linux-amd64.tar.gz", go1221)
  server.route("/golang/go1.22.0.linux-amd64.tar.gz", go1220)
  // Not in the index (a pinned version): mise's `<tarball>.sha256` beside it is the checksum.
  server.route("/golang/go1.20.14.linux-amd64.tar.gz", go12014)
  server.route("/golang/go1.20.14.linux-amd64.tar.gz.sha256", `${sha256Hex(go12014)}\n`)
  index = `${server.url}/dl/?mode=json&include=all`
  mirror = `${server.url}/golang`
})

const settings = (more: Record<string, unknown> = {}) => ({ "go.index_url": index, "go.download_mirror": mirror, ...more })

describe("core go: versions from go.dev's download JSON", () => {
  it("lists releases without the go prefix, leaving out go1 and betas/rcs as mise does", async () => {
    expect(await h.versions("go", h.ctx(settings()))).toEqual(["1.21.13", "1.22.0", "1.22.1"])
  })

  it("resolves prefixes and latest", async () => {
    const ctx = h.ctx(settings())
    expect(await h.resolve("go", "1.22", ctx)).toBe("1.22.1")
    expect(await h.resolve("go", "1", ctx)).toBe("1.22.1")
    expect(await h.resolve("go", "latest", ctx)).toBe("1.22.1")
    expect(await h.resolve("go", "1.21", ctx)).toBe("1.21.13")
  })

  it("MISE_GO_INDEX_URL and MISE_GO_DOWNLOAD_MIRROR beat the settings", async () => {
    const ctx = h.ctx({ "go.index_url": `${h.server().url}/nowhere` }, { MISE_GO_INDEX_URL: index, MISE_GO_DOWNLOAD_MIRROR: mirror })
    expect(await h.resolve("go", "1.22", ctx)).toBe("1.22.1")
    const out = await h.install("go", "1.22.1", ctx)
    expect(execFileSync(path.join(out.dir, "bin", "go"), ["version"], { encoding: "utf8" })).toBe("go version go1.22.1 linux/amd64\n")
  })
})

describe("core go: install and exec env", () => {
  it("installs the tarball from go.download_mirror, verified with the index's sha256, `go/` stripped", async () => {
    const out = await h.install("go", "1.22.1", h.ctx(settings()))
    expect(out.tree).toEqual([
      "f VERSION 644",
      "d bin",
      "f bin/go 755",
      "f bin/gofmt 755",
      "d pkg",
      "d pkg/tool",
      "d pkg/tool/linux_amd64",
      "f pkg/tool/linux_amd64/compile 755"
    ])
    expect(execFileSync(path.join(out.dir, "bin", "go"), ["version"], { encoding: "utf8" })).toBe("go version go1.22.1 linux/amd64\n")
    expect(out.bins).toEqual(["bin"])
    // go.set_goroot defaults to true in mise 2026.9.15, so GOROOT is there too.
    expect(out.env).toEqual([["GOBIN", "<install>/bin"], ["GOROOT", "<install>"]])
  })

  it("GOBIN already set in the env: mise leaves it alone unless go.set_gobin = true; go.set_goroot = false drops GOROOT", async () => {
    expect((await h.install("go", "1.22.1", h.ctx(settings(), { GOBIN: "/home/me/go/bin" }))).env).toEqual([["GOROOT", "<install>"]])
    expect((await h.install("go", "1.22.1", h.ctx(settings({ "go.set_gobin": true }), { GOBIN: "/x" }))).env).toEqual([
      ["GOBIN", "<install>/bin"],
      ["GOROOT", "<install>"]
    ])
    expect((await h.install("go", "1.22.1", h.ctx(settings({ "go.set_gobin": false }), { MISE_GO_SET_GOROOT: "0" }))).env).toEqual([])
  })

  it("a version the index does not list is checked against <tarball>.sha256, as mise does", async () => {
    const out = await h.install("go", "1.20.14", h.ctx(settings()))
    expect(execFileSync(path.join(out.dir, "bin", "go"), ["version"], { encoding: "utf8" })).toBe("go version go1.20.14 linux/amd64\n")
    expect(h.server().hits("/golang/go1.20.14.linux-amd64.tar.gz.sha256")).toBe(1)
  })

  it("go.skip_checksum installs without a checksum", async () => {
    const out = await h.install("go", "1.22.0", h.ctx(settings({ "go.skip_checksum": true })))
    expect(execFileSync(path.join(out.dir, "bin", "go"), ["version"], { encoding: "utf8" })).toBe("go version go1.22.0 linux/amd64\n")
  })
})

describe("core go: errors a user can act on", () => {
  it("a tarball whose sha256 is not the index's", async () => {
    const e = await h.installError("go", "1.22.0", h.ctx(settings()))
    expect(e.message).toMatch(
      new RegExp(`^go@1\\.22\\.0: checksum mismatch for ${mirror}/go1\\.22\\.0\\.linux-amd64\\.tar\\.gz: expected sha256:0{64}, got sha256:[0-9a-f]{64}$`)
    )
  })

  it("a tarball missing from the mirror: the 404 and the setting", async () => {
    const e = await h.installError("go", "1.21.13", h.ctx(settings()))
    expect(e.message).toBe(
      `go@1.21.13: download of ${mirror}/go1.21.13.linux-amd64.tar.gz failed: HTTP 404 Not Found ` +
        "(the mirror is set by go.download_mirror (MISE_GO_DOWNLOAD_MIRROR))"
    )
  })

  it("no build for this platform: the ones the release has", async () => {
    const e = await h.installError("go", "1.22.1", h.ctx(settings(), {}, { os: "linux", arch: "riscv64" }))
    expect(e.message).toBe(
      `go@1.22.1: no build for linux-riscv64: go1.22.1.linux-riscv64.tar.gz is not in ${index} (builds: darwin-arm64, linux-amd64, linux-arm64)`
    )
  })

  it("an unreachable index", async () => {
    const e = await h.resolveError("go", "1.22", h.ctx({ "go.index_url": `${h.server().url}/nowhere` }))
    expect(e.message).toBe(
      `go@1.22: request to ${h.server().url}/nowhere failed: HTTP 404 Not Found (the index is set by go.index_url (MISE_GO_INDEX_URL))`
    )
  })
})
