import type { BuildOptions, LiveTask, ProgressBoard, TaskEvent, TaskRef, TasksSummary } from "@engine/engine"
import { makeProgressBoard } from "@engine/engine"
import { Effect, Schedule } from "effect"

export interface ProgressStyle {
  readonly color: boolean
  /** Running tasks are redrawn in place below the finished ones. */
  readonly live: boolean
}

/**
 * Colors only on a terminal and never with NO_COLOR set (no-color.org). Live lines need a terminal that moves
 * the cursor (not TERM=dumb); NO_COLOR does not turn them off: it is about color, and they use no color codes.
 */
export const progressStyle = (stream: NodeJS.WriteStream, env: Readonly<Record<string, string | undefined>>): ProgressStyle => ({
  color: stream.isTTY === true && (env.NO_COLOR ?? "") === "",
  live: stream.isTTY === true && env.TERM !== "dumb"
})

const paint = (style: ProgressStyle, code: number, text: string) => (style.color ? `\x1b[${code}m${text}\x1b[0m` : text)

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`

/** Decimal units, as download tools and `ls -h --si` show them: `980 B`, `1.5 MB`. */
export const formatBytes = (bytes: number): string => {
  if (bytes < 1000) return `${Math.round(bytes)} B`
  const units = ["kB", "MB", "GB", "TB"]
  let value = bytes / 1000
  let unit = 0
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000
    unit++
  }
  return `${value.toFixed(1)} ${units[unit]}`
}

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

/** A running task, redrawn in place: `[install] http:hello@1.0.0 ... 1.5 MB at 512.0 kB/s 2.9s`. */
export const liveLine = (t: LiveTask): string => {
  const moved = t.bytes > 0 ? ` ${formatBytes(t.bytes)}${t.rate !== undefined ? ` at ${formatBytes(t.rate)}/s` : ""}` : ""
  return `${head(t.task)}${moved} ${seconds(t.elapsedMs)}`
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

/** What a build or install hands the engine to be watched. */
export interface ProgressHooks {
  readonly reporter?: (event: TaskEvent) => Effect.Effect<void>
  readonly onSummary?: (tasks: TasksSummary) => Effect.Effect<void>
  readonly progress?: BuildOptions["progress"]
}

/** A few redraws a second: smooth enough for a rate, cheap enough to cost nothing next to the work. */
const REDRAW_EVERY = "120 millis"
/** Forty tools installing at once would push everything else off the screen. */
const MAX_LIVE_LINES = 12

/**
 * The running tasks drawn at the bottom of the stream, erased and drawn again on every tick. Anything else written
 * to the stream meanwhile (a finished task, a warning) goes through `write`, which erases the live lines first and
 * draws them after, so the live area never overwrites nor strands a line.
 */
const liveArea = (stream: NodeJS.WriteStream, board: ProgressBoard) => {
  const original = stream.write
  let drawn = 0
  let closed = false
  const emit = (text: string) => original.call(stream, text)
  // Cursor up over the lines drawn last, then erase to the end of the screen.
  const erase = () => (drawn === 0 ? "" : `\r\x1b[${drawn}A\x1b[J`)
  const frame = () => {
    // A line longer than the terminal would wrap, and more lines than it has would scroll: either way the cursor-up
    // count would no longer cover what was drawn.
    const width = Math.max(20, (stream.columns > 0 ? stream.columns : 80) - 1)
    const height = Math.max(2, Math.min(MAX_LIVE_LINES, (stream.rows > 0 ? stream.rows : 24) - 2))
    const running = board.running(Date.now()).map(liveLine)
    const shown = running.length <= height ? running : [...running.slice(0, height - 1), `... and ${running.length - height + 1} more running`]
    const lines = shown.map((l) => l.slice(0, width))
    const text = lines.map((l) => `${l}\n`).join("")
    drawn = lines.length
    return text
  }
  const patched = (...args: Parameters<typeof original>) => {
    const before = erase()
    drawn = 0
    if (before !== "") emit(before)
    const ok = original.apply(stream, args)
    const after = frame()
    if (after !== "") emit(after)
    return ok
  }
  return {
    open: Effect.sync(() => {
      // `write` is overloaded; `patched` forwards whichever form it was called with.
      stream.write = patched as typeof stream.write
    }),
    redraw: Effect.sync(() => {
      const text = closed ? "" : erase() + frame()
      if (text !== "") emit(text)
    }),
    close: Effect.sync(() => {
      if (closed) return
      closed = true
      stream.write = original
      const text = erase()
      drawn = 0
      if (text !== "") emit(text)
    })
  }
}

/**
 * Runs a build or install with the progress output the stream and the flags ask for: nothing with `--quiet`; on a
 * terminal, finished tasks as lines and running ones redrawn live with their bytes and rate; elsewhere (CI, a pipe),
 * one line per task start and end. The summary line comes last either way.
 */
export const withProgress = <A, E, R>(
  quiet: boolean,
  run: (hooks: ProgressHooks) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> => {
  if (quiet) return run({})
  const stream = process.stderr
  const style = progressStyle(stream, process.env)
  const onSummary = (tasks: TasksSummary) => Effect.sync(() => void stream.write(`${summaryLine(tasks)}\n`))
  if (!style.live) return run({ reporter: progressReporter(stream, style), onSummary })
  const board = makeProgressBoard()
  const area = liveArea(stream, board)
  const reporter = (event: TaskEvent) =>
    Effect.sync(() => {
      board.observe(event, Date.now())
      // A start shows up in the live area; everything else is a line that stays.
      const line = event._tag === "Started" ? undefined : progressLine(event, style)
      if (line !== undefined) stream.write(`${line}\n`)
    })
  return Effect.scoped(
    Effect.gen(function*() {
      yield* Effect.acquireRelease(area.open, () => area.close)
      yield* Effect.forkScoped(Effect.repeat(area.redraw, Schedule.spaced(REDRAW_EVERY)))
      // The live lines are erased before the summary is written, so it is the last thing on screen.
      return yield* run({ reporter, progress: board.sink, onSummary: (tasks) => Effect.zipRight(area.close, onSummary(tasks)) })
    })
  )
}
