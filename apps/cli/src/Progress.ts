import type { TaskEvent, TaskRef, TasksSummary } from "@engine/engine"
import { Effect } from "effect"

export interface ProgressStyle {
  readonly color: boolean
}

/** Colors only on a terminal, and never with NO_COLOR set (no-color.org). */
export const progressStyle = (stream: NodeJS.WriteStream, env: Readonly<Record<string, string | undefined>>): ProgressStyle => ({
  color: stream.isTTY === true && (env.NO_COLOR ?? "") === ""
})

const paint = (style: ProgressStyle, code: number, text: string) => (style.color ? `\x1b[${code}m${text}\x1b[0m` : text)

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`

/** What follows the kind in a line: `http:hello@1.0.0`, `/srv/assets`, the output dir (nothing for a skipped `layout`). */
const subject = (ref: TaskRef): string =>
  ref.label ?? (ref.id.startsWith(`${ref.kind}:`) ? ref.id.slice(ref.kind.length + 1) : ref.id === ref.kind ? "" : ref.id)

const head = (ref: TaskRef) => `[${ref.kind}]${subject(ref) === "" ? "" : ` ${subject(ref)}`} ...`

/** One stderr line per task start and end: `[tool-layer] http:hello@1.0.0 ... done 0.3s` / `... cached`. */
export const progressLine = (event: TaskEvent, style: ProgressStyle): string | undefined => {
  switch (event._tag) {
    case "Started":
      return head(event.task)
    case "Finished":
      return `${head(event.task)} ${paint(style, 32, "done")} ${seconds(event.durationMs)}`
    case "Cached":
      return `${head(event.task)} ${paint(style, 2, "cached")}`
    case "Deduped":
      return `${head(event.task)} ${paint(style, 2, "cached")} (same as ${subject(event.sameAs)})`
    case "Failed":
      return `${head(event.task)} ${paint(style, 31, "failed")}`
    case "Skipped":
      return `${head(event.task)} ${paint(style, 33, "skipped")} (${[event.because.kind, subject(event.because)].filter((x) => x !== "").join(" ")} failed)`
    case "Interrupted":
      return `${head(event.task)} ${paint(style, 33, "interrupted")}`
    case "CacheWriteFailed":
      return `warning: ${subject(event.task)}: not cached: ${event.message}`
    case "WouldRun":
      return undefined
  }
}

export const progressReporter = (stream: NodeJS.WriteStream, style: ProgressStyle) => (event: TaskEvent) =>
  Effect.sync(() => {
    const line = progressLine(event, style)
    if (line !== undefined) stream.write(`${line}\n`)
  })

/** The last stderr line of a build: `tasks: 1 ran, 6 cached (saved 2.4s) in 0.3s`. */
export const summaryLine = (tasks: TasksSummary): string => {
  const parts = [`${tasks.ran} ran`, `${tasks.cached} cached`]
  if (tasks.skipped > 0) parts.push(`${tasks.skipped} skipped`)
  if (tasks.failed > 0) parts.push(`${tasks.failed} failed`)
  return `tasks: ${parts.join(", ")} (saved ${seconds(tasks.savedMs)}) in ${seconds(tasks.wallMs)}`
}
