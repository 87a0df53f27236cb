import { Cause, Clock, Data, Deferred, Effect, Either, Exit, Option } from "effect"
import { availableParallelism } from "node:os"
import { messageOf } from "../Errors"
import { type DepResult, GraphError, type Produced, type ResourceClass, type Task, type TaskGraph } from "./TaskGraph"
import { diffKeyStructures, type InputChange, type Json, type KeyStructure, taskKey } from "./TaskKey"

/** A task as reports name it: `graph#id` is its stable id across runs. */
export interface TaskRef {
  readonly graph: string
  readonly id: string
  readonly kind: string
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
  readonly detail: string
}

/** What the scheduler needs from a cache. `ActionCache` implements it on disk; lookups never fail, they miss. */
export interface TaskCache {
  readonly lookup: (key: string) => Effect.Effect<CacheLookup>
  readonly put: (entry: CacheEntryInput) => Effect.Effect<void, CacheWriteFailure>
  /** The key structure of the task's last successful run, for explaining a miss. */
  readonly lastRun: (taskId: string) => Effect.Effect<Option.Option<KeyStructure>>
  readonly saveRun: (taskId: string, structure: KeyStructure, key: string) => Effect.Effect<void, CacheWriteFailure>
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

export type TaskStatus = "ran" | "cached" | "deduped" | "skipped" | "failed" | "cancelled"

export interface TaskResult {
  readonly task: TaskRef
  readonly status: TaskStatus
  readonly key?: string
  /** Time spent running (0 unless `ran`). */
  readonly durationMs: number
  /** For a hit: how long the task took when its cache entry was made. */
  readonly savedMs: number
  readonly output?: Json
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
  readonly reporter?: (event: TaskEvent) => Effect.Effect<void>
}

export const DEFAULT_NET_CONCURRENCY = 8

type Outcome =
  | { readonly _tag: "Done"; readonly key: string; readonly value: unknown; readonly output: Json }
  | { readonly _tag: "NotDone"; readonly because: TaskRef }

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

    const settle = (node: Node<E, R>, result: TaskResult, outcome: Outcome) =>
      Effect.suspend(() => {
        results.set(node.qid, result)
        if (outcome._tag === "Done") values.set(node.qid, outcome.value)
        return Effect.asVoid(Deferred.succeed(node.done, outcome))
      })

    const fail = (node: Node<E, R>, key: string | undefined, cause: unknown) =>
      Effect.gen(function*() {
        const error = new TaskFailed({
          task: node.ref,
          key,
          cause,
          message: `${node.qid} (${node.ref.kind}) failed: ${messageOf(cause)}`
        })
        failures.push(error)
        results.set(node.qid, { task: node.ref, status: "failed", ...(key !== undefined ? { key } : {}), durationMs: 0, savedMs: 0 })
        yield* report(TaskEvent.Failed({ task: node.ref, error }))
        // Fail-fast leaves dependents waiting: the whole run is about to be interrupted anyway.
        if (!continueOnError) return yield* error
        yield* Deferred.succeed(node.done, { _tag: "NotDone", because: node.ref })
      })

    const warnOnWriteFailure = (node: Node<E, R>, key: string) => (effect: Effect.Effect<void, CacheWriteFailure>) =>
      effect.pipe(Effect.catchAll((e) => report(TaskEvent.CacheWriteFailed({ task: node.ref, key, message: e.message }))))

