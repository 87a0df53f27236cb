import { execFileSync } from "node:child_process"
import * as path from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { bunAsset } from "../../src/core"
import { zipBytes } from "../support/Fixtures"
import { sha256Hex, useHarness } from "./Harness"

const h = useHarness("bun")

// Bun's release zip: `bun-<os>-<arch>/bun`; here a script printing the version as `bun --version` does.
const bunZip = (top: string, version: string) =>
  zipBytes([
    { name: `${top}/`, type: "directory" },
    { name: `${top}/bun`, content: `#!/bin/sh\necho "${version}"\n`, mode: 0o755 }
  ])

/** GitHub's releases API, 100 a page; the handler pages as GitHub does. */
const releases = [
  { tag_name: "canary", draft: false, prerelease: true, assets: [] },
  { tag_name: "bun-v1.2.0", draft: true, prerelease: false, assets: [] },
  { tag_name: "bun-v1.1.38", draft: false, prerelease: false, assets: [] },
  { tag_name: "bun-v1.1.0", draft: false, prerelease: false, assets: [] },
  ...Array.from({ length: 99 }, (_, i) => ({ tag_name: `bun-v1.0.${99 - i}`, draft: false, prerelease: false, assets: [] })),
  { tag_name: "bun-v0.8.1", draft: false, prerelease: false, assets: [] }
]

let index = ""
let mirror = ""

beforeAll(() => {
  const server = h.server()
  server.route("/repos/oven-sh/bun/releases", (req, res) => {
    const query = new URL(req.url ?? "/", "http://x").searchParams
    const perPage = Number(query.get("per_page") ?? "30")
    const page = Number(query.get("page") ?? "1")
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(releases.slice((page - 1) * perPage, page * perPage)))
  })
  // Both the AVX2 build and the baseline one, whichever this CPU gets.
  for (const top of ["bun-linux-x64", "bun-linux-x64-baseline"]) {
    const zip = bunZip(top, "1.1.38")
    server.route(`/download/bun-v1.1.38/${top}.zip`, zip)
    server.route(`/download/bun-v1.1.0/${top}.zip`, zip)
  }
  const x64 = bunZip("bun-linux-x64", "1.1.38")
  const baseline = bunZip("bun-linux-x64-baseline", "1.1.38")
  server.route(
    "/download/bun-v1.1.38/SHASUMS256.txt",
    `${sha256Hex(x64)}  bun-linux-x64.zip\n${sha256Hex(baseline)}  bun-linux-x64-baseline.zip\n${"a".repeat(64)}  bun-linux-aarch64.zip\n`
  )
  server.route("/download/bun-v1.1.0/SHASUMS256.txt", `${"0".repeat(64)}  bun-linux-x64.zip\n${"0".repeat(64)}  bun-linux-x64-baseline.zip\n`)
  index = `${server.url}/repos/oven-sh/bun/releases`
  mirror = `${server.url}/download`
})

const settings = () => ({ "bun.index_url": index, "bun.download_mirror": mirror })

describe("core bun", () => {
  it("lists bun-v* release tags across pages, drafts and canary left out", async () => {
    const versions = await h.versions("bun", h.ctx(settings()))
    expect(versions).toHaveLength(102)
    expect(versions.slice(0, 2)).toEqual(["0.8.1", "1.0.1"])
    expect(versions.slice(-2)).toEqual(["1.1.0", "1.1.38"])
    expect(await h.resolve("bun", "latest", h.ctx(settings()))).toBe("1.1.38")
    expect(await h.resolve("bun", "1.0", h.ctx(settings()))).toBe("1.0.99")
  })

  it("the asset names mise picks", () => {
    const ctx = h.ctx()
    expect(bunAsset(ctx, true)).toBe("bun-linux-x64.zip")
    expect(bunAsset(ctx, false)).toBe("bun-linux-x64-baseline.zip")
    expect(bunAsset(h.ctx({}, {}, { os: "linux", arch: "arm64" }), true)).toBe("bun-linux-aarch64.zip")
  })

  it("installs the zip, checked against SHASUMS256.txt: bin/bun and bin/bunx -> ./bun", async () => {
    const out = await h.install("bun", "1.1.38", h.ctx(settings()))
    expect(out.tree).toEqual(["d bin", "f bin/bun 755", "l bin/bunx -> ./bun"])
    expect(execFileSync(path.join(out.dir, "bin", "bunx"), ["--version"], { encoding: "utf8" })).toBe("1.1.38\n")
    expect(out.bins).toEqual(["bin"])
    expect(out.env).toEqual([])
  })

  it("errors: checksum mismatch, a release the mirror lacks, a GitHub API that refuses", async () => {
    expect((await h.installError("bun", "1.1.0", h.ctx(settings()))).message).toMatch(
      /^bun@1\.1\.0: checksum mismatch for .*\/download\/bun-v1\.1\.0\/bun-linux-x64(-baseline)?\.zip: expected sha256:0{64}, got sha256:[0-9a-f]{64}$/
    )
    expect((await h.installError("bun", "1.0.5", h.ctx(settings()))).message).toMatch(
      /^bun@1\.0\.5: download of .*\/download\/bun-v1\.0\.5\/bun-linux-x64(-baseline)?\.zip failed: HTTP 404 Not Found \(the mirror is set by bun\.download_mirror \(MISE_BUN_DOWNLOAD_MIRROR\)\)$/
    )
    h.server().route("/gone", (_req, res) => res.writeHead(404).end("{\"message\":\"Not Found\"}"))
    expect((await h.resolveError("bun", "1", h.ctx({ "bun.index_url": `${h.server().url}/gone` }))).message).toBe(
      `bun@1: request to ${h.server().url}/gone?per_page=100&page=1 failed: HTTP 404 Not Found (the list is set by bun.index_url (MISE_BUN_INDEX_URL))`
    )
  })

  it("GitHub's rate limit on the releases list says when it resets and which token to set", async () => {
    h.server().route("/limited", (_req, res) =>
      res.writeHead(403, { "content-type": "application/json", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1700000000" })
        .end("{\"message\":\"API rate limit exceeded for 127.0.0.1.\"}"))
    const limited = `${h.server().url}/limited`
    expect((await h.resolveError("bun", "1", h.ctx({ "bun.index_url": limited }))).message).toBe(
      `bun@1: GitHub API rate limit exceeded (HTTP 403 from ${limited}?per_page=100&page=1; it resets at 2023-11-14T22:13:20Z); ` +
        "set GITHUB_TOKEN to a token to raise the limit (the list is set by bun.index_url (MISE_BUN_INDEX_URL))"
    )
    expect(h.server().hits("/limited")).toBe(1)
    // A token goes to api.github.com only, so one in the env does not change what a mirror of the list says.
    h.server().route("/secondary", (_req, res) => res.writeHead(429, { "retry-after": "60" }).end("{\"message\":\"secondary rate limit\"}"))
    expect((await h.resolveError("bun", "1", h.ctx({ "bun.index_url": `${h.server().url}/secondary` }, { GITHUB_TOKEN: "t" }))).message).toBe(
      `bun@1: GitHub API rate limit exceeded (HTTP 429 from ${h.server().url}/secondary?per_page=100&page=1; it resets at 60s from now); ` +
        "set GITHUB_TOKEN to a token to raise the limit (the list is set by bun.index_url (MISE_BUN_INDEX_URL))"
    )
    expect(h.server().requests.filter((r) => r.path === "/secondary").map((r) => r.headers.authorization)).toEqual([undefined])
  })
})
