import { Either, Option, ParseResult, Schema, SchemaAST } from "effect"
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
    message: (issue) => `invalid type: ${describeTomlValue("actual" in issue ? issue.actual : undefined)}, expected ${what}`
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

type Located = { readonly issue: ParseResult.ParseIssue; readonly path: ReadonlyArray<string | number> }

// Array.isArray does not narrow readonly tuples.
const isKeyList = (path: ParseResult.Path): path is readonly [PropertyKey, ...Array<PropertyKey>] => Array.isArray(path)

const isIssueList = (issues: ParseResult.Composite["issues"]): issues is readonly [ParseResult.ParseIssue, ...Array<ParseResult.ParseIssue>] =>
  Array.isArray(issues)

const annotatedMessage = (issue: ParseResult.ParseIssue): string | undefined => {
  if (!("ast" in issue)) return undefined
  const annotation = SchemaAST.getMessageAnnotation(issue.ast)
  if (Option.isNone(annotation)) return undefined
  const message = annotation.value(issue)
  return typeof message === "string" ? message : undefined
}

/**
 * The issue to report and its key path. Our own "invalid type" message is used where the value itself has the
 * wrong type (a type mismatch, a failed refinement, or a union none of whose members got further than the type
 * check); otherwise the search goes down to the first field or element that failed. Effect's formatters would
 * list each union member's mismatch instead, which reads badly for TOML.
 */
const firstIssue = (issue: ParseResult.ParseIssue, path: ReadonlyArray<string | number>): Located & { readonly message?: string } => {
  switch (issue._tag) {
    case "Pointer": {
      const keys: ReadonlyArray<PropertyKey> = isKeyList(issue.path) ? issue.path : [issue.path]
      return firstIssue(issue.issue, [...path, ...keys.map((k) => (typeof k === "number" ? k : String(k)))])
    }
    case "Type": {
      const message = annotatedMessage(issue)
      return message === undefined ? { issue, path } : { issue, path, message }
    }
    case "Refinement": {
      const message = issue.kind === "Predicate" ? annotatedMessage(issue) : undefined
      return message === undefined ? firstIssue(issue.issue, path) : { issue, path, message }
    }
    case "Transformation":
      return firstIssue(issue.issue, path)
    case "Composite": {
      const children: ReadonlyArray<ParseResult.ParseIssue> = isIssueList(issue.issues) ? issue.issues : [issue.issues]
      if (SchemaAST.isUnion(issue.ast)) {
        const deeper = children.find((child) => child._tag !== "Type")
        const message = annotatedMessage(issue)
        if (deeper === undefined && message !== undefined) return { issue, path, message }
        const next = deeper ?? children[0]
        return next === undefined ? { issue, path } : firstIssue(next, path)
      }
      const [first] = children
      return first === undefined ? { issue, path } : firstIssue(first, path)
    }
    default:
      return { issue, path }
  }
}

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
      const found = firstIssue(error.issue, [])
      const path = [...base, ...found.path]
      const field = String(path[path.length - 1] ?? "")
      if (found.message !== undefined) return { path, reason: found.message }
      if (found.issue._tag === "Unexpected") {
        const known = options.knownKeys === undefined ? "" : `, expected one of ${options.knownKeys.map((k) => `\`${k}\``).join(", ")}`
        return { path, reason: `unknown field \`${field}\`${known}` }
      }
      if (found.issue._tag === "Missing") return { path, reason: `missing field \`${field}\`` }
      return { path, reason: ParseResult.ArrayFormatter.formatIssueSync(found.issue)[0]?.message ?? "invalid value" }
    }
  )
