import { Either, Schema } from "effect"
import type { ConfigProblem } from "./ConfigError"
import type { KeyPath } from "./TomlLocator"
import { decodeAt, describeTomlValue, expecting, TomlBoolean, TomlTable } from "./TomlValue"

/**
 * One entry of an `[env]` (or `[vars]`) section, in file order. `tools = true` entries belong to the
 * tool-env phase, which mise leaves out of the env it bakes; they are kept here and skipped by the resolver.
 */
export type EnvDirective =
  | { readonly _tag: "Set"; readonly key: string; readonly value: string; readonly tools: boolean; readonly path: KeyPath }
  | { readonly _tag: "Default"; readonly key: string; readonly value: string; readonly tools: boolean; readonly path: KeyPath }
  | { readonly _tag: "Unset"; readonly key: string; readonly tools: boolean; readonly path: KeyPath }
  | { readonly _tag: "Required"; readonly key: string; readonly help?: string; readonly tools: boolean; readonly path: KeyPath }
  | { readonly _tag: "Age"; readonly key: string; readonly tools: boolean; readonly path: KeyPath }
  | { readonly _tag: "File"; readonly value: string; readonly tools: boolean; readonly path: KeyPath }
  | { readonly _tag: "Path"; readonly value: string; readonly tools: boolean; readonly path: KeyPath }
  | { readonly _tag: "Source"; readonly value: string; readonly tools: boolean; readonly path: KeyPath }
  | { readonly _tag: "PythonVenv"; readonly tools: boolean; readonly path: KeyPath }
  | { readonly _tag: "Module"; readonly name: string; readonly tools: boolean; readonly path: KeyPath }

const EnvScalar = Schema.Union(Schema.String, Schema.Number, Schema.Boolean)
type EnvScalar = Schema.Schema.Type<typeof EnvScalar>

/** The table form of a variable: `{ value }`, `{ default }`, `{ required }`, `{ age }`, each with options. */
const EnvVarTable = Schema.Struct({
  value: Schema.optional(expecting(EnvScalar, "a string, integer or boolean")),
  default: Schema.optional(expecting(EnvScalar, "a string or integer")),
  required: Schema.optional(expecting(Schema.Union(Schema.Boolean, Schema.String), "a boolean or a string")),
  age: Schema.optional(Schema.Unknown),
  redact: Schema.optional(TomlBoolean),
  tools: Schema.optional(TomlBoolean),
  expand: Schema.optional(TomlBoolean)
})

const PathList = expecting(Schema.Union(Schema.String, Schema.Array(Schema.String)), "a string or an array of strings")

/** `_.file` / `_.path` / `_.source` entries: a path, a list of paths, or a table with `path` and options. */
const DirectiveTable = Schema.Struct({
  path: Schema.optional(PathList),
  value: Schema.optional(PathList),
  values: Schema.optional(PathList),
  paths: Schema.optional(PathList),
  redact: Schema.optional(TomlBoolean),
  tools: Schema.optional(TomlBoolean),
  expand: Schema.optional(TomlBoolean)
})
const DirectiveEntry = expecting(Schema.Union(Schema.String, DirectiveTable), "a path or a table with `path`")
const DirectiveValue = expecting(
  Schema.Union(Schema.String, DirectiveTable, Schema.Array(DirectiveEntry)),
  "a path, an array of paths or a table with `path`"
)

type DirectiveEntryType = Schema.Schema.Type<typeof DirectiveEntry>

// Array.isArray does not narrow readonly arrays.
const isEntryList = (value: Schema.Schema.Type<typeof DirectiveValue>): value is ReadonlyArray<DirectiveEntryType> => Array.isArray(value)

const isInteger = (n: number): boolean => Number.isInteger(n)

/** mise's `EnvValue::into_string`: integers print, `true` is "true", `false` means unset. */
const scalarToValue = (value: EnvScalar): string | false | undefined => {
  if (typeof value === "string") return value
  if (typeof value === "boolean") return value ? "true" : false
  return isInteger(value) ? String(value) : undefined
}

const directivesFromUnderscore = (raw: unknown, path: KeyPath): Either.Either<Array<EnvDirective>, ConfigProblem> =>
  Either.gen(function* () {
    const table = yield* decodeAt(TomlTable, raw, path, { strict: false })
    const out: Array<EnvDirective> = []
    for (const [name, value] of Object.entries(table)) {
      const at = [...path, name]
      if (name === "file" || name === "path" || name === "source") {
        const decoded = yield* decodeAt(DirectiveValue, value, at, { strict: false })
        const entries: ReadonlyArray<DirectiveEntryType> = isEntryList(decoded) ? decoded : [decoded]
        for (const entry of entries) {
          const paths = typeof entry === "string" ? entry : (entry.path ?? entry.value ?? entry.values ?? entry.paths)
          if (paths === undefined) return yield* Either.left({ path: at, reason: "missing field `path`" })
          const tools = typeof entry === "string" ? false : (entry.tools ?? false)
          const tag = name === "file" ? "File" : name === "path" ? "Path" : "Source"
          for (const p of typeof paths === "string" ? [paths] : paths) out.push({ _tag: tag, value: p, tools, path: at })
        }
      } else if (name === "python") {
        out.push({ _tag: "PythonVenv", tools: true, path: at })
      } else {
        const tools = typeof value === "object" && value !== null && (value as { readonly tools?: unknown }).tools === true
        out.push({ _tag: "Module", name, tools, path: at })
      }
    }
    return out
  })

