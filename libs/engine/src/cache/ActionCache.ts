import { Effect, Option, Schema } from "effect"
import type { CacheLookup, MissReason, TaskCache } from "../graph/Scheduler"
import { type KeyStructure, KeyStructureSchema, sha256HexOfName } from "../graph/TaskKey"
import { type ActionRecord, CacheError, type CacheStore, type DocumentRead } from "./CacheStore"

const KeyedStructure = Schema.Struct({ key: Schema.String, structure: KeyStructureSchema })

/**
 * The key structure of a task's last successful run, kept so a later miss can say what changed, and the
 * run before it with a different key, so `engine explain` can show the last change after the fact.
 */
const RunRecordSchema = Schema.Struct({
  taskId: Schema.String,
  key: Schema.String,
  structure: KeyStructureSchema,
  at: Schema.String,
  previous: Schema.optional(KeyedStructure)
})
export type RunRecord = typeof RunRecordSchema.Type

/** The part of a run record that says whose it is and for which key (a Struct ignores the other fields). */
const RunIds = Schema.Struct({ taskId: Schema.String, key: Schema.String })

export interface ActionCacheOptions {
  /** Hash every referenced blob on lookup instead of checking its size (`--verify`). */
  readonly verify?: boolean
  readonly now?: () => Date
}

/** The scheduler's cache, on a `CacheStore`: action records, blob checks, and last-run key structures. */
export interface ActionCache extends TaskCache {
  readonly store: CacheStore
  /** What `engine explain <task>` prints: the last run's key structure, and the change from the run before. */
  readonly lastRunRecord: (taskId: string) => Effect.Effect<Option.Option<RunRecord>>
}

/** A task's run document is named by the sha256 of its id. */
const runName = sha256HexOfName

