import { Effect, Option } from "effect"
import { type BuildOptions, findTask, prepareBuild, runPrepared, taskName } from "./Build"
import { diffKeyStructures, type InputChange, type KeyStructure, taskRefId } from "./graph"

/** A run of the task recorded in the cache: its key and what that key was computed from. */
export interface RecordedRun {
  readonly key: string
  readonly at: string
  readonly structure: KeyStructure
}

/** `engine explain TASK`: what the task's key is made of now, and what changed since it last ran. */
export interface Explanation {
  readonly task: string
  readonly id: string
  readonly kind: string
  /** `hit`: would be restored; `run`: would run (`reason`); `blocked`: its key needs `blockedBy`'s output first. */
  readonly status: "hit" | "run" | "blocked"
  readonly key?: string
  readonly reason?: string
  readonly blockedBy?: string
  /** The inputs of the key as it would be computed now. */
  readonly structure?: KeyStructure
  /** The task's last recorded run (a build, not a dry run). */
  readonly lastRun?: RecordedRun
  /** Now against the last run: empty when the key is the same. */
  readonly changesSinceLastRun: ReadonlyArray<InputChange>
  /** The last time the key changed: the run before `lastRun` against `lastRun`. */
  readonly lastChange?: { readonly from: string; readonly to: string; readonly changes: ReadonlyArray<InputChange> }
}

/** Computes the build's keys as a dry run does and explains one task; TASK is its id or the name dry-run prints. */
export const explain = (opts: BuildOptions, name: string) =>
  Effect.gen(function*() {
    const prepared = yield* prepareBuild(opts)
    const summary = yield* runPrepared(prepared, opts, true)
    const result = yield* findTask(summary, name)
    const record = yield* prepared.cache.lastRunRecord(taskRefId(result.task))
    const lastRun = Option.getOrUndefined(Option.map(record, (r): RecordedRun => ({ key: r.key, at: r.at, structure: r.structure })))
    const previous = Option.getOrUndefined(Option.flatMap(record, (r) => Option.fromNullable(r.previous)))
    const explanation: Explanation = {
      task: taskName(result.task),
      id: result.task.id,
      kind: result.task.kind,
      status: result.status === "cached" || result.status === "deduped" ? "hit" : result.blockedBy !== undefined ? "blocked" : "run",
      ...(result.key !== undefined ? { key: result.key } : {}),
      ...(result.miss !== undefined ? { reason: result.miss.detail } : {}),
      ...(result.blockedBy !== undefined ? { blockedBy: taskName(result.blockedBy) } : {}),
      ...(result.structure !== undefined ? { structure: result.structure } : {}),
      ...(lastRun !== undefined ? { lastRun } : {}),
      changesSinceLastRun: lastRun !== undefined && result.structure !== undefined && lastRun.key !== result.key
        ? diffKeyStructures(lastRun.structure, result.structure)
        : [],
      ...(previous !== undefined && lastRun !== undefined
        ? { lastChange: { from: previous.key, to: lastRun.key, changes: diffKeyStructures(previous.structure, lastRun.structure) } }
        : {})
    }
    return explanation
  })
