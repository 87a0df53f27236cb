import { Options } from "@effect/cli"

/** Flags shared by every command that reads a project. */
export const cd = Options.directory("cd").pipe(
  Options.withAlias("C"),
  Options.withDescription("Run as if started in DIR (where mise.toml is looked up)"),
  Options.optional
)

export const includeGlobal = Options.boolean("include-global").pipe(
  Options.withDescription("Also use global and system mise configs (default: project configs only)")
)

export const json = Options.boolean("json").pipe(Options.withDescription("Print the result as JSON on stdout"))
