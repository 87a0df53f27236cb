import { Data, Effect, Either, Fiber, Option, Schema } from "effect"
import { describe, expect, it } from "vitest"
import {
  type CacheEntryInput,
  type CacheLookup,
  RunFailed,
  runGraphs,
  type RunOptions,
  type TaskCache,
  type TaskEvent,
  valueOf
} from "../../src/graph/Scheduler"
import { type AnyTask, type ResourceClass, task, type Task, taskGraph } from "../../src/graph/TaskGraph"
import type { KeyStructure } from "../../src/graph/TaskKey"

class Boom extends Data.TaggedError("Boom")<{ readonly message: string }> {}

const Out = Schema.Struct({ v: Schema.String })

/** Records what tasks did, in order: `start:id`, `end:id`, `release:id`. */
const journal = () => {
  const lines: Array<string> = []
  let running = { cpu: 0, net: 0, io: 0, all: 0 }
  const peak = { cpu: 0, net: 0, io: 0, all: 0 }
  const enter = (resource: ResourceClass) => {
    running = { ...running, [resource]: running[resource] + 1, all: running.all + 1 }
    peak[resource] = Math.max(peak[resource], running[resource])
    peak.all = Math.max(peak.all, running.all)
  }
  const leave = (resource: ResourceClass) => {
    running = { ...running, [resource]: running[resource] - 1, all: running.all - 1 }
  }
  return { lines, peak, enter, leave }
}
type Journal = ReturnType<typeof journal>

interface Opts {
  readonly deps?: Readonly<Record<string, AnyTask>>
  readonly ms?: number
  readonly fail?: boolean
  readonly resource?: ResourceClass
  readonly input?: string
  readonly cacheable?: boolean
}

/** A task whose value is `id(dep values...)`; its key input is `input` (default: the id). */
const mk = (j: Journal, id: string, o: Opts = {}): Task<{ readonly v: string }, Boom> => {
  const resource = o.resource ?? "cpu"
  return task({
    id,
    kind: "test",
    resource,
    cacheable: o.cacheable ?? true,
    deps: o.deps ?? {},
    output: Out,
    inputs: () => ({ input: o.input ?? id }),
    run: (deps) =>
      Effect.gen(function*() {
        yield* Effect.acquireRelease(
          Effect.sync(() => {
            j.lines.push(`start:${id}`)
            j.enter(resource)
          }),
          () =>
            Effect.sync(() => {
              j.leave(resource)
              j.lines.push(`release:${id}`)
            })
        )
        yield* Effect.sleep(o.ms ?? 5)
        if (o.fail === true) return yield* new Boom({ message: `${id} exploded` })
        j.lines.push(`end:${id}`)
        const inner = Object.values(deps).map((d) => Schema.decodeUnknownSync(Out)(d.output).v).sort().join(",")
        return { v: `${o.input ?? id}(${inner})` }
      })
  })
}

const graph = <T extends AnyTask>(name: string, tasks: ReadonlyArray<T>) => Either.getOrThrow(taskGraph(name, tasks))

const collect = () => {
  const events: Array<TaskEvent> = []
  const reporter = (e: TaskEvent) => Effect.sync(() => void events.push(e))
  return { events, reporter, tags: () => events.map((e) => `${e._tag}:${e.task.id}`) }
}

/** An in-memory TaskCache, counting writes, to test the scheduler without disk. */
const memoryCache = () => {
  const entries = new Map<string, CacheEntryInput>()
  const runs = new Map<string, KeyStructure>()
  const cache: TaskCache = {
    lookup: (key) =>
      Effect.sync((): CacheLookup => {
        const e = entries.get(key)
        return e === undefined
          ? { _tag: "Miss", reason: { _tag: "Absent", detail: "no entry" } }
          : { _tag: "Hit", output: e.output, durationMs: e.durationMs }
      }),
    put: (entry) => Effect.sync(() => void entries.set(entry.key, entry)),
    lastRun: (taskId) => Effect.sync(() => Option.fromNullable(runs.get(taskId))),
    saveRun: (taskId, structure) => Effect.sync(() => void runs.set(taskId, structure))
  }
  return { cache, entries, runs }
}

