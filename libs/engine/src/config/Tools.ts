import { Either, Schema } from "effect"
import { parse as parseToml } from "smol-toml"
import type { ConfigProblem } from "./ConfigError"
import { renderTemplate, type TemplateContext } from "./Template"
import type { KeyPath } from "./TomlLocator"
import { decodeAt, describeTomlValue, expecting, TomlTable } from "./TomlValue"

/** A backend option value; nested tables are flattened to dotted keys before they get here. */
export type ToolOptionValue = string | number | boolean | ReadonlyArray<string>

/** Where a tool was declared. */
export interface ToolSource {
  readonly file: string
  /** 1-based line of the tool's key (or `.tool-versions` line). */
  readonly line: number
}

/**
 * One tool version a config asks for: `"http:hello" = { version = "1.0.0", url = ... }`. Same fields as the
 * backends' `ToolRequest`, plus what only config knows (platform filter, declaring file).
 */
export interface ToolSpec {
  /** The `[tools]` key without `[opts]`, unaliased: `node`, `http:hello`, `npm:@scope/pkg`. */
  readonly short: string
  readonly backend: string
  readonly name: string
  /** The version spec: `1.0.0`, `20`, `latest`, `ref:abc`, `path:/x`, `prefix:1.2`. */
  readonly version: string
  readonly options: Readonly<Record<string, ToolOptionValue>>
  /** `os = [...]` entries as written: `linux`, `linux/x64`, `macos/arm64`. */
  readonly os?: ReadonlyArray<string>
  readonly depends?: ReadonlyArray<string>
  /** `install_env = { K = v }` for the install commands; `false` unsets K (mise's EnvValue). */
  readonly installEnv?: Readonly<Record<string, string | false>>
  readonly source: ToolSource
  /** Directory of the declaring config file. */
  readonly configDir: string
}

/** mise's core plugins: the bare names we can serve without mise's registry. */
export const CORE_TOOLS: ReadonlySet<string> = new Set([
  "bun", "deno", "dotnet", "elixir", "erlang", "go", "java", "node", "python", "ruby", "rust", "swift", "zig"
])

const TOOL_ALIASES: Readonly<Record<string, string>> = { nodejs: "node", golang: "go", "dotnet-core": "dotnet" }

/** mise's `unalias_backend`: `nodejs` → `node`, `core:node` → `node`. */
export const unaliasTool = (short: string): string => TOOL_ALIASES[short] ?? short.replace(/^(core:)+/, "")

/** Splits `http:x[url=...,bin_path=bin]` into name and option text, ignoring brackets inside quotes. */
export const splitBracketedOptions = (key: string): { readonly name: string; readonly options?: string } => {
  if (!key.endsWith("]")) return { name: key }
  let start: number | undefined
  let single = false
  let double = false
  let escaped = false
  for (let i = 0; i < key.length; i++) {
    const c = key[i]
    if (c === "'" && !double) single = !single
    else if (c === '"' && !single && !escaped) double = !double
    else if (c === "[" && !single && !double && start === undefined) start = i
    else if (c === "]" && !single && !double && i === key.length - 1 && start !== undefined) {
      return { name: key.slice(0, start), options: key.slice(start + 1, i) }
    }
    escaped = double && c === "\\" && !escaped
  }
  return { name: key }
}

/** Splits option text at commas outside quotes. */
const splitOptionSegments = (text: string): Array<string> => {
  const segments: Array<string> = []
  let current = ""
  let single = false
  let double = false
  let escaped = false
  for (const c of text) {
    if (c === '"' && !escaped && !single) double = !double
    else if (c === "'" && !double) single = !single
    else if (c === "," && !single && !double) {
      segments.push(current)
      current = ""
      escaped = false
      continue
    }
    current += c
    escaped = double && c === "\\" && !escaped
  }
  segments.push(current)
  return segments
}

const tomlValueOf = (text: string): unknown => {
  try {
    return parseToml(`_x_ = ${text}`)["_x_"]
  } catch {
    return undefined
  }
}

/**
 * Parses inline options the way mise does: as a TOML inline table when that is valid (`url="…", platforms={…}`),
 * else as legacy `k=v,k2=v2` where unquoted values are strings and a segment without `=` continues the previous value.
 */
