import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { engine, readLayout } from "./support/Cli"
import { makeEdgeTree, makeHelloTool } from "./support/Fixtures"
import { type FixtureServer, startFixtureServer } from "./support/FixtureServer"
import { ensureMise } from "./support/Mise"
import { skopeoInspect, umociUnpack } from "./support/Validate"

// One data dir, installed once (the http tool by the engine, the npm tool by the engine with the real npm, the edge
// tree by hand), built by both mise 2026.9.15 and the engine: the uncompressed layers and the config must agree.
let work: string
let server: FixtureServer
let mise: string
let data: string
let proj: string

const toml = () => `
[tools]
"http:hello" = { version = "1.0.0", url = "${server.url}/hello-{{ version }}.tar.gz", bin_path = "bin", strip_components = 1 }
"http:edge" = { version = "1.0.0", url = "http://127.0.0.1:9/unused.tar.gz" }
"npm:semver" = "7.6.0"

[env]
FOO = "bar"

[oci]
workdir = "/app"
entrypoint = ["/bin/sh", "-c"]
cmd = ["hello"]

[oci.env]
NODE_ENV = "production"

[oci.labels]
"com.example.team" = "tools"
`

beforeAll(async () => {
  mise = ensureMise()
  work = fs.mkdtempSync(path.join(os.tmpdir(), "engine-conformance-"))
  data = path.join(work, "data")
  const dist = path.join(work, "dist")
  fs.mkdirSync(dist)
  makeHelloTool(dist, "1.0.0")
  server = await startFixtureServer(dist)
  makeEdgeTree(path.join(data, "installs", "http-edge", "1.0.0"))
  proj = path.join(work, "proj")
  fs.mkdirSync(proj)
  fs.writeFileSync(path.join(proj, "mise.toml"), toml())
  const r = await engine(["install"], { cwd: proj, env: { MISE_DATA_DIR: data, ENGINE_CACHE_DIR: path.join(work, "cache"), HOME: path.join(work, "home") } })
  if (r.code !== 0) throw new Error(`engine install failed: ${r.stderr}`)
}, 600_000)

afterAll(async () => {
  await server?.close()
  if (work !== undefined) fs.rmSync(work, { recursive: true, force: true })
})

const miseBuild = (args: ReadonlyArray<string>, out: string) => {
  const r = spawnSync(mise, ["oci", "build", "--from", "scratch", "--no-mise", "--no-cache", "-o", out, ...args], {
    cwd: proj,
    encoding: "utf8",
    timeout: 300_000,
    env: {
      PATH: process.env.PATH,
      HOME: path.join(work, "home"),
      MISE_EXPERIMENTAL: "1",
      MISE_DATA_DIR: data,
      MISE_CACHE_DIR: path.join(work, "mise-cache"),
      MISE_CONFIG_DIR: path.join(work, "mise-config"),
      MISE_TRUSTED_CONFIG_PATHS: proj,
      MISE_NPM_PACKAGE_MANAGER: "npm",
      SOURCE_DATE_EPOCH: "1700000000"
    }
  })
  if (r.status !== 0) throw new Error(`mise oci build failed: ${r.stderr}`)
}

const engineBuild = async (args: ReadonlyArray<string>, out: string) => {
  const r = await engine(["build", "--from", "scratch", "--no-mise", "-o", out, ...args], {
    cwd: proj,
    env: { MISE_DATA_DIR: data, ENGINE_CACHE_DIR: path.join(work, "cache"), HOME: path.join(work, "home"), SOURCE_DATE_EPOCH: "1700000000" }
  })
  expect(r.code, r.stderr).toBe(0)
}

/** The config minus what names the builder: `author`, the source label and the builder-version label. */
const normalized = (configRaw: string) => {
  const c = JSON.parse(configRaw) as { author?: string; config: { Labels?: Record<string, string> }; rootfs: unknown }
  delete c.author
  for (const k of ["org.opencontainers.image.source", "dev.mise.version", "dev.engine.version"]) delete c.config.Labels?.[k]
  return c
}

describe("conformance with mise 2026.9.15 on the same installs", () => {
  for (const [name, args] of [["default", []], ["owner and mount point", ["--owner", "1000:1001", "--mount-point", "/opt/mise"]]] as const) {
    it(`${name}: equal diff_ids, annotations and config`, async () => {
      const mOut = path.join(work, `mise-${name.replace(/\W+/g, "-")}`)
      const eOut = path.join(work, `engine-${name.replace(/\W+/g, "-")}`)
      miseBuild(args, mOut)
      await engineBuild(args, eOut)
      const m = readLayout(mOut)
      const e = readLayout(eOut)
      expect(e.manifest.layers.map((l) => l.annotations)).toEqual(m.manifest.layers.map((l) => l.annotations))
      const configLayer = (l: typeof e) => l.config.rootfs.diff_ids.length - 1
      expect(e.config.rootfs.diff_ids.slice(0, configLayer(e))).toEqual(m.config.rootfs.diff_ids.slice(0, configLayer(m)))
      if (args.length === 0) {
        expect(normalized(e.configRaw)).toEqual(normalized(m.configRaw))
      } else {
        // mise's bug 4: with --owner it also chowns the shared `etc/` and `etc/mise/` dirs of the config layer; we don't.
        expect(e.config.rootfs.diff_ids[configLayer(e)]).not.toBe(m.config.rootfs.diff_ids[configLayer(m)])
        const { rootfs: _e, ...eRest } = normalized(e.configRaw)
        const { rootfs: _m, ...mRest } = normalized(m.configRaw)
        expect(eRest).toEqual(mRest)
      }
      expect(Object.keys(normalized(e.configRaw).config.Labels ?? {})).toEqual(Object.keys(normalized(m.configRaw).config.Labels ?? {}))
      expect(e.config.rootfs.diff_ids).toHaveLength(4)
      skopeoInspect(eOut)
    })
  }

  it("the engine's image unpacks with umoci and the npm tool runs from it", () => {
    const out = path.join(work, "engine-default")
    fs.writeFileSync(
      path.join(out, "index.json"),
      fs.readFileSync(path.join(out, "index.json"), "utf8").replace(
        /("digest": "sha256:[0-9a-f]{64}")/,
        '$1,\n      "annotations": {\n        "org.opencontainers.image.ref.name": "t"\n      }'
      )
    )
    const rootfs = umociUnpack(out, "t")
    const semver = path.join(rootfs, "mise", "installs", "npm-semver", "7.6.0", "bin", "semver")
    expect(fs.readlinkSync(semver)).toBe("../lib/node_modules/semver/bin/semver.js")
    const r = spawnSync(process.execPath, [semver, "1.2.3", "-r", ">=1"], { encoding: "utf8" })
    expect(r.stdout.trim()).toBe("1.2.3")
  })
})
