import { Progress, type ProgressShape } from "@engine/layout"
import { Cause, Clock, Data, Deferred, Effect, Either, Exit, Fiber, Option } from "effect"
import { availableParallelism } from "node:os"
import { messageOf } from "../Errors"
import { type DepResult, GraphError, type Produced, type ResourceClass, type Task, type TaskGraph } from "./TaskGraph"
import { diffKeyStructures, type InputChange, type Json, type KeyStructure, taskKey } from "./TaskKey"

/** A task as reports name it: `graph#id` is its stable id across runs. */
export interface TaskRef {
  readonly graph: string
  readonly id: string
  readonly kind: string
  /** The task's `label` for this run (e.g. `http:hello@1.0.0`), once its dependencies are done. */
  readonly label?: string
}

export const taskRefId = (ref: TaskRef): string => `${ref.graph}#${ref.id}`

/** Why a task is about to run instead of being restored from the cache. */
export interface MissReason {
  readonly _tag:
    | "NoCache"
    | "NotCacheable"
    | "Forced"
    | "Absent"
    | "Corrupt"
    | "BlobMissing"
    | "BlobCorrupt"
    | "Unreadable"
    | "Undecodable"
    | "Bypassed"
  readonly detail: string
}

/** What the scheduler needs from a cache. `ActionCache` implements it on disk; lookups never fail, they miss. */
export interface TaskCache {
  readonly lookup: (key: string) => Effect.Effect<CacheLookup>
  readonly put: (entry: CacheEntryInput) => Effect.Effect<void, CacheWriteFailure>
  /** The key structure of the task's last successful run, for explaining a miss. */
  readonly lastRun: (taskId: string) => Effect.Effect<Option.Option<KeyStructure>>
  readonly saveRun: (taskId: string, structure: KeyStructure, key: string) => Effect.Effect<void, CacheWriteFailure>
  /**
   * `lookup` without Effects, for the many hits of a warm build; undefined when it cannot decide that way (e.g. a
   * damaged entry to discard and log, or blobs to re-hash): then `lookup` decides.
   */
  readonly quickLookup?: (key: string) => CacheLookup | undefined
  /** The task's last recorded run has this key already: `saveRun` would write nothing. */
  readonly runIsCurrent?: (taskId: string, key: string) => boolean
}

export type CacheLookup =
  | { readonly _tag: "Hit"; readonly output: Json; readonly durationMs: number }
  | { readonly _tag: "Miss"; readonly reason: MissReason }

export interface CacheEntryInput {
  readonly key: string
  readonly taskId: string
  readonly kind: string
  readonly output: Json
  readonly blobs: Produced<unknown>["blobs"]
  readonly durationMs: number
}

/** Any tagged error with a message; the scheduler only reports cache write failures, it never fails on them. */
export interface CacheWriteFailure {
  readonly _tag: string
  readonly message: string
}

/** One line of progress for a reporter. */
export type TaskEvent = Data.TaggedEnum<{
  Started: { readonly task: TaskRef; readonly key: string; readonly miss: MissReason; readonly changes: ReadonlyArray<InputChange> }
  Cached: { readonly task: TaskRef; readonly key: string; readonly savedMs: number }
  Deduped: { readonly task: TaskRef; readonly key: string; readonly sameAs: TaskRef }
  Finished: { readonly task: TaskRef; readonly key: string; readonly durationMs: number }
  Failed: { readonly task: TaskRef; readonly error: TaskFailed }
  Skipped: { readonly task: TaskRef; readonly because: TaskRef }
  Interrupted: { readonly task: TaskRef; readonly key: string }
  /**
   * Dry run: the task would run. `key` is absent when it depends on the output of `blockedBy`, which would
   * run first; a probe task was executed anyway so its dependents could be keyed.
   */
  WouldRun: {
    readonly task: TaskRef
    readonly key: string | undefined
    readonly miss: MissReason | undefined
    readonly changes: ReadonlyArray<InputChange>
    readonly blockedBy: TaskRef | undefined
  }
  CacheWriteFailed: { readonly task: TaskRef; readonly key: string; readonly message: string }
}>
export const TaskEvent = Data.taggedEnum<TaskEvent>()

