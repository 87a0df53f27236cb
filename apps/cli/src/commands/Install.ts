import { Command } from "@effect/cli"
import { install, installDryRun } from "@engine/engine"
import { Console, Effect, Option } from "effect"
import { renderDryRun } from "../DryRun"
import { dryRun, jobs, keepGoing, quiet } from "../GraphFlags"
import { withProgress } from "../Progress"
import { cd, includeGlobal, json } from "../Shared"

export const installCommand = Command.make(
  "install",
  { includeGlobal, jobs: jobs("Tools installed at once (default: 8)"), keepGoing, dryRun, quiet, json, cd },
  (o) =>
    Effect.gen(function*() {
      const opts = {
        cwd: Option.getOrElse(o.cd, () => process.cwd()),
        includeGlobal: o.includeGlobal,
        jobs: Option.getOrUndefined(o.jobs),
        continueOnError: o.keepGoing,
        quiet: o.quiet,
        env: process.env
      }
      if (o.dryRun) {
        const plan = yield* installDryRun(opts)
        return yield* Console.log(o.json ? JSON.stringify(plan, null, 2) : renderDryRun(plan))
      }
      const result = yield* withProgress(o.quiet, (hooks) => install({ ...opts, ...hooks }))
      if (o.json) return yield* Console.log(JSON.stringify(result, null, 2))
      for (const t of result.tools) {
        yield* Console.log(`${t.tool}@${t.version}  ${t.installed ? "installed" : "already installed"}  ${t.installDir}`)
      }
    })
).pipe(
  Command.withDescription(
    "Install the project's tools into the data dir: the resolve and install tasks of `engine build`, memoized in the same cache"
  )
)