const directiveFromVariable = (key: string, raw: unknown, path: KeyPath): Either.Either<EnvDirective, ConfigProblem> =>
  Either.gen(function* () {
    if (typeof raw === "string" || typeof raw === "number" || typeof raw === "boolean") {
      const value = scalarToValue(raw)
      if (value === undefined) {
        return yield* Either.left({ path, reason: `failed to parse environment variable '${key}': expected a string, integer or boolean, got ${describeTomlValue(raw)}` })
      }
      return value === false ? { _tag: "Unset", key, tools: false, path } : { _tag: "Set", key, value, tools: false, path }
    }
    if (typeof raw !== "object" || raw === null || Array.isArray(raw) || raw instanceof Date) {
      return yield* Either.left({ path, reason: `failed to parse environment variable '${key}': expected a string, integer, boolean or table, got ${describeTomlValue(raw)}` })
    }
    const table = yield* decodeAt(EnvVarTable, raw, path, { strict: false })
    const tools = table.tools ?? false
    const has = (field: string): boolean => Object.hasOwn(raw, field)
    if (has("default") && has("value")) {
      return yield* Either.left({ path, reason: `Environment variable '${key}' cannot have both 'value' and 'default'. The 'value' field always overwrites, while 'default' only applies when the variable is unset or empty. Remove either the 'value' field or the 'default' field.` })
    }
    if (has("default") && has("required")) {
      return yield* Either.left({ path, reason: `Environment variable '${key}' cannot have both 'default' and 'required'. The 'required' flag means the variable must be defined elsewhere, while 'default' provides a fallback value. Remove either the 'default' field or the 'required' flag.` })
    }
    if (has("default") && has("age")) {
      return yield* Either.left({ path, reason: `Environment variable '${key}' cannot have both 'age' and 'default'. Remove either the 'age' field or the 'default' field.` })
    }
    const required = table.required ?? false
    if (table.age !== undefined) return { _tag: "Age", key, tools, path }
    if (table.value !== undefined) {
      if (required !== false) {
        return yield* Either.left({ path, reason: `Environment variable '${key}' cannot have both 'value' and 'required'. The 'required' flag means the variable must be defined elsewhere (in the environment or a later config file). Remove either the 'value' field or the 'required' flag.` })
      }
      const value = scalarToValue(table.value)
      if (value === undefined) return yield* Either.left({ path: [...path, "value"], reason: `failed to parse environment variable '${key}': expected a string, integer or boolean` })
      return value === false ? { _tag: "Unset", key, tools, path } : { _tag: "Set", key, value, tools, path }
    }
    if (table.default !== undefined) {
      if (typeof table.default === "boolean") {
        return yield* Either.left({ path: [...path, "default"], reason: `Environment variable '${key}' default cannot be a boolean. Use a string or integer fallback instead.` })
      }
      const fallback = scalarToValue(table.default)
      if (typeof fallback !== "string") {
        return yield* Either.left({ path: [...path, "default"], reason: `failed to parse environment variable '${key}': expected a string or integer default` })
      }
      return { _tag: "Default", key, value: fallback, tools, path }
    }
    if (required === false) {
      return yield* Either.left({ path, reason: `Environment variable '${key}' has no value. Either provide a value or set required=true to indicate it must be defined elsewhere.` })
    }
    return typeof required === "string"
      ? { _tag: "Required", key, help: required, tools, path }
      : { _tag: "Required", key, tools, path }
  })

const directivesFromTable = (raw: unknown, path: KeyPath): Either.Either<Array<EnvDirective>, ConfigProblem> =>
  Either.gen(function* () {
    const table = yield* decodeAt(TomlTable, raw, path, { strict: false })
    const out: Array<EnvDirective> = []
    for (const [key, value] of Object.entries(table)) {
      // `mise` is the deprecated spelling of `_`.
      if (key === "_" || key === "mise") out.push(...(yield* directivesFromUnderscore(value, [...path, key])))
      else out.push(yield* directiveFromVariable(key, value, [...path, key]))
    }
    return out
  })

/** Parses an `[env]` or `[vars]` section: a table, or an array of tables applied in order. */
export const envDirectivesFromToml = (raw: unknown, section: "env" | "vars"): Either.Either<ReadonlyArray<EnvDirective>, ConfigProblem> => {
  if (!Array.isArray(raw)) return directivesFromTable(raw, [section])
  const out: Array<EnvDirective> = []
  for (const [index, table] of raw.entries()) {
    const parsed = directivesFromTable(table, [section, index])
    if (Either.isLeft(parsed)) return parsed
    out.push(...parsed.right)
  }
  return Either.right(out)
}