/** A task that failed; `cause` is the task's own error (or defect), `message` is one line for the CLI. */
export class TaskFailed extends Data.TaggedError("TaskFailed")<{
  readonly task: TaskRef
  readonly key: string | undefined
  readonly cause: unknown
  readonly message: string
}> {}

/** The run did not complete: what failed, and the summary of what did happen. */
export class RunFailed extends Data.TaggedError("RunFailed")<{
  readonly failures: ReadonlyArray<TaskFailed>
  readonly summary: RunSummary
  readonly message: string
}> {}

export type TaskStatus = "ran" | "cached" | "deduped" | "skipped" | "failed" | "cancelled" | "would-run"

export interface TaskResult {
  readonly task: TaskRef
  readonly status: TaskStatus
  readonly key?: string
  /** Time spent running (0 unless `ran`). */
  readonly durationMs: number
  /** For a hit: how long the task took when its cache entry was made. */
  readonly savedMs: number
  readonly output?: Json
  /** What the key was computed from (absent when the key could not be computed). */
  readonly structure?: KeyStructure
  /** Why it ran (or would run) instead of being restored. */
  readonly miss?: MissReason
  /** Inputs changed since the task's last recorded run. */
  readonly changes?: ReadonlyArray<InputChange>
  /** Dry run: the task that would run first and whose output this task's key needs. */
  readonly blockedBy?: TaskRef
}

export interface RunSummary {
  readonly total: number
  readonly ran: number
  readonly cached: number
  readonly deduped: number
  readonly skipped: number
  readonly failed: number
  /** Not finished when a fail-fast run stopped. */
  readonly cancelled: number
  /** Dry run: tasks that would run. */
  readonly wouldRun: number
  readonly wallMs: number
  readonly savedMs: number
  /** In dependency order per graph, graphs in the order given. */
  readonly results: ReadonlyArray<TaskResult>
  /** Typed values by `graph#id`; read them with `valueOf`. */
  readonly values: ReadonlyMap<string, unknown>
}

export interface RunOptions {
  /** `-j`: tasks running CPU work at once; default: available cores. */
  readonly cpu?: number
  /** Disk-bound tasks at once; default: same as `cpu`. */
  readonly io?: number
  /** Network tasks at once; independent of `cpu` so downloads overlap with compression. Default 8. */
  readonly net?: number
  /** `--continue`: after a failure finish independent work; dependents of a failure are skipped. */
  readonly continueOnError?: boolean
  readonly cache?: TaskCache
  /** `--force`: skip cache reads, still write entries. */
  readonly force?: boolean
  /** Task kinds that neither read nor write the action cache in this run (`--no-cache` for layers). */
  readonly bypass?: ReadonlySet<string>
  /**
   * Compute every key and look it up, but execute only probe tasks, write nothing and report `WouldRun`
   * for each miss; dependents of a task that would run get no key.
   */
  readonly dryRun?: boolean
  readonly reporter?: (event: TaskEvent) => Effect.Effect<void>
  /** Where a running task's downloads and layer writes report their bytes (the `Progress` service they see). */
  readonly progress?: (task: TaskRef) => ProgressShape
}

export const DEFAULT_NET_CONCURRENCY = 8

type Outcome =
  | { readonly _tag: "Done"; readonly key: string; readonly value: unknown; readonly output: Json }
  | { readonly _tag: "NotDone"; readonly because: TaskRef }
  | { readonly _tag: "Pending"; readonly because: TaskRef }

/** A cache hit as the scheduler settles it. */
interface Hit {
  readonly key: string
  readonly structure: KeyStructure
  readonly produced: Produced<unknown>
  readonly savedMs: number
}

interface Node<E, R> {
  readonly ref: TaskRef
  readonly qid: string
  readonly task: Task<unknown, E, R>
  readonly deps: ReadonlyArray<readonly [alias: string, qid: string]>
  readonly done: Deferred.Deferred<Outcome>
}

