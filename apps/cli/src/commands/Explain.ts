import { Args, Command } from "@effect/cli"
import { type Explanation, explain, formatKeyStructure, type InputChange } from "@engine/engine"
import { Console, Effect } from "effect"
import { buildFlags, toBuildOptions } from "../BuildFlags"
import { json } from "../Shared"

const taskArg = Args.text({ name: "TASK" }).pipe(
  Args.withDescription("A task as `engine build --dry-run` prints it (e.g. tool-layer:http:hello@1.0.0), or its id (tool-layer:http:hello)")
)

export const explainCommand = Command.make("explain", { task: taskArg, ...buildFlags, json }, (o) =>
  Effect.gen(function*() {
    const explanation = yield* explain({ ...toBuildOptions(o), quiet: true }, o.task)
    yield* Console.log(o.json ? JSON.stringify(explanation, null, 2) : renderExplanation(explanation))
  })).pipe(
    Command.withDescription(
      "Show what a task's cache key is computed from and which inputs changed since its last run (takes the same flags as build)"
    )
  )

const show = (value: unknown) => (value === undefined ? "(none)" : JSON.stringify(value))

const renderChanges = (changes: ReadonlyArray<InputChange>): Array<string> =>
  changes.map((c) =>
    c.change === "added"
      ? `  + ${c.path}: ${show(c.after)}`
      : c.change === "removed"
      ? `  - ${c.path}: ${show(c.before)}`
      : `  ~ ${c.path}: ${show(c.before)} -> ${show(c.after)}`
  )

const renderExplanation = (e: Explanation): string => {
  const lines = [`task:   ${e.task}${e.task !== e.id ? `  (id ${e.id})` : ""}`]
  lines.push(`key:    ${e.key ?? "(not known yet)"}`)
  lines.push(
    `status: ${
      e.status === "hit"
        ? "cache hit"
        : e.status === "blocked"
        ? `would run; its key needs the output of ${e.blockedBy ?? "a task"}, which would run first`
        : `would run (${e.reason ?? "miss"})`
    }`
  )
  if (e.structure !== undefined) {
    lines.push("inputs of the key:")
    lines.push(...formatKeyStructure(e.structure).split("\n").map((l) => `  ${l}`))
  }
  if (e.lastRun === undefined) {
    lines.push("last run: none recorded")
  } else {
    lines.push(`last run: ${e.lastRun.at}, key ${e.lastRun.key}`)
    if (e.key !== undefined && e.key !== e.lastRun.key) {
      lines.push("changed since the last run:")
      lines.push(...(e.changesSinceLastRun.length > 0 ? renderChanges(e.changesSinceLastRun) : ["  (no input differs; the key format changed)"]))
    } else if (e.key !== undefined) {
      lines.push("unchanged since the last run")
    }
  }
  if (e.lastChange !== undefined) {
    lines.push(`last change (key ${e.lastChange.from.slice(0, 12)} -> ${e.lastChange.to.slice(0, 12)}):`)
    lines.push(...renderChanges(e.lastChange.changes))
  }
  return lines.join("\n")
}