const run = (graphs: Parameters<typeof runGraphs<Boom, never>>[0], options: RunOptions = {}) =>
  Effect.runPromise(Effect.either(runGraphs(graphs, options)))

describe("runGraphs", () => {
  it("runs a task only after all of its dependencies finished, passing their values", async () => {
    const j = journal()
    const a = mk(j, "a", { ms: 20 })
    const b = mk(j, "b", { deps: { a }, ms: 30 })
    const c = mk(j, "c", { deps: { a }, ms: 5 })
    const d = mk(j, "d", { deps: { b, c } })
    const result = await run([graph("img", [d, c, b, a])], { cpu: 4 })
    const summary = Either.getOrThrow(result)
    const at = (line: string) => j.lines.indexOf(line)
    expect(at("end:a")).toBeLessThan(at("start:b"))
    expect(at("end:a")).toBeLessThan(at("start:c"))
    expect(at("end:b")).toBeLessThan(at("start:d"))
    expect(at("end:c")).toBeLessThan(at("start:d"))
    expect(Option.getOrThrow(valueOf(summary, "img", d))).toEqual({ v: "d(b(a()),c(a()))" })
    expect(summary.results.map((r) => r.task.id)).toEqual(["a", "b", "c", "d"])
    expect(summary.ran).toBe(4)
  })

  it("runs a task with the same key once across graphs, and reports the duplicate", async () => {
    const j = journal()
    const image = (name: string, owner: string) => {
      const install = mk(j, "install:node", { input: "node@20", ms: 20 })
      const layer = mk(j, "layer:node", { deps: { install }, input: `layer-${owner}` })
      return graph(name, [install, layer])
    }
    const { events, reporter, tags } = collect()
    const summary = Either.getOrThrow(await run([image("web", "1000"), image("worker", "0")], { reporter }))
    expect(j.lines.filter((l) => l === "start:install:node")).toHaveLength(1)
    expect(j.lines.filter((l) => l === "start:layer:node")).toHaveLength(2)
    expect(summary).toMatchObject({ total: 4, ran: 3, deduped: 1 })
    expect(tags()).toContain("Deduped:install:node")
    const deduped = events.find((e) => e._tag === "Deduped")
    expect(deduped?._tag === "Deduped" && deduped.sameAs.graph).toBe("web")
  })

  it("fail-fast: the first failure interrupts a long-running sibling, whose finalizer runs", async () => {
    const j = journal()
    const boom = mk(j, "boom", { ms: 20, fail: true })
    const slow = mk(j, "slow", { ms: 60_000 })
    const after = mk(j, "after", { deps: { boom } })
    const { reporter, tags } = collect()
    const t0 = Date.now()
    const result = await run([graph("img", [boom, slow, after])], { reporter })
    expect(Date.now() - t0).toBeLessThan(10_000)
    expect(Either.isLeft(result)).toBe(true)
    if (Either.isLeft(result)) {
      const error = result.left
      expect(error).toBeInstanceOf(RunFailed)
      if (error instanceof RunFailed) {
        expect(error.failures.map((f) => f.task.id)).toEqual(["boom"])
        expect(error.message).toContain("img#boom (test) failed: boom exploded")
        expect(error.summary).toMatchObject({ failed: 1, cancelled: 2, ran: 0 })
      }
    }
    expect(j.lines).toContain("release:slow")
    expect(j.lines).not.toContain("end:slow")
    expect(j.lines).not.toContain("start:after")
    expect(tags()).toEqual(expect.arrayContaining(["Failed:boom", "Interrupted:slow"]))
  })

  it("--continue: independent work finishes, dependents of a failure are skipped and reported", async () => {
    const j = journal()
    const boom = mk(j, "boom", { ms: 5, fail: true })
    const child = mk(j, "child", { deps: { boom } })
    const grandchild = mk(j, "grandchild", { deps: { child } })
    const independent = mk(j, "independent", { ms: 50 })
    const { events, reporter } = collect()
    const result = await run([graph("img", [boom, child, grandchild, independent])], { continueOnError: true, reporter })
    expect(j.lines).toContain("end:independent")
    expect(j.lines).not.toContain("start:child")
    expect(Either.isLeft(result)).toBe(true)
    if (Either.isLeft(result) && result.left instanceof RunFailed) {
      expect(result.left.summary).toMatchObject({ ran: 1, failed: 1, skipped: 2, cancelled: 0 })
      expect(result.left.message).toContain("1 task(s) failed, 2 skipped")
    }
    const skipped = events.flatMap((e) => (e._tag === "Skipped" ? [[e.task.id, e.because.id]] : []))
    expect(skipped.sort()).toEqual([["child", "boom"], ["grandchild", "boom"]])
  })

  it("bounds cpu work by -j while network tasks run under their own limit", async () => {
    const j = journal()
    const cpuTasks = Array.from({ length: 6 }, (_, i) => mk(j, `cpu${i}`, { ms: 40 }))
    const netTasks = Array.from({ length: 6 }, (_, i) => mk(j, `net${i}`, { ms: 40, resource: "net" }))
    const summary = Either.getOrThrow(await run([graph("img", [...cpuTasks, ...netTasks])], { cpu: 2, net: 3 }))
    expect(summary.ran).toBe(12)
    expect(j.peak.cpu).toBe(2)
    expect(j.peak.net).toBe(3)
    expect(j.peak.all).toBe(5)
  })

  it("a second run with a warm cache executes nothing and counts the time saved", async () => {
    const j = journal()
    const { cache, entries } = memoryCache()
    const tasks = () => {
      const a = mk(j, "a", { ms: 10 })
      const b = mk(j, "b", { deps: { a }, ms: 10 })
      return [a, b] as const
    }
    const first = Either.getOrThrow(await run([graph("img", tasks())], { cache }))
    expect(first.ran).toBe(2)
    expect(entries.size).toBe(2)
    j.lines.length = 0
    const [, b] = tasks()
    const second = Either.getOrThrow(await run([graph("img", tasks())], { cache }))
    expect(j.lines).toEqual([])
    expect(second).toMatchObject({ ran: 0, cached: 2 })
    expect(second.savedMs).toBe([...entries.values()].reduce((s, e) => s + e.durationMs, 0))
    expect(Option.getOrThrow(valueOf(second, "img", b))).toEqual({ v: "b(a())" })
  })

  it("explains a miss: the started event lists the inputs changed since the last run", async () => {
    const j = journal()
    const { cache } = memoryCache()
    const graphWith = (version: string) => {
      const a = mk(j, "a", { input: version })
      const b = mk(j, "b", { deps: { a } })
      return graph("img", [a, b])
    }
    await run([graphWith("20.1")], { cache })
    const { events, reporter } = collect()
    await run([graphWith("20.2")], { cache, reporter })
    const started = events.flatMap((e) => (e._tag === "Started" ? [e] : []))
    expect(started.map((e) => [e.task.id, e.miss._tag, e.changes.map((c) => c.path)])).toEqual([
      ["a", "Absent", ["inputs.input"]],
      ["b", "Absent", ["deps.a"]]
    ])
  })

  it("does not write a cache entry for a task interrupted from outside; its scope closes", async () => {
    const j = journal()
    const { cache, entries } = memoryCache()
    const quick = mk(j, "quick", { ms: 1 })
    const slow = mk(j, "slow", { ms: 60_000 })
    const program = Effect.gen(function*() {
      const fiber = yield* Effect.fork(runGraphs([graph("img", [quick, slow])], { cache }))
      yield* Effect.sleep(100)
      yield* Fiber.interrupt(fiber)
    })
    await Effect.runPromise(program)
    expect(j.lines).toContain("release:slow")
    expect([...entries.values()].map((e) => e.taskId)).toEqual(["img#quick"])
  })

  it("a task whose inputs throw fails alone under --continue", async () => {
    const j = journal()
    const bad = task({
      id: "bad",
      kind: "test",
      resource: "cpu",
      cacheable: false,
      output: Out,
      inputs: () => {
        throw new Error("plugin bug")
      },
      run: () => Effect.succeed({ v: "never" })
    })
    const good = mk(j, "good")
    const result = await Effect.runPromise(Effect.either(runGraphs([graph("img", [bad, good])], { continueOnError: true })))
    expect(j.lines).toContain("end:good")
    expect(Either.isLeft(result) && result.left instanceof RunFailed && result.left.failures[0]?.message).toContain("plugin bug")
  })
})

