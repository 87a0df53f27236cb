import { spawn } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { engine, engineBin, readLayout } from "./support/Cli"
import { makeHelloTool, put } from "./support/Fixtures"
import { type FixtureServer, startFixtureServer } from "./support/FixtureServer"
import { skopeoInspect } from "./support/Validate"

// The build as a task graph over the local cache, observed from the outside: which tasks `--json` says ran,
// what the cache dir holds, and the bytes of the layouts.
let work: string
let server: FixtureServer

interface TaskRow {
  readonly task: string
  readonly id: string
  readonly kind: string
  readonly status: string
}
interface BuildJson {
  readonly manifestDigest: string
  readonly layers: ReadonlyArray<{ kind: string; tool?: string; digest: string }>
  readonly tasks: { readonly ran: number; readonly cached: number; readonly results: ReadonlyArray<TaskRow> }
}

const env = (name: string, extra: Record<string, string> = {}) => ({
  ENGINE_DATA_DIR: path.join(work, `data-${name}`),
  ENGINE_CACHE_DIR: path.join(work, `cache-${name}`),
  HOME: path.join(work, "home"),
  SOURCE_DATE_EPOCH: "1700000000",
  ...extra
})

const toml = (hello: string, workdir = "/app") => `
[tools]
"http:hello" = { version = "${hello}", url = "${server.url}/a/hello-{{ version }}.tar.gz", bin_path = "bin", strip_components = 1 }
"http:world" = { version = "2.0.0", url = "${server.url}/b/hello-{{ version }}.tar.gz", bin_path = "bin", strip_components = 1 }

[oci]
workdir = "${workdir}"
`

const BUILD = ["build", "--from", "scratch", "--no-mise", "-o", "out"]

/** Runs `engine build --json` and returns the parsed result; fails the test with stderr on a non-zero exit. */
const buildJson = async (dir: string, e: Record<string, string>, extra: ReadonlyArray<string> = []) => {
  const r = await engine([...BUILD, "--json", ...extra], { cwd: dir, env: e })
  expect(r.code, r.stderr).toBe(0)
  return { json: JSON.parse(r.stdout) as BuildJson, stderr: r.stderr }
}

const ran = (b: BuildJson) => b.tasks.results.filter((t) => t.status === "ran").map((t) => t.id).sort()
const byKind = (b: BuildJson, kind: string) => b.tasks.results.filter((t) => t.kind === kind)

beforeAll(async () => {
  work = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "engine-taskgraph-")))
  fs.mkdirSync(path.join(work, "home"))
  const dist = path.join(work, "dist")
  fs.mkdirSync(path.join(dist, "a"), { recursive: true })
  fs.mkdirSync(path.join(dist, "b"), { recursive: true })
  makeHelloTool(path.join(dist, "a"), "1.0.0")
  makeHelloTool(path.join(dist, "a"), "1.1.0")
  makeHelloTool(path.join(dist, "b"), "2.0.0")
  server = await startFixtureServer(dist)
})

afterAll(async () => {
  await server?.close()
  if (work !== undefined) fs.rmSync(work, { recursive: true, force: true })
})

