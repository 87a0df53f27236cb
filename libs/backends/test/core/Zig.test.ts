import { execFileSync } from "node:child_process"
import * as path from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { type Member, tarXz } from "../support/Fixtures"
import { sha256Hex, useHarness } from "./Harness"

const h = useHarness("zig")

// ziglang.org's tarball: one `zig-linux-x86_64-<version>/` directory with `zig` at its top (a script here).
const zigTree = (version: string): ReadonlyArray<Member> => {
  const top = `zig-linux-x86_64-${version}`
  return [
    { name: `${top}/`, type: "directory" },
    { name: `${top}/zig`, content: `#!/bin/sh\necho "${version}"\n`, mode: 0o755 },
    { name: `${top}/LICENSE`, content: "MIT\n" },
    { name: `${top}/lib/std/std.zig`, content: "// std\n" }
  ]
}

const DEV = "0.14.0-dev.2577+271452d22"
let index = ""

beforeAll(async () => {
  const server = h.server()
  const z0130 = await tarXz(zigTree("0.13.0"))
  const z0121 = await tarXz(zigTree("0.12.1"))
  const dev = await tarXz(zigTree(DEV))
  const build = (version: string, bytes: Buffer | undefined, dir = `download/${version}`) => ({
    tarball: `${server.url}/${dir}/zig-linux-x86_64-${version}.tar.xz`,
    shasum: bytes === undefined ? "0".repeat(64) : sha256Hex(bytes),
    size: String(bytes?.length ?? 1)
  })
  server.route("/download/index.json", JSON.stringify({
    master: { version: DEV, date: "2025-01-05", "x86_64-linux": build(DEV, dev, "builds") },
    "0.13.0": {
      date: "2024-06-07",
      docs: "https://ziglang.org/documentation/0.13.0/",
      src: { tarball: "https://ziglang.org/download/0.13.0/zig-0.13.0.tar.xz", shasum: "a".repeat(64), size: "17220728" },
      "x86_64-linux": build("0.13.0", z0130),
      "aarch64-macos": { tarball: "https://ziglang.org/download/0.13.0/zig-macos-aarch64-0.13.0.tar.xz", shasum: "b".repeat(64), size: "1" }
    },
    // 0.12.1's tarball is served with other bytes than the index's shasum vouches for.
    "0.12.1": { date: "2024-06-08", "x86_64-linux": build("0.12.1", undefined) },
    "0.11.0": { date: "2023-08-04", "x86_64-linux": build("0.11.0", z0130) }
  }))
  server.route("/download/0.13.0/zig-linux-x86_64-0.13.0.tar.xz", z0130)
  server.route("/download/0.12.1/zig-linux-x86_64-0.12.1.tar.xz", z0121)
  server.route(`/builds/zig-linux-x86_64-${DEV}.tar.xz`, dev)
  // A community mirror serves the same files by name, flat.
  server.route("/community/zig-linux-x86_64-0.13.0.tar.xz", z0130)
  index = `${server.url}/download/index.json`
})

const settings = (more: Record<string, unknown> = {}) => ({ "zig.index_url": index, ...more })

describe("core zig", () => {
  it("lists index.json's keys (master too, as mise does); latest and prefixes skip master; master resolves to the dev build", async () => {
    const ctx = h.ctx(settings())
    expect(await h.versions("zig", ctx)).toEqual(["master", "0.11.0", "0.12.1", "0.13.0"])
    expect(await h.resolve("zig", "latest", ctx)).toBe("0.13.0")
    expect(await h.resolve("zig", "0.12", ctx)).toBe("0.12.1")
    expect(await h.resolve("zig", "master", ctx)).toBe(DEV)
  })

  it("installs the tarball the index names, checked with its shasum; bin/zig -> ../zig", async () => {
    const out = await h.install("zig", "0.13.0", h.ctx(settings()))
    expect(out.tree).toEqual([
      "f LICENSE 644",
      "d bin",
      "l bin/zig -> ../zig",
      "d lib",
      "d lib/std",
      "f lib/std/std.zig 644",
      "f zig 755"
    ])
    expect(execFileSync(path.join(out.dir, "bin", "zig"), ["version"], { encoding: "utf8" })).toBe("0.13.0\n")
    expect(out.bins).toEqual(["bin"])
    expect(out.env).toEqual([])
  })

  it("the resolved master build installs from its entry", async () => {
    const out = await h.install("zig", DEV, h.ctx(settings()))
    expect(execFileSync(path.join(out.dir, "bin", "zig"), ["version"], { encoding: "utf8" })).toBe(`${DEV}\n`)
  })

  it("zig.download_mirror fetches the file by name from a community-style mirror", async () => {
    const before = h.server().hits("/download/0.13.0/zig-linux-x86_64-0.13.0.tar.xz")
    await h.install("zig", "0.13.0", h.ctx({}, { MISE_ZIG_INDEX_URL: index, MISE_ZIG_DOWNLOAD_MIRROR: `${h.server().url}/community/` }))
    expect(h.server().hits("/community/zig-linux-x86_64-0.13.0.tar.xz")).toBe(1)
    expect(h.server().hits("/download/0.13.0/zig-linux-x86_64-0.13.0.tar.xz")).toBe(before)
  })

  it("errors: checksum mismatch, missing tarball, no build for this platform", async () => {
    expect((await h.installError("zig", "0.12.1", h.ctx(settings()))).message).toMatch(
      /^zig@0\.12\.1: checksum mismatch for .*\/download\/0\.12\.1\/zig-linux-x86_64-0\.12\.1\.tar\.xz: expected sha256:0{64}, got sha256:[0-9a-f]{64}$/
    )
    expect((await h.installError("zig", "0.11.0", h.ctx(settings()))).message).toBe(
      `zig@0.11.0: download of ${h.server().url}/download/0.11.0/zig-linux-x86_64-0.11.0.tar.xz failed: HTTP 404 Not Found ` +
        "(the mirror is set by zig.download_mirror (MISE_ZIG_DOWNLOAD_MIRROR))"
    )
    expect((await h.installError("zig", "0.13.0", h.ctx(settings(), {}, { os: "linux", arch: "arm64" }))).message).toBe(
      `zig@0.13.0: no build for aarch64-linux in ${index} (builds: x86_64-linux, aarch64-macos)`
    )
  })
})
