import { Effect } from "effect"
import type { Backend, BackendContext, RequiredCommand, ToolRequest } from "./Backend"
import { which } from "./Process"

/** A program no tool can be installed without, with every spec that needs it. */
export interface MissingCommand {
  readonly command: string
  readonly alternatives: ReadonlyArray<string>
  readonly hint: string
  readonly specs: ReadonlyArray<string>
}

const found = (need: RequiredCommand, env: BackendContext["env"]) =>
  Effect.gen(function*() {
    for (const command of [need.command, ...(need.alternatives ?? [])]) {
      if ((yield* which(command, env)) !== undefined) return true
      for (const dir of need.alsoIn ?? []) {
        if ((yield* which(command, { PATH: dir })) !== undefined) return true
      }
    }
    return false
  })

/**
 * The programs the given tools' installs would run that are on neither PATH nor the backend's own dirs,
 * grouped by program (first need's hint), in the order the tools are listed.
 */
export const missingCommands = (
  tools: ReadonlyArray<{ readonly request: ToolRequest; readonly backend: Backend }>,
  ctx: BackendContext
): Effect.Effect<ReadonlyArray<MissingCommand>> =>
  Effect.gen(function*() {
    const missing = new Map<string, { need: RequiredCommand; specs: Array<string> }>()
    const present = new Set<string>()
    for (const { request, backend } of tools) {
      for (const need of backend.requiredCommands?.(request, ctx) ?? []) {
        const key = [need.command, ...(need.alternatives ?? [])].join("|")
        if (present.has(key)) continue
        const known = missing.get(key)
        if (known !== undefined) {
          if (!known.specs.includes(request.short)) known.specs.push(request.short)
        } else if (yield* found(need, ctx.env)) {
          present.add(key)
        } else {
          missing.set(key, { need, specs: [request.short] })
        }
      }
    }
    return Array.from(missing.values(), ({ need, specs }) => ({
      command: need.command,
      alternatives: need.alternatives ?? [],
      hint: need.hint,
      specs
    }))
  })