describe("engine build: unchanged work never runs twice", () => {
  let dir: string
  const e = () => env("main")
  let first: BuildJson

  beforeAll(() => {
    dir = path.join(work, "proj")
    put(path.join(dir, "mise.toml"), toml("1.0.0"))
  })

  it("a cold build runs every task; the second build of the unchanged project runs none", async () => {
    first = (await buildJson(dir, e())).json
    expect(first.tasks.results.every((t) => t.status === "ran")).toBe(true)
    expect(ran(first)).toEqual([
      "config-layer",
      "install:http:hello",
      "install:http:world",
      "layout",
      "resolve:http:hello",
      "resolve:http:world",
      "tool-layer:http:hello",
      "tool-layer:http:world"
    ])
    const requests = server.requests.length
    const second = await buildJson(dir, e())
    expect(ran(second.json)).toEqual([])
    expect(byKind(second.json, "install").map((t) => t.status)).toEqual(["cached", "cached"])
    expect(byKind(second.json, "tool-layer").map((t) => t.status)).toEqual(["cached", "cached"])
    expect(second.json.manifestDigest).toBe(first.manifestDigest)
    expect(server.requests.length).toBe(requests)
    expect(second.stderr).toContain("[tool-layer] http:hello@1.0.0 ... cached")
    expect(second.stderr).toMatch(/^tasks: 0 ran, 8 cached \(saved \d+\.\ds\) in \d+\.\ds$/m)
  })

  it("the layout's layer blobs are hardlinks of the cache's", () => {
    const layer = first.layers.find((l) => l.tool === "http:hello")!
    const hex = layer.digest.slice("sha256:".length)
    const cached = fs.statSync(path.join(e().ENGINE_CACHE_DIR, "blobs", "sha256", hex))
    const out = fs.statSync(path.join(dir, "out", "blobs", "sha256", hex))
    expect(out.ino).toBe(cached.ino)
  })

  it("dry-run lists every task with its key and says all would hit, changing nothing", async () => {
    const before = fs.readFileSync(path.join(dir, "out", "index.json"), "utf8")
    const r = await engine([...BUILD, "--dry-run=json"], { cwd: dir, env: e() })
    expect(r.code, r.stderr).toBe(0)
    const plan = JSON.parse(r.stdout) as { tasks: Array<{ task: string; key?: string; status: string }>; hits: number; runs: number }
    expect(plan.tasks.map((t) => t.task)).toContain("tool-layer:http:hello@1.0.0")
    expect(plan.tasks.every((t) => t.status === "hit" && /^[0-9a-f]{64}$/.test(t.key ?? ""))).toBe(true)
    expect(plan.runs).toBe(0)
    const text = await engine([...BUILD, "--dry-run"], { cwd: dir, env: e() })
    expect(text.stdout).toMatch(/^tool-layer:http:hello@1\.0\.0 +[0-9a-f]{16} +hit$/m)
    expect(fs.readFileSync(path.join(dir, "out", "index.json"), "utf8")).toBe(before)
  })

  it("bumping one tool reruns exactly its resolve/install/layer tasks, the config layer and the layout", async () => {
    put(path.join(dir, "mise.toml"), toml("1.1.0"))
    const plan = await engine([...BUILD, "--dry-run=json"], { cwd: dir, env: e() })
    const planned = JSON.parse(plan.stdout) as { tasks: Array<{ id: string; status: string }> }
    expect(planned.tasks.filter((t) => t.status !== "hit").map((t) => t.id).sort()).toEqual([
      "config-layer",
      "install:http:hello",
      "layout",
      "resolve:http:hello",
      "tool-layer:http:hello"
    ])
    const { json } = await buildJson(dir, e())
    expect(ran(json)).toEqual(["config-layer", "install:http:hello", "layout", "resolve:http:hello", "tool-layer:http:hello"])
    expect(byKind(json, "tool-layer").find((t) => t.id === "tool-layer:http:world")?.status).toBe("cached")
    skopeoInspect(path.join(dir, "out"))
  })

  it("explain names the input that changed for a task that reran; unknown tasks and -j 0 are usage errors", async () => {
    const r = await engine(["explain", "tool-layer:http:hello@1.1.0", ...BUILD.slice(1)], { cwd: dir, env: e() })
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain("status: cache hit")
    expect(r.stdout).toContain('"tree": "sha256:')
    expect(r.stdout).toContain('~ inputs.version: "1.0.0" -> "1.1.0"')
    const missing = await engine(["explain", "tool-layer:nope", ...BUILD.slice(1)], { cwd: dir, env: e() })
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain("tool-layer:http:hello@1.1.0")
    const noJobs = await engine([...BUILD, "-j", "0"], { cwd: dir, env: e() })
    expect(noJobs.code).toBe(2)
    expect(noJobs.stderr).toContain("-j/--jobs 0")
  })

  it("changing an [oci] field reruns only the layout; every layer is a cache hit", async () => {
    put(path.join(dir, "mise.toml"), toml("1.1.0", "/srv"))
    const explained = await engine(["explain", "layout", ...BUILD.slice(1), "--json"], { cwd: dir, env: e() })
    const ex = JSON.parse(explained.stdout) as { status: string; changesSinceLastRun: Array<{ path: string; before: unknown; after: unknown }> }
    expect(ex.status).toBe("run")
    expect(ex.changesSinceLastRun).toEqual([{ path: "inputs.config.config.WorkingDir", change: "changed", before: "/app", after: "/srv" }])
    const { json } = await buildJson(dir, e())
    expect(ran(json)).toEqual(["layout"])
    expect(json.tasks.results.filter((t) => t.kind.endsWith("-layer")).every((t) => t.status === "cached")).toBe(true)
    expect(readLayout(path.join(dir, "out")).config.config.WorkingDir).toBe("/srv")
  })

  it("a truncated blob in the cache is detected and rebuilt; the output is valid again", async () => {
    const before = (await buildJson(dir, e())).json
    const layer = before.layers.find((l) => l.tool === "http:hello")!
    const blob = path.join(e().ENGINE_CACHE_DIR, "blobs", "sha256", layer.digest.slice("sha256:".length))
    fs.chmodSync(blob, 0o644)
    fs.truncateSync(blob, 10)
    const { json, stderr } = await buildJson(dir, e())
    expect(stderr).toMatch(/^warning: cache: blob .* is damaged: size 10, expected \d+; treating as a miss and rebuilding$/m)
    expect(ran(json)).toEqual(["layout", "tool-layer:http:hello"])
    expect(json.manifestDigest).toBe(before.manifestDigest)
    expect(fs.statSync(blob).size).toBeGreaterThan(10)
    skopeoInspect(path.join(dir, "out"))
  })

  it("a file changed in an install dir (same size, new content) rebuilds that tool's layer, and only it", async () => {
    const before = (await buildJson(dir, e())).json
    const readme = path.join(e().ENGINE_DATA_DIR, "installs", "http-hello", "1.1.0", "README")
    const text = fs.readFileSync(readme, "utf8")
    fs.writeFileSync(readme, text.toUpperCase())
    expect(fs.readFileSync(readme, "utf8")).toHaveLength(text.length)
    const { json } = await buildJson(dir, e())
    expect(ran(json)).toEqual(["layout", "tool-layer:http:hello"])
    const digest = (b: BuildJson) => b.layers.find((l) => l.tool === "http:hello")!.digest
    expect(digest(json)).not.toBe(digest(before))
    expect(json.layers.find((l) => l.tool === "http:world")!.digest).toBe(before.layers.find((l) => l.tool === "http:world")!.digest)
  })

  it("--no-cache recompresses every layer without touching the cache's entries, to the same bytes", async () => {
    const before = (await buildJson(dir, e())).json
    const ls = async () => JSON.parse((await engine(["cache", "ls", "--json"], { cwd: dir, env: e() })).stdout) as Array<{ key: string }>
    const entries = (await ls()).map((x) => x.key).sort()
    const { json } = await buildJson(dir, e(), ["--no-cache"])
    expect(json.tasks.results.filter((t) => t.kind.endsWith("-layer")).every((t) => t.status === "ran")).toBe(true)
    expect(byKind(json, "install").every((t) => t.status === "cached")).toBe(true)
    expect(json.manifestDigest).toBe(before.manifestDigest)
    expect((await ls()).map((x) => x.key).sort()).toEqual(entries)
  })

  it("cache stats / prune / clear; after a clear, installs are reused and layers rebuilt", async () => {
    const stats = JSON.parse((await engine(["cache", "stats", "--json"], { cwd: dir, env: e() })).stdout) as { records: number; blobBytes: number }
    expect(stats.records).toBeGreaterThan(8)
    const prune = await engine(["cache", "prune", "--max-size", "1G"], { cwd: dir, env: e() })
    expect(prune.code, prune.stderr).toBe(0)
    expect(prune.stdout).toMatch(/^removed \d+ entries/)
    expect((await engine(["cache", "prune", "--max-size", "lots"], { cwd: dir, env: e() })).code).toBe(2)
    const clear = await engine(["cache", "clear"], { cwd: dir, env: e() })
    expect(clear.code, clear.stderr).toBe(0)
    const after = JSON.parse((await engine(["cache", "stats", "--json"], { cwd: dir, env: e() })).stdout) as { records: number }
    expect(after.records).toBe(0)
    const requests = server.requests.length
    const { json } = await buildJson(dir, e())
    expect(byKind(json, "tool-layer").every((t) => t.status === "ran")).toBe(true)
    expect(server.requests.length).toBe(requests)
  })
})