describe("taskGraph", () => {
  const j = journal()
  it("rejects a cycle, naming it", () => {
    // `task` captures deps when called, so a cycle can only be built by hand.
    const aDeps: Array<readonly [string, AnyTask]> = []
    const a: AnyTask = { ...mk(j, "a"), deps: aDeps }
    const b: AnyTask = { ...mk(j, "b"), deps: [["a", a]] }
    aDeps.push(["b", b])
    const result = taskGraph("img", [a, b])
    expect(Either.isLeft(result) && result.left.message).toBe("graph img: tasks depend on each other in a cycle: a → b → a")
  })

  it("rejects a dependency missing from the graph and a duplicate id", () => {
    const a = mk(j, "a")
    const b = mk(j, "b", { deps: { a } })
    expect(Either.isLeft(taskGraph("img", [b])) && Either.flip(taskGraph("img", [b])).pipe(Either.getOrThrow).reason).toBe(
      "MissingDependency"
    )
    expect(Either.flip(taskGraph("img", [a, mk(j, "a")])).pipe(Either.getOrThrow).reason).toBe("DuplicateId")
  })
})

describe("runGraphs: build-graph features", () => {
  /** `version → layer`: the layer names the version it uses as an input, and none of its dependency's key. */
  const chain = (j: Journal, version: string, resolveInput: string, layerLabel = true) => {
    const resolve = task({
      id: "resolve",
      kind: "resolve",
      resource: "net",
      cacheable: true,
      probe: true,
      output: Out,
      inputs: () => ({ request: resolveInput }),
      run: () => Effect.sync(() => (j.lines.push("run:resolve"), { v: version }))
    })
    const layer = task({
      id: "layer",
      kind: "layer",
      resource: "cpu",
      cacheable: true,
      deps: { resolve },
      keyDeps: [],
      ...(layerLabel ? { label: ({ resolve }: { readonly resolve: { readonly value: { readonly v: string } } }) => `tool@${resolve.value.v}` } : {}),
      output: Out,
      // Key inputs may read the world: here an effect, as a tree fingerprint is.
      inputs: ({ resolve }) => Effect.succeed({ version: resolve.value.v }),
      run: ({ resolve }) => Effect.sync(() => (j.lines.push("run:layer"), { v: `layer of ${resolve.value.v}` }))
    })
    return { resolve, layer, graph: graph("img", [resolve, layer]) }
  }

  it("a task keyed only by what it uses of a dependency stays a hit when that dependency reruns to the same result", async () => {
    const j = journal()
    const { cache } = memoryCache()
    await run([chain(j, "1.0.0", "1").graph], { cache })
    j.lines.length = 0
    const second = Either.getOrThrow(await run([chain(j, "1.0.0", "1.x").graph], { cache }))
    expect(j.lines).toEqual(["run:resolve"])
    expect(second.results.map((r) => [r.task.id, r.status])).toEqual([["resolve", "ran"], ["layer", "cached"]])
    j.lines.length = 0
    await run([chain(j, "1.1.0", "1.y").graph], { cache })
    expect(j.lines).toEqual(["run:resolve", "run:layer"])
  })

  it("labels a task from its dependencies' values in every event after they are done", async () => {
    const j = journal()
    const { events, reporter } = collect()
    await run([chain(j, "2.0.0", "2").graph], { reporter })
    const layerEvents = events.filter((e) => e.task.id === "layer")
    expect(layerEvents.map((e) => `${e._tag}:${e.task.label ?? "-"}`)).toEqual(["Started:tool@2.0.0", "Finished:tool@2.0.0"])
  })

  it("a dry run keys and looks up every task, runs only probes, blocks what needs a missing output, and writes nothing", async () => {
    const j = journal()
    const { cache, entries, runs } = memoryCache()
    await run([chain(j, "1.0.0", "1").graph], { cache })
    const written = entries.size
    const runsBefore = new Map(runs)
    j.lines.length = 0
    const { events, reporter } = collect()
    const warm = Either.getOrThrow(await run([chain(j, "1.0.0", "1").graph], { cache, dryRun: true, reporter }))
    expect(warm.results.map((r) => r.status)).toEqual(["cached", "cached"])
    expect(j.lines).toEqual([])
    const cold = Either.getOrThrow(await run([chain(j, "3.0.0", "3").graph], { cache, dryRun: true, reporter }))
    expect(j.lines).toEqual(["run:resolve"])
    expect(cold.results.map((r) => [r.task.id, r.status, r.key !== undefined])).toEqual([["resolve", "would-run", true], ["layer", "would-run", true]])
    expect(cold.results[1]?.miss?._tag).toBe("Absent")
    expect(cold.wouldRun).toBe(2)
    expect(entries.size).toBe(written)
    expect(runs).toEqual(runsBefore)
    expect(events.filter((e) => e._tag === "Started" || e._tag === "Finished")).toEqual([])

    const blocked = (() => {
      const a = mk(j, "a", { input: "new" })
      const b = mk(j, "b", { deps: { a } })
      return graph("img", [a, b])
    })()
    const plan = Either.getOrThrow(await run([blocked], { cache, dryRun: true }))
    expect(plan.results.map((r) => [r.task.id, r.status, r.key !== undefined, r.blockedBy?.id])).toEqual([
      ["a", "would-run", true, undefined],
      ["b", "would-run", false, "a"]
    ])
    expect(j.lines.filter((l) => l.startsWith("start:"))).toEqual([])
  })

  it("bypassed kinds neither read nor write the cache; other kinds still hit", async () => {
    const j = journal()
    const { cache, entries } = memoryCache()
    await run([chain(j, "1.0.0", "1").graph], { cache })
    const before = new Map(entries)
    j.lines.length = 0
    const r = Either.getOrThrow(await run([chain(j, "1.0.0", "1").graph], { cache, bypass: new Set(["layer"]) }))
    expect(j.lines).toEqual(["run:layer"])
    expect(r.results.map((x) => [x.task.id, x.status, x.miss?._tag])).toEqual([["resolve", "cached", undefined], ["layer", "ran", "Bypassed"]])
    expect(entries).toEqual(before)
  })

  it("a failing key-input effect fails its task, naming the cause", async () => {
    const j = journal()
    const broken = task({
      id: "broken",
      kind: "layer",
      resource: "cpu",
      cacheable: true,
      output: Out,
      inputs: () => Effect.fail(new Boom({ message: "tree vanished" })),
      run: () => Effect.succeed({ v: "never" })
    })
    const ok = mk(j, "ok")
    const result = await run([graph("img", [broken, ok])], { continueOnError: true })
    expect(Either.isLeft(result)).toBe(true)
    if (Either.isLeft(result) && result.left._tag === "RunFailed") {
      expect(result.left.failures.map((f) => f.message)).toEqual(["img#broken (layer) failed: tree vanished"])
      expect(result.left.summary.ran).toBe(1)
    }
  })
})

