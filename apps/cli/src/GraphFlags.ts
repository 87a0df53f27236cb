import { Options } from "@effect/cli"

/** Flags of the commands that run a task graph (`engine build`, `engine install`). */
export const jobs = (description: string) =>
  Options.integer("jobs").pipe(Options.withAlias("j"), Options.withDescription(description), Options.optional)

export const keepGoing = Options.boolean("continue").pipe(
  Options.withDescription("After a task fails, finish the tasks that do not depend on it before exiting")
)

export const dryRun = Options.boolean("dry-run").pipe(
  Options.withDescription(
    "Print the task graph with each task's key and whether it would be a cache hit; run nothing (`--dry-run=json` for JSON)"
  )
)

export const quiet = Options.boolean("quiet").pipe(
  Options.withAlias("q"),
  Options.withDescription("No progress lines or summary on stderr (warnings and errors still print)")
)
