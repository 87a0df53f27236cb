import { Command } from "@effect/cli"
import { install } from "@engine/engine"
import { Console, Effect, Option } from "effect"
import { cd, includeGlobal, json } from "../Shared"

export const installCommand = Command.make("install", { includeGlobal, json, cd }, (o) =>
  Effect.gen(function*() {
    const result = yield* install({
      cwd: Option.getOrElse(o.cd, () => process.cwd()),
      includeGlobal: o.includeGlobal,
      env: process.env
    })
    if (o.json) return yield* Console.log(JSON.stringify(result, null, 2))
    for (const t of result.tools) {
      yield* Console.log(`${t.tool}@${t.version}  ${t.installed ? "installed" : "already installed"}  ${t.installDir}`)
    }
  })).pipe(Command.withDescription("Install the project's tools into the data dir (what `engine build` would install)"))