describe("runGraphs: the quick path for hits", () => {
  /** A memory cache that also answers without Effects, counting which path each lookup took. */
  const quickCache = () => {
    const base = memoryCache()
    const counts = { lookup: 0, quickLookup: 0, saveRun: 0 }
    const cache: TaskCache = {
      ...base.cache,
      lookup: (key) => Effect.suspend(() => (counts.lookup++, base.cache.lookup(key))),
      saveRun: (taskId, structure, key) => Effect.suspend(() => (counts.saveRun++, base.cache.saveRun(taskId, structure, key))),
      quickLookup: (key) => {
        counts.quickLookup++
        const e = base.entries.get(key)
        return e === undefined ? undefined : { _tag: "Hit", output: e.output, durationMs: e.durationMs }
      },
      runIsCurrent: (taskId) => base.runs.has(taskId)
    }
    return { ...base, cache, counts }
  }

  /** `installed → layer`: the install is re-validated on a hit, the layer's inputs come from an effect (a tree). */
  const tools = (j: Journal, world: { installed: boolean; quickValidate: boolean; treeAtHand: boolean; validations: number }) => {
    const install = task({
      id: "install",
      kind: "install",
      resource: "net",
      cacheable: true,
      output: Out,
      inputs: () => ({ version: "1.0.0" }),
      run: () => Effect.sync(() => (j.lines.push("run:install"), (world.installed = true), { v: "1.0.0" })),
      validate: () => Effect.sync(() => (world.validations++, world.installed)),
      ...(world.quickValidate ? { validateNow: () => world.installed } : {})
    })
    const layer = task({
      id: "layer",
      kind: "layer",
      resource: "cpu",
      cacheable: true,
      deps: { install },
      output: Out,
      inputs: ({ install }) => Effect.sync(() => (j.lines.push("hash:tree"), { tree: install.value.v })),
      quickInputs: ({ install }) => (world.treeAtHand ? { tree: install.value.v } : undefined),
      run: ({ install }) => Effect.sync(() => (j.lines.push("run:layer"), { v: `layer of ${install.value.v}` }))
    })
    return graph("img", [install, layer])
  }

  it("a warm run decides every hit without the Effect lookup, validate or key-input effect, and saves no run", async () => {
    const j = journal()
    const world = { installed: false, quickValidate: true, treeAtHand: true, validations: 0 }
    const { cache, counts } = quickCache()
    await run([tools(j, world)], { cache })
    expect(j.lines).toEqual(["run:install", "hash:tree", "run:layer"])
    j.lines.length = 0
    Object.assign(counts, { lookup: 0, quickLookup: 0, saveRun: 0 })
    world.validations = 0
    const warm = Either.getOrThrow(await run([tools(j, world)], { cache }))
    expect(warm.results.map((r) => [r.task.id, r.status])).toEqual([["install", "cached"], ["layer", "cached"]])
    expect(j.lines).toEqual([])
    expect(counts).toEqual({ lookup: 0, quickLookup: 2, saveRun: 0 })
    expect(world.validations).toBe(0)
  })

  it("what the quick path cannot settle goes the full way: a tree to hash, a validation it cannot do, an install gone", async () => {
    const j = journal()
    const world = { installed: false, quickValidate: false, treeAtHand: false, validations: 0 }
    const { cache, counts } = quickCache()
    await run([tools(j, world)], { cache })
    j.lines.length = 0
    Object.assign(counts, { lookup: 0, quickLookup: 0, saveRun: 0 })
    // No validateNow: the install is validated by its effect; no tree at hand: the layer's inputs effect runs.
    const warm = Either.getOrThrow(await run([tools(j, world)], { cache }))
    expect(warm.cached).toBe(2)
    expect(j.lines).toEqual(["hash:tree"])
    expect(world.validations).toBe(1)
    expect(counts.lookup).toBe(2)
    // The install dir vanished: the quick check says no, the full validation agrees, and the install reruns.
    j.lines.length = 0
    Object.assign(world, { installed: false, quickValidate: true, treeAtHand: true })
    const again = Either.getOrThrow(await run([tools(j, world)], { cache }))
    expect(again.results.map((r) => [r.task.id, r.status, r.miss?._tag])).toEqual([["install", "ran", "Undecodable"], ["layer", "cached", undefined]])
    expect(j.lines).toEqual(["run:install"])
  })
})
