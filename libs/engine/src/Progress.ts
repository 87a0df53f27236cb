import type { ProgressShape } from "@engine/layout"
import type { TaskEvent, TaskRef } from "./graph"
import { taskRefId } from "./graph"

/** A task running right now, as a live progress line shows it. */
export interface LiveTask {
  readonly task: TaskRef
  readonly elapsedMs: number
  /** Bytes its downloads or layer writes moved so far; 0 for work that reports none (a version lookup). */
  readonly bytes: number
  /** Bytes per second over about the last RATE_WINDOW_MS; undefined before any bytes moved. */
  readonly rate: number | undefined
}

/**
 * The running tasks of a build and the bytes they move: the scheduler hands each task a `sink`, the reporter
 * feeds every event to `observe`, and a renderer samples `running` a few times a second. Holds no timer itself.
 */
export interface ProgressBoard {
  readonly sink: (task: TaskRef) => ProgressShape
  readonly observe: (event: TaskEvent, now: number) => void
  /** In start order; each call is also a rate sample. */
  readonly running: (now: number) => ReadonlyArray<LiveTask>
}

/** A rate over the last second follows a download that speeds up or stalls; a whole-run average would not. */
export const RATE_WINDOW_MS = 1000

interface Entry {
  task: TaskRef
  readonly startedAt: number
  bytes: number
  /** `[ms, bytes]`, oldest first, trimmed to the window (plus the last sample before it). */
  samples: Array<readonly [number, number]>
}

export const makeProgressBoard = (): ProgressBoard => {
  const entries = new Map<string, Entry>()
  const sample = (entry: Entry, now: number): number | undefined => {
    entry.samples.push([now, entry.bytes])
    while (entry.samples.length > 2 && now - entry.samples[1]![0] >= RATE_WINDOW_MS) entry.samples.shift()
    const [t0, b0] = entry.samples[0]!
    return entry.bytes === 0 || now <= t0 ? undefined : ((entry.bytes - b0) * 1000) / (now - t0)
  }
  return {
    sink: (task) => {
      const id = taskRefId(task)
      return {
        advance: (bytes) => {
          const entry = entries.get(id)
          if (entry !== undefined) entry.bytes += bytes
        }
      }
    },
    observe: (event, now) => {
      switch (event._tag) {
        case "Started":
          entries.set(taskRefId(event.task), { task: event.task, startedAt: now, bytes: 0, samples: [[now, 0]] })
          return
        case "Finished":
        case "Failed":
        case "Interrupted":
          entries.delete(taskRefId(event.task))
          return
        default:
          return
      }
    },
    running: (now) =>
      [...entries.values()].map((entry) => ({
        task: entry.task,
        elapsedMs: now - entry.startedAt,
        bytes: entry.bytes,
        rate: sample(entry, now)
      }))
  }
}