    const lookup = (node: Node<E, R>, key: string): Effect.Effect<Either.Either<readonly [Produced<unknown>, number], MissReason>, never, R> => {
      const cache = options.cache
      if (cache === undefined) return Effect.succeed(Either.left({ _tag: "NoCache", detail: "no cache configured" }))
      if (!node.task.cacheable) return Effect.succeed(Either.left({ _tag: "NotCacheable", detail: `${node.ref.kind} tasks are not cached` }))
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

    const execute = (node: Node<E, R>, key: string, structure: KeyStructure, miss: MissReason, deps: ReadonlyMap<string, DepResult<unknown>>) =>
      Effect.gen(function*() {
        const cache = options.cache
        const previous = cache === undefined ? Option.none() : yield* cache.lastRun(node.qid)
        const changes = Option.match(previous, {
          onNone: () => [],
          onSome: (before) => diffKeyStructures(before, structure)
        })
        const exit = yield* limiters[node.task.resource].withPermits(1)(
          Effect.gen(function*() {
            yield* report(TaskEvent.Started({ task: node.ref, key, miss, changes }))
            const t0 = yield* Clock.currentTimeMillis
            const produced = yield* node.task.execute(deps).pipe(
              Effect.onInterrupt(() => report(TaskEvent.Interrupted({ task: node.ref, key })))
            )
            const durationMs = (yield* Clock.currentTimeMillis) - t0
            return [produced, durationMs] as const
          })
        ).pipe(Effect.exit)
        if (Exit.isFailure(exit)) {
          if (Cause.isInterruptedOnly(exit.cause)) return yield* Effect.interrupt
          const cause = Either.match(Cause.failureOrCause(exit.cause), { onLeft: (e): unknown => e, onRight: Cause.squash })
          return yield* fail(node, key, cause)
        }
        const [produced, durationMs] = exit.value
        if (cache !== undefined) {
          // A finished task's entry is written whole or not at all, even if the run is being interrupted.
          const persist = Effect.all([
            node.task.cacheable
              ? cache.put({ key, taskId: node.qid, kind: node.ref.kind, output: produced.output, blobs: produced.blobs, durationMs })
              : Effect.void,
            cache.saveRun(node.qid, structure, key)
          ], { discard: true })
          yield* Effect.uninterruptible(warnOnWriteFailure(node, key)(persist))
        }
        yield* report(TaskEvent.Finished({ task: node.ref, key, durationMs }))
        yield* settle(node, { task: node.ref, status: "ran", key, durationMs, savedMs: 0, output: produced.output }, {
          _tag: "Done",
          key,
          value: produced.value,
          output: produced.output
        })
      })

    const runNode = (node: Node<E, R>): Effect.Effect<void, TaskFailed, R> =>
      Effect.gen(function*() {
        const deps = yield* Effect.forEach(node.deps, ([alias, qid]) => {
          const dep = byQid.get(qid)
          return dep === undefined
            ? Effect.dieMessage(`scheduler: ${node.qid} depends on ${qid}, which is not in its graph`)
            : Deferred.await(dep.done).pipe(Effect.map((outcome) => [alias, outcome] as const))
        })
        const depResults = new Map<string, DepResult<unknown>>()
        for (const [alias, outcome] of deps) {
          if (outcome._tag === "NotDone") {
            yield* report(TaskEvent.Skipped({ task: node.ref, because: outcome.because }))
            return yield* settle(node, { task: node.ref, status: "skipped", durationMs: 0, savedMs: 0 }, outcome)
          }
          depResults.set(alias, { value: outcome.value, key: outcome.key, output: outcome.output })
        }
        const depKeys = Object.fromEntries([...depResults].map(([alias, r]) => [alias, r.key]))
        // A task's `inputs` is plugin code: a throw fails that task, not the whole run.
        const computed = Either.flatMap(
          Either.try(() => node.task.keyInputs(depResults)),
          (inputs) => taskKey(node.ref.kind, inputs, depKeys)
        )
        if (Either.isLeft(computed)) return yield* fail(node, undefined, computed.left)
        const { key, structure } = computed.right

        const owner = owners.get(key)
        if (owner !== undefined) {
          const outcome = yield* Deferred.await(owner.done)
          if (outcome._tag === "NotDone") {
            yield* report(TaskEvent.Skipped({ task: node.ref, because: outcome.because }))
            return yield* settle(node, { task: node.ref, status: "skipped", key, durationMs: 0, savedMs: 0 }, outcome)
          }
          yield* report(TaskEvent.Deduped({ task: node.ref, key, sameAs: owner.ref }))
          if (options.cache !== undefined) yield* warnOnWriteFailure(node, key)(options.cache.saveRun(node.qid, structure, key))
          return yield* settle(node, { task: node.ref, status: "deduped", key, durationMs: 0, savedMs: 0, output: outcome.output }, outcome)
        }
        owners.set(key, node)

        const hit = yield* lookup(node, key)
        if (Either.isLeft(hit)) return yield* execute(node, key, structure, hit.left, depResults)
        const [produced, savedMs] = hit.right
        yield* report(TaskEvent.Cached({ task: node.ref, key, savedMs }))
        if (options.cache !== undefined) yield* warnOnWriteFailure(node, key)(options.cache.saveRun(node.qid, structure, key))
        yield* settle(node, { task: node.ref, status: "cached", key, durationMs: 0, savedMs, output: produced.output }, {
          _tag: "Done",
          key,
          value: produced.value,
          output: produced.output
        })
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

    yield* Effect.forEach(nodes, runNode, { concurrency: "unbounded", discard: true }).pipe(
      Effect.catchTag("TaskFailed", () => Effect.void)
    )
    const summary = yield* summarize
    if (failures.length > 0) return yield* failed(summary)
    return summary
  })
