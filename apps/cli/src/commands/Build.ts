import { Command, Options } from "@effect/cli"
import { build, type BuildResult, type DryRun, dryRun } from "@engine/engine"
import { Console, Effect, Option } from "effect"
import { buildFlags, toBuildOptions } from "../BuildFlags"
import { progressReporter, progressStyle, summaryLine } from "../Progress"
import { json } from "../Shared"

const jobs = Options.integer("jobs").pipe(
  Options.withAlias("j"),
  Options.withDescription("Tasks compressing layers at once (default: the number of cores)"),
  Options.optional
)
const keepGoing = Options.boolean("continue").pipe(
  Options.withDescription("After a task fails, finish the tasks that do not depend on it before exiting")
)
const dryRunFlag = Options.boolean("dry-run").pipe(
  Options.withDescription(
    "Print the task graph with each task's key and whether it would be a cache hit; build nothing (`--dry-run=json` for JSON)"
  )
)
const quiet = Options.boolean("quiet").pipe(
  Options.withAlias("q"),
  Options.withDescription("No progress lines or summary on stderr (warnings and errors still print)")
)

export const buildCommand = Command.make(
  "build",
  { ...buildFlags, jobs, keepGoing, dryRun: dryRunFlag, quiet, json },
  (o) =>
    Effect.gen(function*() {
      const opts = {
        ...toBuildOptions(o),
        jobs: Option.getOrUndefined(o.jobs),
        continueOnError: o.keepGoing,
        quiet: o.quiet
      }
      if (o.dryRun) {
        const plan = yield* dryRun(opts)
        return yield* Console.log(o.json ? JSON.stringify(plan, null, 2) : renderDryRun(plan))
      }
      const result = yield* build(
        o.quiet ? opts : {
          ...opts,
          reporter: progressReporter(process.stderr, progressStyle(process.stderr, process.env)),
          onSummary: (tasks) => Effect.sync(() => void process.stderr.write(`${summaryLine(tasks)}\n`))
        }
      )
      yield* o.json ? Console.log(JSON.stringify(result, null, 2)) : Console.log(renderBuild(result))
    })
).pipe(Command.withDescription("Build an OCI image layout from the project's mise.toml, one layer per tool"))

const renderBuild = (r: BuildResult): string => {
  const lines = [`wrote OCI image layout to ${r.outputDir}`, `manifest: ${r.manifestDigest}`, "tool layers:"]
  for (const l of r.layers) {
    if (l.kind === "tool") lines.push(`  ${l.tool}@${l.version}  ${l.digest.slice(0, 19)}  ${l.size} bytes`)
  }
  return lines.join("\n")
}

const MISS: Readonly<Record<string, string>> = {
  Absent: "not cached",
  Undecodable: "cached result no longer holds",
  Corrupt: "cache entry damaged",
  BlobMissing: "cached blob missing",
  BlobCorrupt: "cached blob damaged",
  Unreadable: "cache entry unreadable",
  Bypassed: "--no-cache",
  Forced: "--force",
  NotCacheable: "never cached",
  NoCache: "no cache"
}

/** One line per task in dependency order: name, short key, and hit / run / run after X. */
const renderDryRun = (plan: DryRun): string => {
  const width = Math.max(4, ...plan.tasks.map((t) => t.task.length))
  const lines = [`${"TASK".padEnd(width)}  ${"KEY".padEnd(16)}  WOULD`]
  for (const t of plan.tasks) {
    const status = t.status === "hit"
      ? "hit"
      : t.status === "blocked"
      ? `run (key needs ${t.blockedBy ?? "a task that would run"})`
      : `run (${(t.miss !== undefined ? MISS[t.miss] : undefined) ?? t.reason ?? "miss"})`
    lines.push(`${t.task.padEnd(width)}  ${(t.key ?? "-").slice(0, 16).padEnd(16)}  ${status}`)
    if (t.dependsOn.length > 0) lines.push(`${"".padEnd(width)}    after ${t.dependsOn.join(", ")}`)
  }
  lines.push(`${plan.hits} of ${plan.tasks.length} tasks would be cache hits, ${plan.runs} would run`)
  return lines.join("\n")
}