export const parseInlineOptions = (text: string): Record<string, unknown> => {
  const asTable = tomlValueOf(`{ ${text} }`)
  if (asTable !== undefined && typeof asTable === "object" && asTable !== null && !Array.isArray(asTable)) {
    return { ...(asTable as Record<string, unknown>) }
  }
  const out: Record<string, unknown> = {}
  let currentKey: string | undefined
  for (const segment of splitOptionSegments(text)) {
    const eq = segment.indexOf("=")
    if (eq >= 0) {
      const key = segment.slice(0, eq).trim()
      if (key === "") continue
      const raw = segment.slice(eq + 1)
      const trimmed = raw.trim()
      const quoted = trimmed.length >= 2 && /^(".*"|'.*')$/s.test(trimmed)
      const parsed = quoted || key === "install_env" || key.startsWith("install_env.") ? tomlValueOf(trimmed) : undefined
      out[key] = parsed ?? raw
      currentKey = key
    } else if (segment !== "" && currentKey !== undefined) {
      const previous = out[currentKey]
      if (typeof previous === "string") out[currentKey] = `${previous},${segment}`
    }
  }
  return out
}

/** The parts of a `[tools]` key. */
export interface ToolKey {
  readonly short: string
  readonly backend: string
  readonly name: string
  readonly inlineOptions: Readonly<Record<string, unknown>>
}

/** `node` → core/node; `http:hello[url=…]` → http/hello with options; an unknown bare name is an error. */
export const parseToolKey = (key: string): Either.Either<ToolKey, string> => {
  const split = splitBracketedOptions(key.trim())
  const short = unaliasTool(split.name.trim())
  const inlineOptions = split.options === undefined ? {} : parseInlineOptions(split.options)
  if (short === "") return Either.left("tool name must not be empty")
  const colon = short.indexOf(":")
  if (colon >= 0) {
    const backend = short.slice(0, colon)
    const name = short.slice(colon + 1)
    if (backend === "" || name === "") return Either.left(`tool "${short}" must be written as "backend:name"`)
    return Either.right({ short, backend, name, inlineOptions })
  }
  if (CORE_TOOLS.has(short)) return Either.right({ short, backend: "core", name: short, inlineOptions })
  return Either.left(
    `unknown tool "${short}": without mise's registry only core tools (${[...CORE_TOOLS].join(", ")}) may be written ` +
      `without a backend; write it as "backend:name" (for example "aqua:<owner>/${short}", "github:<owner>/${short}" or "npm:${short}")`
  )
}

