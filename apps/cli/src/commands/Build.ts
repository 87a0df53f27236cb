import { Command, Options } from "@effect/cli"
import { build, type BuildResult, dryRun, push } from "@engine/engine"
import { Console, Effect, Option } from "effect"
import { buildFlags, toBuildOptions } from "../BuildFlags"
import { renderDryRun } from "../DryRun"
import { dryRun as dryRunFlag, jobs, keepGoing, quiet } from "../GraphFlags"
import { withProgress } from "../Progress"
import { json } from "../Shared"
import { renderPush } from "./Push"

const pushTo = Options.text("push").pipe(
  Options.withDescription("Then push the image to this reference (fully qualified); tool layers of the image there are reused"),
  Options.optional
)

export const buildCommand = Command.make(
  "build",
  { ...buildFlags, jobs: jobs("Tasks compressing layers at once (default: the number of cores)"), keepGoing, dryRun: dryRunFlag, quiet, json, push: pushTo },
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
      if (Option.isSome(o.push)) {
        const destination = o.push.value
        const pushed = yield* withProgress(o.quiet, (hooks) =>
          push({ destination, updateIndex: false, build: { ...opts, ...hooks, tag: opts.tag }, buildFlagsGiven: [] }))
        const built = pushed.build
        return yield* o.json
          ? Console.log(JSON.stringify(pushed, null, 2))
          : Console.log(built !== undefined ? `${renderBuild(built)}\n${renderPush(pushed)}` : renderPush(pushed))
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
