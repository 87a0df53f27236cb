import { Progress } from "@engine/layout"
import { Effect, Either, Schema } from "effect"
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
