import { execFileSync } from "node:child_process"
import * as path from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { zipBytes } from "../support/Fixtures"
import { sha256Hex, useHarness } from "./Harness"

const h = useHarness("deno")

const asset = "deno-x86_64-unknown-linux-gnu.zip"
// dl.deno.land's zip holds the single `deno` executable; here a script printing what `deno --version` prints first.
const denoZip = (version: string) =>
  zipBytes([{ name: "deno", content: `#!/bin/sh\necho "deno ${version} (stable, release, x86_64-unknown-linux-gnu)"\n`, mode: 0o755 }])

let index = ""
let mirror = ""

beforeAll(() => {
  const server = h.server()
  server.route("/versions.json", JSON.stringify({ cli: ["v2.2.0-rc.1", "v2.1.4", "v2.0.6", "v1.46.3", "nightly"], std: ["0.224.0"] }))
  const v214 = denoZip("2.1.4")
  const v206 = denoZip("2.0.6")
  const v1463 = denoZip("1.46.3")
  server.route(`/release/v2.1.4/${asset}`, v214)
  // `shasum -a 256` output, as deno's release workflow writes it.
  server.route(`/release/v2.1.4/${asset}.sha256sum`, `${sha256Hex(v214)}  ${asset}\n`)
  server.route(`/release/v2.0.6/${asset}`, v206)
  server.route(`/release/v2.0.6/${asset}.sha256sum`, `${"0".repeat(64)}  ${asset}\n`)
  server.route(`/release/v1.46.3/${asset}`, v1463)
  index = `${server.url}/versions.json`
  mirror = `${server.url}/release`
})

const settings = () => ({ "deno.index_url": index, "deno.download_mirror": mirror })

describe("core deno", () => {
  it("lists deno.com's versions.json cli releases; latest skips the rc", async () => {
    const ctx = h.ctx(settings())
    expect(await h.versions("deno", ctx)).toEqual(["1.46.3", "2.0.6", "2.1.4", "2.2.0-rc.1"])
    expect(await h.resolve("deno", "latest", ctx)).toBe("2.1.4")
    expect(await h.resolve("deno", "2.0", ctx)).toBe("2.0.6")
    expect(await h.resolve("deno", "1", h.ctx({}, { MISE_DENO_INDEX_URL: index }))).toBe("1.46.3")
  })

  it("installs the zip from the mirror, checked against its .sha256sum, into bin/deno; DENO_INSTALL_ROOT as mise sets it", async () => {
    const out = await h.install("deno", "2.1.4", h.ctx(settings()))
    expect(out.tree).toEqual(["d bin", "f bin/deno 755"])
    expect(execFileSync(path.join(out.dir, "bin", "deno"), ["--version"], { encoding: "utf8" })).toBe(
      "deno 2.1.4 (stable, release, x86_64-unknown-linux-gnu)\n"
    )
    expect(out.bins).toEqual(["bin", ".deno/bin"])
    expect(out.env).toEqual([["DENO_INSTALL_ROOT", "<install>/.deno"]])
  })

  it("a release without a .sha256sum installs with a warning", async () => {
    const out = await h.install("deno", "1.46.3", h.ctx(settings()))
    expect(out.ctx.warnings).toEqual([
      `deno@1.46.3: no sha256 published at ${mirror}/v1.46.3/${asset}.sha256sum; installing without checksum verification`
    ])
  })

  it("errors: checksum mismatch, missing zip, no build for this platform", async () => {
    expect((await h.installError("deno", "2.0.6", h.ctx(settings()))).message).toMatch(
      new RegExp(`^deno@2\\.0\\.6: checksum mismatch for ${mirror}/v2\\.0\\.6/${asset}: expected sha256:0{64}, got sha256:[0-9a-f]{64}$`)
    )
    expect((await h.installError("deno", "2.2.0-rc.1", h.ctx(settings()))).message).toBe(
      `deno@2.2.0-rc.1: download of ${mirror}/v2.2.0-rc.1/${asset} failed: HTTP 404 Not Found ` +
        "(the mirror is set by deno.download_mirror (MISE_DENO_DOWNLOAD_MIRROR))"
    )
    expect((await h.installError("deno", "2.1.4", h.ctx(settings(), {}, { os: "linux", arch: "riscv64" }))).message).toBe(
      `deno@2.1.4: download of ${mirror}/v2.1.4/deno-riscv64-unknown-linux-gnu.zip failed: HTTP 404 Not Found ` +
        "(the mirror is set by deno.download_mirror (MISE_DENO_DOWNLOAD_MIRROR))"
    )
  })
})
