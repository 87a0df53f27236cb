import { Effect, Either, Option, Schema } from "effect"
import { build } from "esbuild"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { type ActionCache, makeActionCache } from "../../src/cache/ActionCache"
import { type CacheStore, openCacheStore } from "../../src/cache/CacheStore"
import { runGraphs, type RunSummary, type TaskEvent, valueOf } from "../../src/graph/Scheduler"
import { task, taskGraph } from "../../src/graph/TaskGraph"
import { diffKeyStructures } from "../../src/graph/TaskKey"

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)

let dir: string
let store: CacheStore
beforeEach(async () => {
  dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "engine-ac-")))
  store = await run(openCacheStore(path.join(dir, "cache")))
})
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }))

const Blob = Schema.Struct({ digest: Schema.TemplateLiteral("sha256:", Schema.String), size: Schema.Number })

/** A two-task image: `install` returns a version; `layer` writes a blob whose bytes depend on it. */
const image = (version: string, executions: Array<string>) => {
  const install = task({
    id: "install:node",
    kind: "install",
    resource: "net",
    cacheable: true,
    output: Schema.Struct({ version: Schema.String }),
    inputs: () => ({ backend: "core:node", version }),
    run: () => Effect.sync(() => (executions.push("install"), { version }))
  })
  const layer = task({
    id: "layer:node",
    kind: "tool-layer",
    resource: "cpu",
    cacheable: true,
    deps: { install },
    output: Blob,
    blobs: (b) => [b],
    inputs: ({ install }) => ({ version: install.value.version, owner: "1000:1000" }),
    run: ({ install }) =>
      Effect.sleep(20).pipe(
        Effect.zipRight(store.putBlob(new TextEncoder().encode(`layer of node ${install.value.version}`.repeat(50)))),
        Effect.tap(() => Effect.sync(() => executions.push("layer")))
      )
  })
  return { install, layer, graph: Either.getOrThrow(taskGraph("web", [install, layer])) }
}

const build1 = async (cache: ActionCache, version = "20.11.1") => {
  const executions: Array<string> = []
  const events: Array<TaskEvent> = []
  const img = image(version, executions)
  const summary = await run(runGraphs([img.graph], { cache, reporter: (e) => Effect.sync(() => void events.push(e)) }))
  const started = events.flatMap((e) => (e._tag === "Started" ? [[e.task.id, e.miss._tag] as const] : []))
  return { summary, executions, started, img }
}

const layerDigest = (summary: RunSummary, img: ReturnType<typeof image>) => Option.getOrThrow(valueOf(summary, "web", img.layer)).digest

