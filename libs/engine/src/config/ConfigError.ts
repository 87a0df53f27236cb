import { Data } from "effect"
import { TomlError } from "smol-toml"
import { formatKeyPath, type TomlLocator } from "./TomlLocator"

/** The facts of a config failure: where it is (when known) and what is wrong. */
export interface ConfigErrorFacts {
  readonly file?: string
  /** 1-based. */
  readonly line?: number
  /** 1-based. */
  readonly column?: number
  /** Dotted key path inside the file: `oci.entrypoint`, `env.FOO`, `tools.node`. */
  readonly key?: string
  /** What is wrong, phrased so the user can fix it. */
  readonly reason: string
}

/** `<file>:<line>:<col>: <key>: <reason>`, leaving out the parts that are unknown. */
export const formatConfigError = (facts: ConfigErrorFacts): string => {
  let where = facts.file ?? ""
  if (where !== "" && facts.line !== undefined) {
    where += `:${facts.line}`
    if (facts.column !== undefined) where += `:${facts.column}`
  }
  return [where, facts.key ?? "", facts.reason].filter((part) => part !== "").join(": ")
}

/** Every failure of the config layer: unreadable or malformed files, wrong types, bad values, bad templates. */
export class ConfigError extends Data.TaggedError("ConfigError")<ConfigErrorFacts & { readonly message: string }> {
  constructor(facts: ConfigErrorFacts) {
    super({ ...facts, message: formatConfigError(facts) })
  }
}

/** A failure found while reading a parsed TOML value: the key path it concerns, and why. */
export interface ConfigProblem {
  readonly path: ReadonlyArray<string | number>
  readonly reason: string
}

/** Turns a problem found at a key path into an error pointing at that key's line. */
export const problemError = (file: string, locator: TomlLocator, problem: ConfigProblem): ConfigError => {
  const position = locator.locate(problem.path)
  return new ConfigError({
    file,
    ...(position === undefined ? {} : { line: position.line, column: position.column }),
    ...(problem.path.length === 0 ? {} : { key: formatKeyPath(problem.path) }),
    reason: problem.reason
  })
}

/**
 * A TOML syntax error from smol-toml (`Invalid TOML document: <what>\n\n<code block>`) → `invalid TOML: <what>` at its
 * line. smol-toml reports an inline table or array left open at a line end on the next line's first column; the
 * mistake is at the end of the line before, so that is where we point.
 */
export const tomlSyntaxError = (file: string, text: string, cause: unknown): ConfigError => {
  if (!(cause instanceof TomlError)) {
    return new ConfigError({ file, reason: `invalid TOML: ${cause instanceof Error ? cause.message : String(cause)}` })
  }
  const what = (cause.message.split("\n")[0] ?? cause.message).replace(/^Invalid TOML document: /, "")
  const previousLine = text.split("\n")[cause.line - 2]
  const atLineEnd = what === "expected comma or end of structure" && cause.column === 1 && previousLine !== undefined
  return new ConfigError({
    file,
    line: atLineEnd ? cause.line - 1 : cause.line,
    column: atLineEnd ? previousLine.replace(/\r$/, "").length + 1 : cause.column,
    reason: `invalid TOML: ${what}`
  })
}
