import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { useHarness } from "./Harness"
import { buildNodeTarball, NODE_VERSION, serveNodeMirror, tarballName } from "./NodeMirror"

const h = useHarness("node")
const MAJOR = Number(NODE_VERSION.split(".")[0])
let mirror = ""
let badMirror = ""

beforeAll(async () => {
  const tarball = await buildNodeTarball(h.root())
  mirror = serveNodeMirror(h.server(), "/dist/", tarball)
  badMirror = serveNodeMirror(h.server(), "/bad/", tarball, { wrongSum: true })
})

const viaSetting = () => h.ctx({ "node.mirror_url": mirror })

describe("core node: versions from <mirror>/index.json", () => {
  it("lists every release without the v, ascending", async () => {
    expect(await h.versions("node", viaSetting())).toEqual([
      `${MAJOR - 2}.20.4`,
      `${MAJOR}.1.0`,
      NODE_VERSION,
      `${MAJOR + 1}.7.3`,
      `${MAJOR + 2}.5.0`,
      `${MAJOR + 2}.12.0`,
      `${MAJOR + 3}.1.0`
    ])
  })

  it("resolves prefixes, latest and the LTS lines from the index's lts field", async () => {
    const ctx = viaSetting()
    expect(await h.resolve("node", String(MAJOR), ctx)).toBe(NODE_VERSION)
    expect(await h.resolve("node", "latest", ctx)).toBe(`${MAJOR + 3}.1.0`)
    expect(await h.resolve("node", "lts", ctx)).toBe(`${MAJOR + 2}.12.0`)
    expect(await h.resolve("node", "lts/*", ctx)).toBe(`${MAJOR + 2}.12.0`)
    expect(await h.resolve("node", "lts/iron", ctx)).toBe(NODE_VERSION)
    expect(await h.resolve("node", "lts-hydrogen", ctx)).toBe(`${MAJOR - 2}.20.4`)
    expect(await h.resolve("node", `${MAJOR}.1`, ctx)).toBe(`${MAJOR}.1.0`)
  })

  it("names the known LTS lines when asked for another", async () => {
    expect((await h.resolveError("node", "lts/argon", viaSetting())).message).toBe(
      `node@lts/argon: no LTS release line "argon" in ${mirror}index.json (lines: jod, iron, hydrogen)`
    )
  })

  it("MISE_NODE_MIRROR_URL beats the setting, and a mirror without the trailing slash works", async () => {
    const ctx = h.ctx({ "node.mirror_url": `${h.server().url}/nowhere/` }, { MISE_NODE_MIRROR_URL: mirror.replace(/\/$/, "") })
    expect(await h.resolve("node", String(MAJOR), ctx)).toBe(NODE_VERSION)
  })

  it("with node.flavor lists only releases that have that build", async () => {
    expect(await h.versions("node", h.ctx({ "node.mirror_url": mirror, "node.flavor": "musl" }))).toEqual([`${MAJOR + 2}.12.0`])
  })
})

describe("core node: install", () => {
  it(`installs node = "${MAJOR}" from the mirror, verified against SHASUMS256.txt, and the real node runs from bin/`, async () => {
    const ctx = viaSetting()
    const version = await h.resolve("node", String(MAJOR), ctx)
    const out = await h.install("node", version, ctx)
    expect(out.tree).toEqual([
      "f README.md 644",
      "d bin",
      "f bin/node 755",
      "l bin/npm -> ../lib/node_modules/npm/bin/npm-cli.js",
      "d lib",
      "d lib/node_modules",
      "d lib/node_modules/npm",
      "d lib/node_modules/npm/bin",
      "f lib/node_modules/npm/bin/npm-cli.js 755"
    ])
    expect(execFileSync(path.join(out.dir, "bin", "node"), ["--version"], { encoding: "utf8" }).trim()).toBe(`v${NODE_VERSION}`)
    expect(out.bins).toEqual(["bin"])
    expect(out.env).toEqual([])
    expect(h.server().hits(`/dist/v${NODE_VERSION}/SHASUMS256.txt`)).toBeGreaterThan(0)
    // mise drops the download once installed.
    expect(fs.existsSync(path.join(ctx.downloadDir, "node", NODE_VERSION))).toBe(false)
  }, 30_000)
})

describe("core node: errors a user can act on", () => {
  it("a mirror without index.json: the 404, and which setting moves the mirror", async () => {
    const e = await h.resolveError("node", "20", h.ctx({ "node.mirror_url": `${h.server().url}/nowhere/` }))
    expect(e.message).toBe(
      `node@20: request to ${h.server().url}/nowhere/index.json failed: HTTP 404 Not Found ` +
        "(the mirror is set by node.mirror_url (MISE_NODE_MIRROR_URL))"
    )
    expect((e.cause as { _tag: string })._tag).toBe("DownloadError")
  })

  it("an index.json that is not nodejs.org's format", async () => {
    h.server().route("/odd/index.json", JSON.stringify({ versions: [] }))
    const e = await h.resolveError("node", "20", h.ctx({ "node.mirror_url": `${h.server().url}/odd/` }))
    expect(e.message).toMatch(new RegExp(`^node@20: ${h.server().url}/odd/index.json is not the document expected there`))
  })

  it("a tarball whose sha256 is not the one in SHASUMS256.txt", async () => {
    const e = await h.installError("node", NODE_VERSION, h.ctx({ "node.mirror_url": badMirror }))
    expect(e.message).toMatch(
      new RegExp(`^node@${NODE_VERSION}: checksum mismatch for ${badMirror}v${NODE_VERSION}/${tarballName}: expected sha256:0{64}, got sha256:[0-9a-f]{64}$`)
    )
  })

  it("no build for this platform: the builds SHASUMS256.txt has", async () => {
    const e = await h.installError("node", NODE_VERSION, h.ctx({ "node.mirror_url": mirror }, {}, { os: "linux", arch: "riscv64" }))
    expect(e.message).toBe(
      `node@${NODE_VERSION}: no build for linux-riscv64: node-v${NODE_VERSION}-linux-riscv64.tar.gz is not listed in ` +
        `${mirror}v${NODE_VERSION}/SHASUMS256.txt (builds: linux-arm64, linux-x64)`
    )
  })

  it("a version the mirror does not have", async () => {
    const e = await h.installError("node", "9.9.9", viaSetting())
    expect(e.message).toBe(
      `node@9.9.9: request to ${mirror}v9.9.9/SHASUMS256.txt failed: HTTP 404 Not Found (the mirror is set by node.mirror_url (MISE_NODE_MIRROR_URL))`
    )
  })

  it("no version matches the spec", async () => {
    expect((await h.resolveError("node", "99", viaSetting())).message).toMatch(/^node@99: no version matches \(available: /)
  })

  it("ref: versions (mise compiles those) are refused", async () => {
    expect((await h.resolveError("node", "ref:main", viaSetting())).message).toBe(
      `node@ref:main: building node from source is not supported; give a released version (e.g. "latest" or a prefix)`
    )
  })
})
