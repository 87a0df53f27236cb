import { Command } from "@effect/cli"
import { build, type BuildResult, dryRun } from "@engine/engine"
import { Console, Effect, Option } from "effect"
import { buildFlags, toBuildOptions } from "../BuildFlags"
import { renderDryRun } from "../DryRun"
import { dryRun as dryRunFlag, jobs, keepGoing, quiet } from "../GraphFlags"
import { withProgress } from "../Progress"
import { json } from "../Shared"

export const buildCommand = Command.make(
  "build",
  { ...buildFlags, jobs: jobs("Tasks compressing layers at once (default: the number of cores)"), keepGoing, dryRun: dryRunFlag, quiet, json },
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
      const result = yield* withProgress(o.quiet, (hooks) => build({ ...opts, ...hooks }))
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