/** The value a task produced in a run, typed by the task handle. */
export const valueOf = <A>(summary: RunSummary, graph: string, t: Task<A, unknown, unknown>): Option.Option<A> =>
  // Values are stored by the run that executed or restored `t`, so each one has t's output type.
  Option.fromNullable(summary.values.get(taskRefId({ graph, id: t.id, kind: t.kind })) as A | undefined)

/**
 * Runs several task graphs (one per image) as one: tasks start as soon as their dependencies are done,
 * each under its resource class's limiter; tasks with equal keys run once. Fail-fast by default: the first
 * failure interrupts every running task (their scopes close) and no cache entry is written for them.
 */
export const runGraphs = <E, R>(
  graphs: ReadonlyArray<TaskGraph<Task<unknown, E, R>>>,
  options: RunOptions = {}
): Effect.Effect<RunSummary, RunFailed | GraphError, R> =>
  Effect.gen(function*() {
    const names = new Set<string>()
    for (const g of graphs) {
      if (names.has(g.name)) {
        return yield* new GraphError({
          graph: g.name,
          reason: "DuplicateGraph",
          tasks: [],
          message: `two graphs are named "${g.name}"; graph names (image names) must be unique within a run`
        })
      }
      names.add(g.name)
    }
    const cpu = options.cpu ?? availableParallelism()
    const limiters: Record<ResourceClass, Effect.Semaphore> = {
      cpu: yield* Effect.makeSemaphore(cpu),
      io: yield* Effect.makeSemaphore(options.io ?? cpu),
      net: yield* Effect.makeSemaphore(options.net ?? DEFAULT_NET_CONCURRENCY)
    }
    const report = options.reporter ?? (() => Effect.void)
    const continueOnError = options.continueOnError ?? false

    const nodes: Array<Node<E, R>> = []
    const byQid = new Map<string, Node<E, R>>()
    for (const g of graphs) {
      const byId = new Map(g.tasks.map((t) => [t.id, t]))
      for (const id of g.order) {
        const t = byId.get(id)
        if (t === undefined) continue
        const ref: TaskRef = { graph: g.name, id, kind: t.kind }
        const node: Node<E, R> = {
          ref,
          qid: taskRefId(ref),
          task: t,
          deps: t.deps.map(([alias, dep]) => [alias, taskRefId({ graph: g.name, id: dep.id, kind: dep.kind })] as const),
          done: yield* Deferred.make<Outcome>()
        }
        nodes.push(node)
        byQid.set(node.qid, node)
      }
    }

    const owners = new Map<string, Node<E, R>>()
    const results = new Map<string, TaskResult>()
    const values = new Map<string, unknown>()
    const failures: Array<TaskFailed> = []
    const startedAt = yield* Clock.currentTimeMillis
    const dryRun = options.dryRun === true
    const cache = options.cache

    const settleNow = (node: Node<E, R>, result: TaskResult, outcome: Outcome): void => {
      results.set(node.qid, result)
      if (outcome._tag === "Done") values.set(node.qid, outcome.value)
      Deferred.unsafeDone(node.done, Exit.succeed(outcome))
    }
    const settle = (node: Node<E, R>, result: TaskResult, outcome: Outcome) => Effect.sync(() => settleNow(node, result, outcome))

    const fail = (node: Node<E, R>, ref: TaskRef, key: string | undefined, cause: unknown) =>
      Effect.gen(function*() {
        const error = new TaskFailed({
          task: ref,
          key,
          cause,
          message: `${node.qid} (${ref.kind}) failed: ${messageOf(cause)}`
        })
        failures.push(error)
        results.set(node.qid, { task: ref, status: "failed", ...(key !== undefined ? { key } : {}), durationMs: 0, savedMs: 0 })
        yield* report(TaskEvent.Failed({ task: ref, error }))
        // Fail-fast leaves dependents waiting: the whole run is about to be interrupted anyway.
        if (!continueOnError) return yield* error
        yield* Deferred.succeed(node.done, { _tag: "NotDone", because: ref })
      })

    const warnOnWriteFailure = (ref: TaskRef, key: string) => (effect: Effect.Effect<void, CacheWriteFailure>) =>
      effect.pipe(Effect.catchAll((e) => report(TaskEvent.CacheWriteFailed({ task: ref, key, message: e.message }))))

    /** Remembers the key structure for `explain`; a dry run records nothing. */
    const saveRun = (node: Node<E, R>, ref: TaskRef, structure: KeyStructure, key: string) =>
      cache === undefined || dryRun ? Effect.void : warnOnWriteFailure(ref, key)(cache.saveRun(node.qid, structure, key))

    const lookup = (node: Node<E, R>, key: string): Effect.Effect<Either.Either<readonly [Produced<unknown>, number], MissReason>, never, R> => {
      if (cache === undefined) return Effect.succeed(Either.left({ _tag: "NoCache", detail: "no cache configured" }))
      if (!node.task.cacheable) return Effect.succeed(Either.left({ _tag: "NotCacheable", detail: `${node.ref.kind} tasks are not cached` }))
      if (options.bypass?.has(node.ref.kind) === true) {
        return Effect.succeed(Either.left({ _tag: "Bypassed", detail: `cache bypassed for ${node.ref.kind} tasks (--no-cache)` }))
      }
      if (options.force === true) return Effect.succeed(Either.left({ _tag: "Forced", detail: "cache reads disabled (--force)" }))
      return cache.lookup(key).pipe(
        Effect.flatMap((found) =>
          found._tag === "Miss"
            ? Effect.succeed(Either.left(found.reason))
            : node.task.restore(found.output).pipe(
              Effect.map(Either.match({
                onLeft: (detail): Either.Either<readonly [Produced<unknown>, number], MissReason> =>
                  Either.left({ _tag: "Undecodable", detail }),
                onRight: (produced) => Either.right([produced, found.durationMs] as const)
              }))
            )
        )
      )
    }

    /**
     * Ready tasks take turns, one per turn of the event loop, so file and thread-pool completions of running tasks
     * (a changed tool's install, its compression) get in between: a warm build's many cache hits are synchronous
     * checks that would otherwise hold the loop until all were done. A task one of whose dependencies ran goes
     * first: it is most likely a miss too, on the changed chain that decides the build's time.
     */
    const changedLane: Array<() => void> = []
    const readyLane: Array<() => void> = []
    let turning = false
    const nextTurn = () => {
      const next = changedLane.shift() ?? readyLane.shift()
      if (next === undefined) {
        turning = false
        return
      }
      setImmediate(nextTurn)
      next()
    }
    const turn = (afterChange: boolean) =>
      Effect.async<void>((resume) => {
        const go = () => resume(Effect.void)
        const lane = afterChange ? changedLane : readyLane
        lane.push(go)
        if (!turning) {
          turning = true
          setImmediate(nextTurn)
        }
        return Effect.sync(() => {
          const i = lane.indexOf(go)
          if (i >= 0) lane.splice(i, 1)
        })
      })

    const changesSinceLastRun = (node: Node<E, R>, structure: KeyStructure) =>
      Effect.gen(function*() {
        const previous = cache === undefined ? Option.none() : yield* cache.lastRun(node.qid)
        return Option.match(previous, {
          onNone: (): ReadonlyArray<InputChange> => [],
          onSome: (before) => diffKeyStructures(before, structure)
        })
      })

    const execute = (
      node: Node<E, R>,
      ref: TaskRef,
      key: string,
      structure: KeyStructure,
      miss: MissReason,
      deps: ReadonlyMap<string, DepResult<unknown>>
    ) =>
      Effect.gen(function*() {
        const changes = yield* changesSinceLastRun(node, structure)
        if (dryRun && !node.task.probe) {
          yield* report(TaskEvent.WouldRun({ task: ref, key, miss, changes, blockedBy: undefined }))
          return yield* settle(node, { task: ref, status: "would-run", key, durationMs: 0, savedMs: 0, structure, miss, changes }, {
            _tag: "Pending",
            because: ref
          })
        }
        const exit = yield* limiters[node.task.resource].withPermits(1)(
          Effect.gen(function*() {
            if (!dryRun) yield* report(TaskEvent.Started({ task: ref, key, miss, changes }))
            const t0 = yield* Clock.currentTimeMillis
            const produced = yield* node.task.execute(deps).pipe(
              options.progress !== undefined ? Effect.provideService(Progress, options.progress(ref)) : (run) => run,
              Effect.onInterrupt(() => report(TaskEvent.Interrupted({ task: ref, key })))
            )
            const durationMs = (yield* Clock.currentTimeMillis) - t0
            return [produced, durationMs] as const
          })
        ).pipe(Effect.exit)
        if (Exit.isFailure(exit)) {
          if (Cause.isInterruptedOnly(exit.cause)) return yield* Effect.interrupt
          const cause = Either.match(Cause.failureOrCause(exit.cause), { onLeft: (e): unknown => e, onRight: Cause.squash })
          return yield* fail(node, ref, key, cause)
        }
        const [produced, durationMs] = exit.value
        const done: Outcome = { _tag: "Done", key, value: produced.value, output: produced.output }
        if (dryRun) {
          // A probe ran so its dependents can be keyed; a real run would still run it.
          yield* report(TaskEvent.WouldRun({ task: ref, key, miss, changes, blockedBy: undefined }))
          return yield* settle(node, { task: ref, status: "would-run", key, durationMs, savedMs: 0, output: produced.output, structure, miss, changes }, done)
        }
        yield* report(TaskEvent.Finished({ task: ref, key, durationMs }))
        const settled = settle(node, { task: ref, status: "ran", key, durationMs, savedMs: 0, output: produced.output, structure, miss, changes }, done)
        if (cache === undefined) return yield* settled
        const store = node.task.cacheable && options.bypass?.has(node.ref.kind) !== true
        // Dependents start at once; the entry is written meanwhile, whole or not at all, even if the run is being
        // interrupted, and the run ends only when it is.
        const persist = Effect.all([
          store
            ? cache.put({ key, taskId: node.qid, kind: node.ref.kind, output: produced.output, blobs: produced.blobs, durationMs })
            : Effect.void,
          cache.saveRun(node.qid, structure, key)
        ], { discard: true })
        yield* Effect.uninterruptible(Effect.zipRight(settled, warnOnWriteFailure(ref, key)(persist)))
      })

    /**
     * A warm build's usual case decided without Effects: key inputs at hand, an entry whose blobs are present, an
     * output that still holds. Anything else (a tree to hash, a miss, a damaged entry, a task seen twice) is left to
     * the full path, which decides it again.
     */
    const quickProbe = (node: Node<E, R>, deps: ReadonlyMap<string, DepResult<unknown>>) => {
      if (
        cache?.quickLookup === undefined || !node.task.cacheable || options.force === true ||
        options.bypass?.has(node.ref.kind) === true
      ) return undefined
      const inputs = node.task.quickInputs(deps)
      if (inputs === undefined) return undefined
      const computed = taskKey(node.ref.kind, inputs, depKeysOf(node, deps))
      if (Either.isLeft(computed)) return undefined
      const found = cache.quickLookup(computed.right.key)
      return found?._tag === "Hit" ? { ...computed.right, found } : undefined
    }

    const quickHit = (node: Node<E, R>, deps: ReadonlyMap<string, DepResult<unknown>>, probed = quickProbe(node, deps)): Hit | undefined => {
      if (probed === undefined || owners.has(probed.key)) return undefined
      const produced = node.task.quickRestore(probed.found.output)
      if (produced === undefined) return undefined
      owners.set(probed.key, node)
      return { key: probed.key, structure: probed.structure, produced, savedMs: probed.found.durationMs }
    }

    /** Hands a hit's value to its dependents; returns the run record to write, unless the recorded run has this key. */
    const settleHitNow = (node: Node<E, R>, ref: TaskRef, { key, structure, produced, savedMs }: Hit) => {
      settleNow(node, { task: ref, status: "cached", key, durationMs: 0, savedMs, output: produced.output, structure }, {
        _tag: "Done",
        key,
        value: produced.value,
        output: produced.output
      })
      return cache?.runIsCurrent?.(node.qid, key) === true ? undefined : saveRun(node, ref, structure, key)
    }

    const settleHit = (node: Node<E, R>, ref: TaskRef, hit: Hit) =>
      Effect.gen(function*() {
        yield* report(TaskEvent.Cached({ task: ref, key: hit.key, savedMs: hit.savedMs }))
        const record = settleHitNow(node, ref, hit)
        if (record !== undefined) yield* record
      })

    /** The keys of the dependencies that go into a task's key, by alias. */
    const depKeysOf = (node: Node<E, R>, deps: ReadonlyMap<string, DepResult<unknown>>): Readonly<Record<string, string>> =>
      Object.fromEntries(node.task.keyDeps.flatMap((alias) => {
        const dep = deps.get(alias)
        return dep === undefined ? [] : [[alias, dep.key] as const]
      }))

    /** Tasks the sweep settled as hits, by qid: a task whose dependencies are all here can be swept too. */
    const swept = new Map<string, Extract<Outcome, { readonly _tag: "Done" }>>()

    /**
     * Settles a task as a hit in plain code if it can (its dependencies swept, `quickHit` says yes): no fiber, no
     * Effect. Its event and the run record to write, if any, are left for the caller. `tried` when it is not a hit
     * after all, `waits` when a dependency was not swept. `probed`: a root's entry as the sweep already looked it up.
     */
    const sweepOne = (
      node: Node<E, R>,
      events: Array<TaskEvent>,
      later: Array<Effect.Effect<void, TaskFailed, R>>,
      probed: ReturnType<typeof quickProbe> | "unprobed"
    ): "settled" | "tried" | "waits" => {
      if (cache?.quickLookup === undefined) return "waits"
      const deps = new Map<string, DepResult<unknown>>()
      for (const [alias, qid] of node.deps) {
        const done = swept.get(qid)
        if (done === undefined) return "waits"
        deps.set(alias, { value: done.value, key: done.key, output: done.output })
      }
      const labelled = Either.try(() => node.task.label(deps))
      if (Either.isLeft(labelled)) return "waits"
      const hit = quickHit(node, deps, probed === "unprobed" ? quickProbe(node, deps) : probed)
      if (hit === undefined) return "tried"
      const ref: TaskRef = { ...node.ref, label: labelled.right }
      events.push(TaskEvent.Cached({ task: ref, key: hit.key, savedMs: hit.savedMs }))
      const record = settleHitNow(node, ref, hit)
      if (record !== undefined) later.push(record)
      swept.set(node.qid, { _tag: "Done", key: hit.key, value: hit.produced.value, output: hit.produced.output })
      return "settled"
    }

    /**
     * A slice of the sweep. Hits are cheap (a few stats each) and wait for nothing: settling them all before the tasks
     * that run costs those tasks less than interleaving with short slices did, where each file operation of a running
     * task waited for a slice. Long slices still let the event loop turn in a graph of thousands of hits.
     */
    const SWEEP_SLICE_MS = 25
    const nextLoopTurn = Effect.async<void>((resume) => {
      const immediate = setImmediate(() => resume(Effect.void))
      return Effect.sync(() => clearImmediate(immediate))
    })

    /**
     * Every task, in order, in slices with a turn of the event loop between them: hits are settled by `sweepOne`,
     * every other task gets a fiber (`start`) at the end of the slice that reached it. The entries of the tasks without
     * dependencies are looked up first: one not found, and all that depends on it, get their fibers in the first
     * slice, before any hit is re-validated (a changed version among many).
     */
    const sweep = (start: (effect: Effect.Effect<void, TaskFailed, R>) => Effect.Effect<void, never, R>) =>
      Effect.gen(function*() {
        const probes = new Map(nodes.flatMap((n) => (n.deps.length === 0 ? [[n, quickProbe(n, new Map())] as const] : [])))
        // A root that will not be a hit, and everything that depends on it, start before any hit is re-validated.
        const changed = new Set<string>()
        for (const n of nodes) {
          if (n.deps.length === 0 ? probes.get(n) === undefined : n.deps.some(([, qid]) => changed.has(qid))) changed.add(n.qid)
        }
        const order = [
          ...nodes.filter((n) => changed.has(n.qid)),
          ...nodes.filter((n) => !changed.has(n.qid) && n.deps.length === 0),
          ...nodes.filter((n) => !changed.has(n.qid) && n.deps.length > 0)
        ]
        let next = 0
        while (next < order.length) {
          const events: Array<TaskEvent> = []
          const later: Array<Effect.Effect<void, TaskFailed, R>> = []
          const full: Array<readonly [Node<E, R>, quickTried: boolean]> = []
          const until = performance.now() + SWEEP_SLICE_MS
          do {
            const node = order[next++]
            if (node === undefined) continue
            // A root whose entry the sweep did not find is not looked up again: it was tried.
            const verdict = probes.has(node) && probes.get(node) === undefined
              ? "tried"
              : sweepOne(node, events, later, probes.has(node) ? probes.get(node) : "unprobed")
            if (verdict !== "settled") full.push([node, verdict === "tried"])
          } while (next < order.length && performance.now() < until)
          for (const [node, quickTried] of full) yield* start(runNode(node, quickTried))
          for (const event of events) yield* report(event)
          for (const effect of later) yield* start(effect)
          if (next < order.length) yield* nextLoopTurn
        }
      })

    /** Waits for every dependency; the first that did not produce a value decides what this task becomes. */
    const awaitDeps = (node: Node<E, R>) =>
      Effect.gen(function*() {
        const deps = yield* Effect.forEach(node.deps, ([alias, qid]) => {
          const dep = byQid.get(qid)
          return dep === undefined
            ? Effect.dieMessage(`scheduler: ${node.qid} depends on ${qid}, which is not in its graph`)
            : Deferred.await(dep.done).pipe(Effect.map((outcome) => [alias, outcome] as const))
        })
        const depResults = new Map<string, DepResult<unknown>>()
        for (const [alias, outcome] of deps) {
          if (outcome._tag !== "Done") return Either.left(outcome)
          depResults.set(alias, { value: outcome.value, key: outcome.key, output: outcome.output })
        }
        return Either.right(depResults)
      })

    /** `quickTried`: the sweep already found the quick path no hit for this task; it is not tried again. */
    const runNode = (node: Node<E, R>, quickTried = false): Effect.Effect<void, TaskFailed, R> =>
      Effect.gen(function*() {
        const awaited = yield* awaitDeps(node)
        if (Either.isLeft(awaited)) {
          const outcome = awaited.left
          if (outcome._tag === "Pending") {
            yield* report(TaskEvent.WouldRun({ task: node.ref, key: undefined, miss: undefined, changes: [], blockedBy: outcome.because }))
            return yield* settle(node, { task: node.ref, status: "would-run", durationMs: 0, savedMs: 0, blockedBy: outcome.because }, outcome)
          }
          yield* report(TaskEvent.Skipped({ task: node.ref, because: outcome.because }))
          return yield* settle(node, { task: node.ref, status: "skipped", durationMs: 0, savedMs: 0 }, outcome)
        }
        const depResults = awaited.right
        yield* turn(node.deps.some(([, qid]) => results.get(qid)?.status === "ran"))
        // `label` and `inputs` are plugin code: a throw or failure fails that task, not the whole run.
        const labelled = Either.try(() => node.task.label(depResults))
        const ref: TaskRef = Either.isRight(labelled) ? { ...node.ref, label: labelled.right } : node.ref
        if (Either.isLeft(labelled)) return yield* fail(node, ref, undefined, labelled.left)
        const quick = quickTried ? undefined : quickHit(node, depResults)
        if (quick !== undefined) return yield* settleHit(node, ref, quick)
        const depKeys = depKeysOf(node, depResults)
        const computed = yield* Effect.suspend(() => node.task.keyInputs(depResults)).pipe(
          Effect.catchAllDefect((defect) => Effect.fail(defect)),
          Effect.flatMap((inputs) => taskKey(node.ref.kind, inputs, depKeys)),
          Effect.either
        )
        if (Either.isLeft(computed)) return yield* fail(node, ref, undefined, computed.left)
        const { key, structure } = computed.right

        const owner = owners.get(key)
        if (owner !== undefined) {
          const outcome = yield* Deferred.await(owner.done)
          if (outcome._tag !== "Done") {
            if (outcome._tag === "Pending") {
              yield* report(TaskEvent.WouldRun({ task: ref, key, miss: undefined, changes: [], blockedBy: outcome.because }))
              return yield* settle(node, { task: ref, status: "would-run", key, durationMs: 0, savedMs: 0, structure, blockedBy: outcome.because }, outcome)
            }
            yield* report(TaskEvent.Skipped({ task: ref, because: outcome.because }))
            return yield* settle(node, { task: ref, status: "skipped", key, durationMs: 0, savedMs: 0 }, outcome)
          }
          yield* report(TaskEvent.Deduped({ task: ref, key, sameAs: owner.ref }))
          yield* settle(node, { task: ref, status: "deduped", key, durationMs: 0, savedMs: 0, output: outcome.output, structure }, outcome)
          return yield* saveRun(node, ref, structure, key)
        }
        owners.set(key, node)

        const hit = yield* lookup(node, key)
        if (Either.isLeft(hit)) return yield* execute(node, ref, key, structure, hit.left, depResults)
        const [produced, savedMs] = hit.right
        yield* settleHit(node, ref, { key, structure, produced, savedMs })
      })

    const summarize = Effect.gen(function*() {
      const wallMs = (yield* Clock.currentTimeMillis) - startedAt
      const ordered = nodes.map((n) =>
        results.get(n.qid) ?? { task: n.ref, status: "cancelled" as const, durationMs: 0, savedMs: 0 }
      )
      const count = (status: TaskStatus) => ordered.filter((r) => r.status === status).length
      const summary: RunSummary = {
        total: ordered.length,
        ran: count("ran"),
        cached: count("cached"),
        deduped: count("deduped"),
        skipped: count("skipped"),
        failed: count("failed"),
        cancelled: count("cancelled"),
        wouldRun: count("would-run"),
        wallMs,
        savedMs: ordered.reduce((sum, r) => sum + r.savedMs, 0),
        results: ordered,
        values
      }
      return summary
    })

    const failed = (summary: RunSummary) =>
      new RunFailed({
        failures: [...failures],
        summary,
        message: failures.length === 1 && summary.skipped === 0
          ? (failures[0]?.message ?? "")
          : `${failures.length} task(s) failed, ${summary.skipped} skipped, ${summary.cancelled} cancelled; first: ${failures[0]?.message ?? ""}`
      })

    // Fail-fast: the first failure ends the joins, and every other fiber is interrupted (its finalizers run) before the
    // summary; so is every fiber when the run itself is interrupted.
    const fibers: Array<Fiber.RuntimeFiber<void, TaskFailed>> = []
    yield* Effect.gen(function*() {
      yield* sweep((effect) => Effect.map(Effect.fork(effect), (fiber) => void fibers.push(fiber)))
      yield* Effect.forEach(fibers, Fiber.join, { concurrency: "unbounded", discard: true })
    }).pipe(
      Effect.catchTag("TaskFailed", () => Effect.void),
      Effect.ensuring(Effect.suspend(() => Fiber.interruptAll(fibers)))
    )
    const summary = yield* summarize
    if (failures.length > 0) return yield* failed(summary)
    return summary
  })