describe("engine build: interruption and concurrency", () => {
  it("SIGINT mid-compression leaves no temp files in the cache or the output dir, and the next build succeeds", async () => {
    const dir = path.join(work, "big")
    // Random bytes do not compress: the layer task takes long enough to be interrupted in the middle.
    put(path.join(dir, "big", "blob.bin"), crypto.randomBytes(100 * 1024 * 1024))
    put(path.join(dir, "mise.toml"), `[tools]\n"http:big" = "path:./big"\n`)
    const e = env("big")
    const child = spawn(process.execPath, [engineBin, ...BUILD], { cwd: dir, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ENGINE_DAEMON: "0", ...e } })
    let stderr = ""
    const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)))
    await new Promise<void>((resolve) => {
      child.stderr.setEncoding("utf8").on("data", (d: string) => {
        stderr += d
        if (stderr.includes("[tool-layer] http:big@path:./big ...\n")) resolve()
      })
      void exited.then(() => resolve())
    })
    await new Promise((r) => setTimeout(r, 200))
    child.kill("SIGINT")
    const code = await exited
    expect(stderr).toContain("[tool-layer] http:big@path:./big ... interrupted")
    expect(code).toBe(130)
    const leftovers = (root: string): Array<string> =>
      fs.existsSync(root)
        ? fs.readdirSync(root, { recursive: true, encoding: "utf8" }).filter((n) => /\.tmp-|^tmp\/.+|\.engine-tmp/.test(n))
        : []
    expect(leftovers(e.ENGINE_CACHE_DIR)).toEqual([])
    expect(leftovers(path.join(dir, "out"))).toEqual([])
    const r = await engine(BUILD, { cwd: dir, env: e })
    expect(r.code, r.stderr).toBe(0)
    skopeoInspect(path.join(dir, "out"))
  }, 60_000)

  it("4 concurrent builds on one cache and data dir produce valid, identical layouts", async () => {
    const dir = path.join(work, "concurrent")
    put(path.join(dir, "mise.toml"), toml("1.0.0"))
    const e = env("concurrent")
    const runs = await Promise.all(
      [1, 2, 3, 4].map((n) => engine(["build", "--from", "scratch", "--no-mise", "-o", `out${n}`, "--json"], { cwd: dir, env: e }))
    )
    for (const r of runs) expect(r.code, r.stderr).toBe(0)
    const digests = runs.map((r) => (JSON.parse(r.stdout) as BuildJson).manifestDigest)
    expect(new Set(digests).size).toBe(1)
    for (const n of [1, 2, 3, 4]) skopeoInspect(path.join(dir, `out${n}`))
    const installs = fs.readdirSync(path.join(e.ENGINE_DATA_DIR, "installs", "http-hello"))
    expect(installs).toEqual(["1.0.0"])
  })
})
