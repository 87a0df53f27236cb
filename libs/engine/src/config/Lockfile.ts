import { Effect, Either, Schema } from "effect"
import * as fs from "node:fs/promises"
import semver from "semver"
import { parse as parseToml } from "smol-toml"
import { ConfigError, problemError, tomlSyntaxError, type ConfigProblem } from "./ConfigError"
import { makeTomlLocator } from "./TomlLocator"
import type { ToolSpec } from "./Tools"
import { decodeAt, expecting, TomlString } from "./TomlValue"

/** `[tools.<name>.platforms.<os-arch>]`: what identifies the artifact for one platform. */
export interface LockedPlatform {
  readonly checksum?: string
  readonly size?: number
  readonly url?: string
}

/** One `[[tools.<name>]]` entry. */
export interface LockedTool {
  readonly version: string
  /** `core:node`, `aqua:BurntSushi/ripgrep`, `http:hello`. */
  readonly backend?: string
  readonly options: Readonly<Record<string, string>>
  /** Keyed `linux-x64`, `macos-arm64`, …; backends may use their own keys. */
  readonly platforms: Readonly<Record<string, LockedPlatform>>
}

/** A parsed `mise.lock`. */
export interface Lockfile {
  readonly path: string
  /** Keyed by the tool's short name as written in `[tools]` (`node`, `http:hello`). */
  readonly tools: Readonly<Record<string, ReadonlyArray<LockedTool>>>
}

const LockedPlatformToml = Schema.Struct({
  checksum: Schema.optional(TomlString),
  size: Schema.optional(expecting(Schema.Number, "an integer")),
  url: Schema.optional(TomlString)
})

const LockedToolToml = Schema.Struct({
  version: TomlString,
  backend: Schema.optional(TomlString),
  options: Schema.optional(
    expecting(Schema.Record({ key: Schema.String, value: Schema.Union(Schema.String, Schema.Number, Schema.Boolean) }), "a table of options")
  ),
  platforms: Schema.optional(expecting(Schema.Record({ key: Schema.String, value: LockedPlatformToml }), "a table of platforms"))
})

/** Older lockfiles wrote `[tools.x]` as a single table; current ones use `[[tools.x]]`. */
const LockfileToml = Schema.Struct({
  tools: Schema.optional(
    expecting(
      Schema.Record({ key: Schema.String, value: Schema.Union(Schema.Array(LockedToolToml), LockedToolToml) }),
      "a table of tools"
    )
  )
})

type LockedToolEntry = Schema.Schema.Type<typeof LockedToolToml>

// Array.isArray does not narrow readonly arrays.
const isEntryList = (value: LockedToolEntry | ReadonlyArray<LockedToolEntry>): value is ReadonlyArray<LockedToolEntry> => Array.isArray(value)

/** A parsed TOML `mise.lock` document → `Lockfile`. Unknown sections (conda/pkgx packages) are ignored. */
export const lockfileFromToml = (path: string, raw: unknown): Either.Either<Lockfile, ConfigProblem> =>
  Either.map(decodeAt(LockfileToml, raw, [], { strict: false }), (doc) => {
    const tools: Record<string, ReadonlyArray<LockedTool>> = {}
    for (const [name, value] of Object.entries(doc.tools ?? {})) {
      tools[name] = (isEntryList(value) ? value : [value]).map((entry) => ({
        version: entry.version,
        ...(entry.backend === undefined ? {} : { backend: entry.backend }),
        options: Object.fromEntries(Object.entries(entry.options ?? {}).map(([k, v]) => [k, String(v)])),
        platforms: entry.platforms ?? {}
      }))
    }
    return { path, tools }
  })

/** mise strips a leading `v` only when a digit follows (`v1.2` → `1.2`, `vim` stays). */
const stripLeadingV = (version: string): string => (/^[vV][0-9]/.test(version) ? version.slice(1) : version)

/** mise's boundary check for `prefix:` requests: `prefix:1` matches `1.2.0`, not `10.0.0`. */
const matchesPrefixBoundary = (prefix: string, version: string): boolean => {
  const p = stripLeadingV(prefix)
  const v = stripLeadingV(version)
  if (p === "" || !v.startsWith(p)) return false
  const rest = v.slice(p.length)
  return rest === "" || p.endsWith("-") || /^[.+-]/.test(rest)
}

const byVersionDescending = (a: LockedTool, b: LockedTool): number => {
  const va = semver.coerce(a.version, { loose: true })
  const vb = semver.coerce(b.version, { loose: true })
  if (va !== null && vb !== null && semver.neq(va, vb)) return semver.rcompare(va, vb)
  return b.version.localeCompare(a.version, "en", { numeric: true })
}

const backendId = (tool: ToolSpec): string => `${tool.backend}:${tool.name}`

/**
 * The lock entry that pins `tool`, as mise's `get_locked_version` picks it: same short name, a version that
 * the request matches as a prefix (`latest` matches all and takes the highest), the same options, and the same
 * backend when the entry records one. `path:` and `ref:` requests are never pinned.
 */
export const lockedVersionFor = (lock: Lockfile, tool: ToolSpec): LockedTool | undefined => {
  const entries = lock.tools[tool.short]
  if (entries === undefined || tool.version.startsWith("path:") || tool.version.startsWith("ref:")) return undefined
  const isPrefixRequest = tool.version.startsWith("prefix:")
  const request = isPrefixRequest ? tool.version.slice("prefix:".length) : tool.version
  const options = Object.fromEntries(Object.entries(tool.options).map(([k, v]) => [k, String(v)]))
  const matching = entries.filter(
    (entry) =>
      (entry.backend === undefined || entry.backend === backendId(tool)) &&
      (request === "latest" || stripLeadingV(entry.version).startsWith(stripLeadingV(request))) &&
      (!isPrefixRequest || matchesPrefixBoundary(request, entry.version)) &&
      Object.entries(entry.options).every(([k, v]) => options[k] === v)
  )
  return request === "latest" ? [...matching].sort(byVersionDescending)[0] : matching[0]
}

/** Reads `mise.lock` at `file`; `undefined` when there is none. */
export const readLockfile = (file: string): Effect.Effect<Lockfile | undefined, ConfigError> =>
  Effect.gen(function* () {
    const text = yield* Effect.tryPromise({
      try: () => fs.readFile(file, "utf8").catch((cause: NodeJS.ErrnoException) => (cause.code === "ENOENT" ? undefined : Promise.reject(cause))),
      catch: (cause) => new ConfigError({ file, reason: `cannot read lockfile: ${cause instanceof Error ? cause.message : String(cause)}` })
    })
    if (text === undefined) return undefined
    const doc = yield* Effect.try({ try: () => parseToml(text), catch: (cause) => tomlSyntaxError(file, text, cause) })
    return yield* Either.mapLeft(lockfileFromToml(file, doc), (problem) => problemError(file, makeTomlLocator(text), problem))
  })