describe("ActionCache with the scheduler", () => {
  it("a second build is all hits: zero executions, time saved = recorded durations", async () => {
    const cache = makeActionCache(store)
    const first = await build1(cache)
    expect(first.executions).toEqual(["install", "layer"])
    const second = await build1(cache)
    expect(second.executions).toEqual([])
    expect(second.summary).toMatchObject({ ran: 0, cached: 2 })
    const recorded = first.summary.results.reduce((s, r) => s + r.durationMs, 0)
    expect(second.summary.savedMs).toBe(recorded)
    expect(second.summary.savedMs).toBeGreaterThanOrEqual(20)
    expect(layerDigest(second.summary, second.img)).toBe(layerDigest(first.summary, first.img))
  })

  it("a damaged record is a logged miss, and the rerun repairs it", async () => {
    const cache = makeActionCache(store)
    const first = await build1(cache)
    const layerKey = first.summary.results.find((r) => r.task.id === "layer:node")?.key ?? ""
    const file = path.join(store.root, "ac", `${layerKey}.json`)
    fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace(/"durationMs":\d+/, '"durationMs":0'))
    const second = await build1(cache)
    expect(second.executions).toEqual(["layer"])
    expect(second.started).toEqual([["layer:node", "Corrupt"]])
    expect((await run(store.readRecord(layerKey)))._tag).toBe("Found")
    expect((await build1(cache)).executions).toEqual([])
  })

  it("a blob with the wrong size is a miss; the rerun writes it back", async () => {
    const cache = makeActionCache(store)
    const first = await build1(cache)
    const blob = store.blobPath(layerDigest(first.summary, first.img))
    fs.chmodSync(blob, 0o644)
    fs.appendFileSync(blob, "garbage")
    const second = await build1(cache)
    expect(second.started).toEqual([["layer:node", "BlobCorrupt"]])
    expect(second.executions).toEqual(["layer"])
    expect(await run(store.checkBlob({ digest: layerDigest(first.summary, first.img), size: fs.statSync(blob).size }, { verify: true })))
      .toEqual({ _tag: "Ok" })
    expect((await build1(cache)).executions).toEqual([])
  })

  it("same-size damage passes the size check but not verify: true", async () => {
    const first = await build1(makeActionCache(store))
    const blob = store.blobPath(layerDigest(first.summary, first.img))
    const size = fs.statSync(blob).size
    fs.chmodSync(blob, 0o644)
    fs.writeFileSync(blob, "z".repeat(size))
    expect((await build1(makeActionCache(store))).executions).toEqual([])
    const verified = await build1(makeActionCache(store, { verify: true }))
    expect(verified.started).toEqual([["layer:node", "BlobCorrupt"]])
    expect((await build1(makeActionCache(store, { verify: true }))).executions).toEqual([])
  })

  it("a missing blob is a miss", async () => {
    const cache = makeActionCache(store)
    const first = await build1(cache)
    fs.rmSync(store.blobPath(layerDigest(first.summary, first.img)))
    const second = await build1(cache)
    expect(second.started).toEqual([["layer:node", "BlobMissing"]])
  })

  it("remembers each task's last key structure, so a miss can be explained", async () => {
    const cache = makeActionCache(store)
    await build1(cache, "20.11.1")
    const before = Option.getOrThrow(await run(cache.lastRunRecord("web#install:node")))
    expect(before.structure.inputs).toEqual({ backend: "core:node", version: "20.11.1" })
    const events: Array<TaskEvent> = []
    await run(runGraphs([image("20.12.0", []).graph], { cache, reporter: (e) => Effect.sync(() => void events.push(e)) }))
    const changes = events.flatMap((e) => (e._tag === "Started" ? [[e.task.id, e.changes.map((c) => c.path)] as const] : []))
    expect(changes).toEqual([["install:node", ["inputs.version"]], ["layer:node", ["deps.install", "inputs.version"]]])
    const after = Option.getOrThrow(await run(cache.lastRunRecord("web#install:node")))
    expect(after.previous?.key).toBe(before.key)
    expect(diffKeyStructures(after.previous?.structure ?? after.structure, after.structure)).toEqual([
      { path: "inputs.version", change: "changed", before: "20.11.1", after: "20.12.0" }
    ])
  })

  it("a warm build rewrites no cache file", async () => {
    const cache = makeActionCache(store)
    await build1(cache)
    const snapshot = () =>
      fs.readdirSync(store.root, { recursive: true, encoding: "utf8" })
        .map((p) => path.join(store.root, p))
        .filter((p) => fs.statSync(p).isFile() && !p.includes(`${path.sep}ac${path.sep}`))
        .map((p) => [p, fs.statSync(p).ino, fs.statSync(p).mtimeMs] as const)
    const before = snapshot()
    await build1(cache)
    expect(snapshot()).toEqual(before)
  })
})

describe("several processes on one cache", () => {
  const spawnWorker = (script: string, root: string, id: number) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [script, root, String(id), "25"], { stdio: ["ignore", "pipe", "pipe"] })
      let stdout = ""
      let stderr = ""
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
      child.on("close", (code) => resolve({ code, stdout, stderr }))
    })

  it("4 concurrent writers of the same entries all succeed and leave a consistent cache", async () => {
    const script = path.join(dir, "cacheWriter.mjs")
    await build({
      entryPoints: [fileURLToPath(new URL("support/cacheWriter.ts", import.meta.url))],
      bundle: true,
      platform: "node",
      format: "esm",
      outfile: script,
      logLevel: "error"
    })
    const results = await Promise.all([1, 2, 3, 4].map((id) => spawnWorker(script, store.root, id)))
    for (const r of results) expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" })
    const reports = results.map((r) =>
      JSON.parse(r.stdout) as { damaged: number; ran: number; cached: number; startedAt: number; endedAt: number }
    )
    expect(reports.every((r) => r.damaged === 0 && r.ran + r.cached === 10)).toBe(true)
    // The writers really overlapped in time.
    expect(Math.max(...reports.map((r) => r.startedAt))).toBeLessThan(Math.min(...reports.map((r) => r.endedAt)))

    const entries = await run(store.ls)
    expect(entries).toHaveLength(25 + 10)
    expect(entries.every((e) => e.status === "ok")).toBe(true)
    const cache = makeActionCache(store, { verify: true })
    for (const e of entries) expect((await run(cache.lookup(e.key)))._tag).toBe("Hit")
    const leftovers = fs.readdirSync(store.root, { recursive: true, encoding: "utf8" }).filter((p) => p.includes(".tmp-"))
    expect(leftovers).toEqual([])
    expect(await run(store.stats)).toMatchObject({ records: 35, blobs: 25 * 2 + 10 })
  })
})