export const makeActionCache = (store: CacheStore, options: ActionCacheOptions = {}): ActionCache => {
  const now = options.now ?? (() => new Date())
  const miss = (reason: MissReason): CacheLookup => ({ _tag: "Miss", reason })

  /** A damaged entry is a miss: say so in the log, and remove it so no reader trusts it; the rerun rewrites it. */
  const discard = (reason: MissReason, remove: Effect.Effect<void, CacheError>) =>
    Effect.logWarning(`cache: ${reason.detail}; treating as a miss and rebuilding`).pipe(
      Effect.zipRight(remove.pipe(Effect.catchAll((e) => Effect.logWarning(e.message)))),
      Effect.as(miss(reason))
    )

  const checkBlobs = (record: ActionRecord): Effect.Effect<Option.Option<CacheLookup>> =>
    Effect.gen(function*() {
      for (const ref of record.blobs) {
        const check = yield* store.checkBlob(ref, { verify: options.verify === true })
        if (check._tag === "Missing") {
          return Option.some(miss({ _tag: "BlobMissing", detail: `blob ${ref.digest} of ${record.taskId} is gone (${check.path})` }))
        }
        if (check._tag === "Damaged") {
          // The damaged blob may be shared by other records: removing it turns them into misses too.
          return Option.some(
            yield* discard(
              { _tag: "BlobCorrupt", detail: `blob ${check.path} of ${record.taskId} is damaged: ${check.detail}` },
              store.removeBlob(ref.digest)
            )
          )
        }
      }
      return Option.none()
    })

  /** A record read that found nothing to check is a miss: no entry, or an entry that cannot be read. */
  const notFound = (key: string, read: Extract<DocumentRead<ActionRecord>, { readonly _tag: "Absent" | "Unreadable" }>): CacheLookup =>
    read._tag === "Absent"
      ? miss({ _tag: "Absent", detail: `no cache entry for key ${key}` })
      : miss({ _tag: "Unreadable", detail: `cannot read ${read.path}: ${read.detail}` })

  const hitOf = (record: ActionRecord): CacheLookup => ({ _tag: "Hit", output: record.output, durationMs: record.durationMs })

  const lookup: TaskCache["lookup"] = (key) =>
    Effect.gen(function*() {
      const read = yield* store.readRecord(key)
      if (read._tag === "Corrupt") {
        return yield* discard({ _tag: "Corrupt", detail: `cache entry ${read.path} is damaged: ${read.detail}` }, store.removeRecord(key))
      }
      if (read._tag !== "Found") return notFound(key, read)
      const bad = yield* checkBlobs(read.value)
      if (Option.isSome(bad)) return bad.value
      // Last-used stamp for prune; a read-only cache still serves hits, it just cannot order them.
      yield* store.touchRecord(key, read.mtimeMs).pipe(Effect.ignore)
      return hitOf(read.value)
    })

  const quickLookup: TaskCache["quickLookup"] = (key) => {
    if (options.verify === true) return undefined
    const read = store.now.readRecord(key)
    // A damaged entry is left to `lookup`, which logs and removes it.
    if (read._tag === "Corrupt") return undefined
    if (read._tag !== "Found") return notFound(key, read)
    for (const ref of read.value.blobs) {
      const check = store.now.checkBlob(ref)
      if (check._tag === "Missing") {
        return miss({ _tag: "BlobMissing", detail: `blob ${ref.digest} of ${read.value.taskId} is gone (${check.path})` })
      }
      if (check._tag === "Damaged") return undefined
    }
    store.now.touchRecord(key, read.mtimeMs)
    return hitOf(read.value)
  }

  const runIsCurrent: TaskCache["runIsCurrent"] = (taskId, key) => {
    const known = lastRuns.get(taskId)
    if (known !== undefined) return Option.isSome(known) && known.value.key === key
    const ids = store.now.readDocument("runs", runName(taskId), RunIds)
    return ids._tag === "Found" && ids.value.taskId === taskId && ids.value.key === key
  }

  const put: TaskCache["put"] = (entry) =>
    Effect.gen(function*() {
      for (const ref of entry.blobs) {
        // A stat each: a layout's entry lists every layer of its image.
        const check = store.now.checkBlob(ref)
        if (check._tag !== "Ok") {
          return yield* new CacheError({
            reason: "BlobMissing",
            path: store.blobPath(ref.digest),
            message: `cache: ${entry.taskId} references blob ${ref.digest} (${ref.size} bytes) that is not in the cache store; the task must put its blobs with putBlob/putBlobFromFile before finishing`
          })
        }
      }
      yield* store.writeRecord({ ...entry, createdAt: now().toISOString() })
    })

  // A miss reads its last run for the change list and again to save the new one: decode it once per build.
  const lastRuns = new Map<string, Option.Option<RunRecord>>()
  const lastRunRecord: ActionCache["lastRunRecord"] = (taskId) =>
    Effect.suspend(() => {
      const known = lastRuns.get(taskId)
      if (known !== undefined) return Effect.succeed(known)
      return store.readDocument("runs", runName(taskId), RunRecordSchema).pipe(
        Effect.map((read) => (read._tag === "Found" && read.value.taskId === taskId ? Option.some(read.value) : Option.none())),
        Effect.tap((record) => Effect.sync(() => lastRuns.set(taskId, record)))
      )
    })

  const lastRun: TaskCache["lastRun"] = (taskId) => Effect.map(lastRunRecord(taskId), Option.map((r): KeyStructure => r.structure))

  const saveRun: TaskCache["saveRun"] = (taskId, structure, key) =>
    Effect.gen(function*() {
      // Every hit lands here: decoding just the ids (not the key structure) settles the usual "unchanged".
      if (!lastRuns.has(taskId)) {
        const ids = yield* store.readDocument("runs", runName(taskId), RunIds)
        if (ids._tag === "Found" && ids.value.taskId === taskId && ids.value.key === key) return
      }
      const previous = yield* lastRunRecord(taskId)
      // Warm builds rewrite nothing: the record only changes when the key does.
      if (Option.isSome(previous) && previous.value.key === key) return
      const record: RunRecord = {
        taskId,
        key,
        structure,
        at: now().toISOString(),
        ...(Option.isSome(previous) ? { previous: { key: previous.value.key, structure: previous.value.structure } } : {})
      }
      yield* store.writeDocument("runs", runName(taskId), RunRecordSchema, record)
      lastRuns.set(taskId, Option.some(record))
    })

  return { store, lookup, quickLookup, put, lastRun, saveRun, runIsCurrent, lastRunRecord }
}
