import { makeDownloader } from "@engine/backends"
import { fileEntries, Progress, writeLayer } from "@engine/layout"
import { Effect, Either, Schema } from "effect"
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { runGraphs, TaskEvent, type TaskRef } from "../src/graph/Scheduler"
import { task, taskGraph } from "../src/graph/TaskGraph"
import { makeProgressBoard } from "../src/Progress"

const ref = (id: string): TaskRef => ({ graph: "img", id, kind: "install", label: `${id}@1.0.0` })
const started = (id: string) => TaskEvent.Started({ task: ref(id), key: "k", miss: { _tag: "Absent", detail: "" }, changes: [] })

describe("progress board", () => {
  it("counts each task's bytes apart, in start order, and drops a task once it ends", () => {
    const board = makeProgressBoard()
    board.observe(started("a"), 0)
    board.observe(started("b"), 10)
    board.sink(ref("a")).advance(300)
    board.sink(ref("b")).advance(50)
    board.sink(ref("a")).advance(200)
    expect(board.running(110).map((t) => [t.task.id, t.bytes, t.elapsedMs])).toEqual([["a", 500, 110], ["b", 50, 100]])
    board.observe(TaskEvent.Finished({ task: ref("a"), key: "k", durationMs: 120 }), 120)
    board.sink(ref("a")).advance(999)
    expect(board.running(130).map((t) => [t.task.id, t.bytes])).toEqual([["b", 50]])
  })

  it("gives no rate before bytes move, then the rate over about the last second", () => {
    const board = makeProgressBoard()
    board.observe(started("a"), 0)
    expect(board.running(500)[0]?.rate).toBeUndefined()
    const sink = board.sink(ref("a"))
    sink.advance(1000)
    // 1000 bytes since the start sample at 0 ms.
    expect(board.running(1000)[0]?.rate).toBe(1000)
    sink.advance(4000)
    board.running(1500)
    // Samples older than the window fall out: the rate follows the recent 4000 B in 1 s, not the 5000 B in 2 s.
    expect(board.running(2000)[0]?.rate).toBe(4000)
    // A stall reads as a falling rate, down to 0 once the window holds no bytes.
    expect(board.running(3100)[0]?.rate).toBe(0)
  })
})

describe("the scheduler's progress option", () => {
  it("hands each running task the sink made for it, as the Progress service its work sees", async () => {
    const Out = Schema.Struct({ n: Schema.Number })
    const reporting = (id: string, bytes: number) =>
      task({
        id,
        kind: "install",
        resource: "net",
        cacheable: false,
        output: Out,
        inputs: () => ({ id }),
        run: () => Effect.map(Progress, (p) => (p.advance(bytes), { n: bytes }))
      })
    const seen: Array<readonly [string, number]> = []
    const graph = Either.getOrThrow(taskGraph("img", [reporting("a", 7), reporting("b", 11)]))
    await Effect.runPromise(runGraphs([graph], { progress: (t) => ({ advance: (n) => void seen.push([t.id, n]) }) }))
    expect([...seen].sort()).toEqual([["a", 7], ["b", 11]])
  })
})

describe("the work that reports to Progress", () => {
  const counting = () => {
    const counted = { bytes: 0, calls: 0 }
    return { counted, sink: { advance: (n: number) => void ((counted.bytes += n), counted.calls++) } }
  }

  it("the layer writer counts every tar byte it gzips", async () => {
    const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), "engine-progress-layer-"))
    try {
      const { counted, sink } = counting()
      const entries = fileEntries([{ path: "opt/x/data", data: new Uint8Array(300_000).fill(7), mode: 0o644, owner: { uid: 0, gid: 0 } }])
      const blob = await Effect.runPromise(writeLayer(entries, { owner: { uid: 0, gid: 0 }, tempDir }).pipe(Effect.provideService(Progress, sink)))
      expect(counted.bytes).toBe(blob.uncompressedSize)
      expect(counted.calls).toBeGreaterThan(0)
    } finally {
      fs.rmSync(tempDir, { recursive: true, force: true })
    }
  })

  it("the downloader counts every body byte as it arrives", async () => {
    const body = Buffer.alloc(700_000, 1)
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { "content-length": body.length })
      res.write(body.subarray(0, 300_000))
      setTimeout(() => res.end(body.subarray(300_000)), 20)
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "engine-progress-dl-"))
    try {
      const { counted, sink } = counting()
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/x.bin`
      const result = await Effect.runPromise(
        Effect.scoped(Effect.flatMap(makeDownloader(), (d) => d.download({ url, dest: path.join(dir, "x.bin") }))).pipe(
          Effect.provideService(Progress, sink)
        )
      )
      expect(result.size).toBe(body.length)
      expect(counted.bytes).toBe(body.length)
      expect(counted.calls).toBeGreaterThan(1)
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()))
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
