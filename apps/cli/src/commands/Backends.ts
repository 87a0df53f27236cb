import { Command } from "@effect/cli"
import { listBackends } from "@engine/engine"
import { Console, Effect } from "effect"
import { json } from "../Shared"

export const backendsCommand = Command.make("backends", { json }, (o) =>
  Effect.gen(function*() {
    const backends = yield* listBackends
    if (o.json) return yield* Console.log(JSON.stringify(backends, null, 2))
    for (const b of backends) {
      yield* Console.log(`${b.id.padEnd(10)} ${b.specForm.padEnd(28)} ${b.description}`)
      if (b.options.length > 0) yield* Console.log(`${"".padEnd(10)} options: ${b.options.join(", ")}`)
      if (b.settings.length > 0) yield* Console.log(`${"".padEnd(10)} settings: ${b.settings.join(", ")}`)
    }
  })).pipe(Command.withDescription("List the backends this engine can install tools with"))
