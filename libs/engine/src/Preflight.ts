import { type Backend, type BackendContext, type MissingCommand, missingCommands, type ToolRequest } from "@engine/backends"
import { Effect } from "effect"
import { InstallError } from "./BuildError"

/** One line per missing program: what it is, who needs it, how to get it. */
const describe = (m: MissingCommand) =>
  `  ${[m.command, ...m.alternatives].map((c) => `\`${c}\``).join(" or ")} (needed by ${m.specs.join(", ")}): ${m.hint}`

/**
 * Fails, before any install starts, when a tool to install needs a program (cargo, go, pipx...) that is not on PATH,
 * naming every such program at once so nothing is left half installed.
 */
export const checkRequiredCommands = (
  tools: ReadonlyArray<{ readonly request: ToolRequest; readonly backend: Backend }>,
  ctx: BackendContext
) =>
  Effect.gen(function*() {
    const missing = yield* missingCommands(tools, ctx)
    if (missing.length === 0) return
    const specs = Array.from(new Set(missing.flatMap((m) => m.specs)))
    return yield* new InstallError({
      tool: specs.join(", "),
      message: [
        `cannot install ${specs.join(", ")}: ${missing.length === 1 ? "a program they need is" : "programs they need are"} not on PATH; nothing was installed.`,
        ...missing.map(describe)
      ].join("\n")
    })
  })