const FORBIDDEN_VERSION_CHAR = /["'\\`$\p{Cc}]/u

/** mise rejects versions that could break out of shell quoting or traverse paths (they end up in install paths). */
export const validateVersionSpec = (version: string): Either.Either<string, string> => {
  if (version.startsWith("path:")) return Either.right(version)
  const kind = /^(ref|tag|branch|rev|prefix|sub-[^:]*):/.exec(version)?.[1]
  const value = kind === undefined ? version : version.slice(kind.length + 1)
  const what = kind === undefined || kind === "prefix" || kind.startsWith("sub-") ? "version" : "ref"
  if (value === "") return Either.right(version)
  if (value.startsWith("-")) return Either.left(`invalid tool ${what} ${JSON.stringify(value)}: must not start with '-'`)
  if (value.includes("..")) return Either.left(`invalid tool ${what} ${JSON.stringify(value)}: contains path-traversal sequence`)
  const bad = FORBIDDEN_VERSION_CHAR.exec(value)?.[0]
  if (bad !== undefined) return Either.left(`invalid tool ${what} ${JSON.stringify(value)}: contains forbidden character ${JSON.stringify(bad)}`)
  return Either.right(version)
}

const ToolTableSchema = expecting(
  Schema.Struct(
    {
      version: Schema.optional(expecting(Schema.String, "a string (tool selector `version`)")),
      path: Schema.optional(expecting(Schema.String, "a string (tool selector `path`)")),
      prefix: Schema.optional(expecting(Schema.String, "a string (tool selector `prefix`)")),
      ref: Schema.optional(expecting(Schema.String, "a string (tool selector `ref`)"))
    },
    Schema.Record({ key: Schema.String, value: Schema.Unknown })
  ),
  "a tool table"
)
const ToolEntrySchema = Schema.Union(Schema.String, ToolTableSchema)
const ToolValueSchema = expecting(
  Schema.Union(Schema.String, Schema.Array(expecting(ToolEntrySchema, "a version string or a tool table")), ToolTableSchema),
  "a version string, an array of versions or a tool table"
)
type ToolTable = Schema.Schema.Type<typeof ToolTableSchema>
type ToolEntry = Schema.Schema.Type<typeof ToolEntrySchema>

interface ParsedOptions {
  readonly options: Record<string, ToolOptionValue>
  os?: ReadonlyArray<string>
  depends?: ReadonlyArray<string>
  installEnv?: Record<string, string | false>
}

const stringOrStrings = (value: unknown, path: KeyPath, key: string): Either.Either<ReadonlyArray<string>, ConfigProblem> => {
  if (typeof value === "string") return Either.right([value])
  if (Array.isArray(value) && value.every((v): v is string => typeof v === "string")) return Either.right(value)
  return Either.left({ path, reason: `\`${key}\` must be a string or an array of strings (got ${describeTomlValue(value)})` })
}

const scalarOption = (value: unknown): ToolOptionValue | undefined => {
  if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") return value
  if (value instanceof Date) return value.toISOString()
  if (Array.isArray(value) && value.every((v): v is string => typeof v === "string")) return value
  return undefined
}

/** Flattens backend options (`platforms = { linux-x64 = { url } }` → `platforms.linux-x64.url`) and lifts mise's core keys. */
const addOptions = (into: ParsedOptions, raw: Readonly<Record<string, unknown>>, path: KeyPath, prefix = ""): Either.Either<void, ConfigProblem> => {
  for (const [key, value] of Object.entries(raw)) {
    const at = [...path, key]
    const dotted = prefix === "" ? key : `${prefix}.${key}`
    if (prefix === "" && (key === "os" || key === "depends")) {
      const list = stringOrStrings(value, at, key)
      if (Either.isLeft(list)) return list
      if (key === "os") into.os = list.right
      else into.depends = list.right
      continue
    }
    if (prefix === "" && key === "install_env") {
      if (typeof value !== "object" || value === null || Array.isArray(value) || value instanceof Date) {
        return Either.left({ path: at, reason: "install_env must be a table" })
      }
      const env: Record<string, string | false> = { ...into.installEnv }
      for (const [name, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== "string" && typeof v !== "number" && typeof v !== "boolean") {
          return Either.left({ path: [...at, name], reason: "environment values must be strings, integers, or booleans" })
        }
        env[name] = v === false ? false : String(v)
      }
      into.installEnv = env
      continue
    }
    if (prefix === "" && key === "postinstall" && typeof value !== "string") {
      return Either.left({ path: at, reason: "postinstall must be a string" })
    }
    const scalar = scalarOption(value)
    if (scalar !== undefined) {
      into.options[dotted] = scalar
      continue
    }
    if (typeof value === "object" && value !== null && !Array.isArray(value)) {
      const nested = addOptions(into, value as Record<string, unknown>, at, dotted)
      if (Either.isLeft(nested)) return nested
      continue
    }
    return Either.left({ path: at, reason: `option \`${dotted}\` must be a string, number, boolean, array of strings or table (got ${describeTomlValue(value)})` })
  }
  return Either.right(undefined)
}

const TOOL_SELECTORS: ReadonlyArray<"version" | "path" | "prefix" | "ref"> = ["version", "path", "prefix", "ref"]

/** `{ version = "1" }` → `1`; `{ ref = "x" }` → `ref:x`; exactly one selector, as mise requires. */
const selectorOf = (table: ToolTable, path: KeyPath): Either.Either<string, ConfigProblem> => {
  const selectors = TOOL_SELECTORS.flatMap((key) => {
    const value = table[key]
    return value === undefined ? [] : [[key, value] as const]
  })
  const [first, second] = selectors
  if (first === undefined) {
    return Either.left({ path, reason: "tool definition must include exactly one of `version`, `path`, `prefix`, or `ref`" })
  }
  if (second !== undefined) {
    return Either.left({ path: [...path, second[0]], reason: `tool definition cannot specify both \`${first[0]}\` and \`${second[0]}\`` })
  }
  return Either.right(first[0] === "version" ? first[1] : `${first[0]}:${first[1]}`)
}

/** What a `[tools]` section needs besides the table itself. */
export interface ToolsInput {
  readonly file: string
  readonly configDir: string
  /** For templates in versions: `{{ env.NODE_VERSION }}`, `{{ vars.x }}`, `{{ config_root }}`. */
  readonly template: TemplateContext
  /** Line of a key path, from the file's locator. */
  readonly lineOf: (path: KeyPath) => number
}

const entrySpec = (key: ToolKey, entry: ToolEntry, path: KeyPath, input: ToolsInput): Either.Either<ToolSpec, ConfigProblem> =>
  Either.gen(function* () {
    const parsed: ParsedOptions = { options: {} }
    yield* addOptions(parsed, key.inlineOptions, path)
    let written: string
    if (typeof entry === "string") written = entry
    else {
      written = yield* selectorOf(entry, path)
      yield* addOptions(parsed, Object.fromEntries(Object.entries(entry).filter(([k]) => !(TOOL_SELECTORS as ReadonlyArray<string>).includes(k))), path)
    }
    const rendered = yield* Either.mapLeft(renderTemplate(written, input.template), (reason) => ({
      path,
      reason: `invalid template ${JSON.stringify(written)}: ${reason}`
    }))
    const version = yield* Either.mapLeft(validateVersionSpec(rendered.trim()), (reason) => ({ path, reason }))
    return {
      short: key.short,
      backend: key.backend,
      name: key.name,
      version,
      options: parsed.options,
      ...(parsed.os === undefined ? {} : { os: parsed.os }),
      ...(parsed.depends === undefined ? {} : { depends: parsed.depends }),
      ...(parsed.installEnv === undefined ? {} : { installEnv: parsed.installEnv }),
      source: { file: input.file, line: input.lineOf(path) },
      configDir: input.configDir
    }
  })

/** A mise.toml `[tools]` table → one spec per version, in declaration order. */
export const toolsFromTable = (table: unknown, input: ToolsInput): Either.Either<ReadonlyArray<ToolSpec>, ConfigProblem> =>
  Either.gen(function* () {
    const tools = yield* decodeAt(TomlTable, table, ["tools"], { strict: false })
    const out: Array<ToolSpec> = []
    for (const [rawKey, rawValue] of Object.entries(tools)) {
      const path: KeyPath = ["tools", rawKey]
      const key = yield* Either.mapLeft(parseToolKey(rawKey), (reason) => ({ path, reason }))
      const value = yield* decodeAt(ToolValueSchema, rawValue, path, { strict: false })
      const entries: ReadonlyArray<readonly [ToolEntry, KeyPath]> =
        typeof value === "string" || !Array.isArray(value)
          ? [[value as ToolEntry, path]]
          : (value as ReadonlyArray<ToolEntry>).map((entry, index) => [entry, [...path, index]] as const)
      for (const [entry, at] of entries) out.push(yield* entrySpec(key, entry, at, input))
    }
    return out
  })

/** asdf's `.tool-versions`: `tool v1 v2  # comment`, one spec per version. */
export const toolsFromToolVersions = (
  text: string,
  input: Omit<ToolsInput, "lineOf">
): Either.Either<ReadonlyArray<ToolSpec>, { readonly line: number; readonly key: string; readonly reason: string }> =>
  Either.gen(function* () {
    const rendered = yield* Either.mapLeft(renderTemplate(text, input.template), (reason) => ({
      line: 1,
      key: "",
      reason: `invalid template: ${reason}`
    }))
    const out: Array<ToolSpec> = []
    const lines = rendered.split(/\r?\n/)
    for (const [index, rawLine] of lines.entries()) {
      const content = rawLine.split("#")[0] ?? ""
      const [rawTool, ...versions] = content.trim().split(/\s+/).filter((part) => part !== "")
      if (rawTool === undefined) continue
      const toolName = rawTool.replace(/:+$/, "")
      const fail = (reason: string) => ({ line: index + 1, key: toolName, reason })
      const key = yield* Either.mapLeft(parseToolKey(toolName), fail)
      const parsed: ParsedOptions = { options: {} }
      yield* Either.mapLeft(addOptions(parsed, key.inlineOptions, []), (problem) => fail(problem.reason))
      for (const written of versions) {
        const version = yield* Either.mapLeft(validateVersionSpec(written), fail)
        out.push({
          short: key.short,
          backend: key.backend,
          name: key.name,
          version,
          options: parsed.options,
          source: { file: input.file, line: index + 1 },
          configDir: input.configDir
        })
      }
    }
    return out
  })

/**
 * Combines the tools of several config files, given most specific first. A tool's versions come whole from
 * the most specific file that names it (mise's `Toolset::merge`); order is that file's tools first, then
 * the less specific files' tools not already present.
 */
export const mergeToolsets = (filesMostSpecificFirst: ReadonlyArray<ReadonlyArray<ToolSpec>>): ReadonlyArray<ToolSpec> => {
  const seen = new Set<string>()
  const out: Array<ToolSpec> = []
  for (const tools of filesMostSpecificFirst) {
    out.push(...tools.filter((tool) => !seen.has(tool.short)))
    for (const tool of tools) seen.add(tool.short)
  }
  return out
}

/** os/arch in mise's words: `linux`, and `x64` | `arm64`. */
export interface ToolPlatform {
  readonly os: string
  readonly arch: string
}

const normalizeOs = (os: string): string => (os === "darwin" ? "macos" : os === "win" ? "windows" : os)
const normalizeArch = (arch: string): string =>
  arch === "x86_64" || arch === "amd64" ? "x64" : arch === "aarch64" ? "arm64" : arch

/** mise's `os = [...]` filter: `linux` matches any arch, `linux/x64` only that arch; no list matches all. */
export const toolSupportsPlatform = (tool: ToolSpec, platform: ToolPlatform): boolean =>
  tool.os === undefined ||
  tool.os.some((entry) => {
    const slash = entry.indexOf("/")
    if (slash < 0) return normalizeOs(entry) === platform.os
    return normalizeOs(entry.slice(0, slash)) === platform.os && normalizeArch(entry.slice(slash + 1)) === platform.arch
  })

/** The host arch in mise's words; images are built for the host arch. */
export const hostToolPlatform = (arch: string = process.arch): ToolPlatform => ({ os: "linux", arch: normalizeArch(arch) })
