import { Either, ParseResult, Schema } from "effect"
import type { ConfigProblem } from "./ConfigError"
import type { KeyPath } from "./TomlLocator"

/** serde-style description of a TOML value, for "invalid type" messages. */
export const describeTomlValue = (value: unknown): string => {
  if (typeof value === "string") return `string ${JSON.stringify(value)}`
  if (typeof value === "number") return Number.isInteger(value) ? `integer ${value}` : `float ${value}`
  if (typeof value === "bigint") return `integer ${value}`
  if (typeof value === "boolean") return `boolean ${value}`
  if (value instanceof Date) return "datetime"
  if (Array.isArray(value)) return "array"
  if (value === undefined || value === null) return "nothing"
  return "table"
}

/** Annotates a schema so that a type mismatch reads `invalid type: <actual>, expected <what>`. */
export const expecting = <A, I>(schema: Schema.Schema<A, I>, what: string): Schema.Schema<A, I> =>
  schema.annotations({
    message: (issue) => `invalid type: ${describeTomlValue(issue._tag === "Type" ? issue.actual : undefined)}, expected ${what}`
  })

export const TomlString = expecting(Schema.String, "a string")
export const TomlBoolean = expecting(Schema.Boolean, "a boolean")
export const TomlStringArray = expecting(Schema.Array(TomlString), "an array of strings")
export const TomlStringMap = expecting(Schema.Record({ key: Schema.String, value: TomlString }), "a table of strings")
export const TomlTable = expecting(Schema.Record({ key: Schema.String, value: Schema.Unknown }), "a table")

/** Whole non-negative numbers that fit in 32 bits (`user_id`, `group_id`). */
export const TomlU32 = expecting(Schema.Number, "u32").pipe(
  Schema.filter((n) => Number.isInteger(n) && n >= 0 && n <= 4294967295, {
    message: (issue) => `invalid value: ${describeTomlValue(issue.actual)}, expected u32`
  })
)

/**
 * Decodes `value` (found at `base` in the document) with `schema`. Unknown keys fail when `strict`,
 * as serde's `deny_unknown_fields` does. The first issue becomes the problem, located by its key path.
 */
export const decodeAt = <A, I>(
  schema: Schema.Schema<A, I>,
  value: unknown,
  base: KeyPath,
  options: { readonly strict: boolean; readonly knownKeys?: ReadonlyArray<string> }
): Either.Either<A, ConfigProblem> =>
  Either.mapLeft(
    Schema.decodeUnknownEither(schema, { onExcessProperty: options.strict ? "error" : "ignore" })(value),
    (error) => {
      const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
      const path = [...base, ...(issue?.path ?? []).map((p) => (typeof p === "number" ? p : String(p)))]
      if (issue === undefined) return { path, reason: "invalid value" }
      if (issue._tag === "Unexpected") {
        const field = path[path.length - 1]
        const known = options.knownKeys === undefined ? "" : `, expected one of ${options.knownKeys.map((k) => `\`${k}\``).join(", ")}`
        return { path, reason: `unknown field \`${String(field)}\`${known}` }
      }
      if (issue._tag === "Missing") return { path, reason: `missing field \`${String(path[path.length - 1])}\`` }
      return { path, reason: issue.message }
    }
  )
