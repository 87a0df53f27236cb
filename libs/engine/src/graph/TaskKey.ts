import { Data, Either, Schema } from "effect"
import { createHash } from "node:crypto"

/** A JSON value. `undefined` object members are allowed so Schema-encoded optional fields fit; they count as absent. */
export type Json = null | boolean | number | string | ReadonlyArray<Json> | JsonObject
export interface JsonObject {
  readonly [key: string]: Json | undefined
}

/** Decodes JSON read from disk into `Json`, rejecting non-finite numbers that JSON cannot carry. */
export const JsonSchema: Schema.Schema<Json> = Schema.Union(
  Schema.Null,
  Schema.Boolean,
  Schema.Finite,
  Schema.String,
  Schema.Array(Schema.suspend((): Schema.Schema<Json> => JsonSchema)),
  Schema.Record({ key: Schema.String, value: Schema.UndefinedOr(Schema.suspend((): Schema.Schema<Json> => JsonSchema)) })
)

const isJson = (u: unknown): u is Json => {
  if (u === null || typeof u === "boolean" || typeof u === "string") return true
  if (typeof u === "number") return Number.isFinite(u)
  if (Array.isArray(u)) return u.every(isJson)
  return typeof u === "object" && Object.values(u).every((v) => v === undefined || isJson(v))
}

/**
 * `Json` checked by a plain walk: decoding through the recursive `JsonSchema` union costs a Schema parse per
 * node, and a layout's key structure (config, every layer) grows with the tool count.
 */
export const JsonValue: Schema.Schema<Json> = Schema.declare(isJson, { identifier: "Json", description: "a JSON value (finite numbers)" })

/** A value that has no canonical JSON encoding (NaN, Infinity, undefined in an array); names where it sits. */
export class InvalidKeyInput extends Data.TaggedError("InvalidKeyInput")<{
  readonly kind: string
  readonly path: string
  readonly value: string
  readonly message: string
}> {}

/**
 * Bumped whenever the meaning of a key changes (encoding, hashed fields). Deliberately not the engine's
 * package version, so an upgrade that changes nothing about keys keeps the cache warm.
 */
export const TASK_KEY_FORMAT = "engine-task-key/1"

/**
 * Everything a task key is computed from; `engine explain` prints it and diffs it against the last run.
 * - `format`: TASK_KEY_FORMAT.
 * - `kind`: the task kind; `TaskKeyInputs` documents the `inputs` of each engine kind.
 * - `inputs`: named inputs of the task (backend id, resolved version, os/arch, options, owner, mount point,
 *   compression, digests of dependency outputs the task chose to depend on by content, ...).
 * - `deps`: dependency alias → that dependency's task key, so a change upstream changes every key downstream.
 */
export type KeyStructure = {
  readonly format: string
  readonly kind: string
  readonly inputs: JsonObject
  readonly deps: Readonly<Record<string, string>>
}

// Type literals rather than interfaces: only those are assignable to JsonObject's index signature.
type Platform = { readonly os: string; readonly arch: string; readonly libc?: string }
type Owner = { readonly uid: number; readonly gid: number }
/** `memberSize`: uncompressed bytes per gzip member when a layer is compressed as several members. */
type Compression = { readonly algorithm: "gzip" | "zstd" | "none"; readonly level: number; readonly memberSize?: number }

/**
 * The named key inputs of each task kind, documented once. Build tasks name what they use of a dependency's
 * output (a resolved version, a digest) as an input instead of listing the dependency's key, so an upstream
 * rerun that produced the same result does not invalidate them. `format` of a layer task is the engine's
 * layer-format version: bumped whenever the same inputs would give other bytes.
 */
export type TaskKeyInputs = {
  /**
   * Tool request → concrete version. `request` is what mise.toml says ("20", "lts", "latest", "path:./x");
   * `pin` is the lockfile's version. Whether a cached answer still holds (an installed match, a fresh
   * upstream answer) is checked when it is restored, not hashed.
   */
  readonly resolve: {
    readonly backend: string
    readonly tool: string
    readonly request: string
    readonly options: JsonObject
    readonly platform: Platform
    readonly pin: string | null
  }
  /** Install one resolved version (never `latest`) into `installDir`; `options` change what gets installed. */
  readonly install: {
    readonly backend: string
    readonly tool: string
    readonly version: string
    readonly options: JsonObject
    readonly platform: Platform
    readonly installDir: string
    /** Push only: the cache image's layer for this tool, which makes the install a no-op (nothing is installed). */
    readonly reused?: string
  }
  /**
   * One tool's layer: the install tree's content fingerprint (`tree`), the host dir it is relocated from,
   * where it lands (`prefix`) and as whom, and how it is packed.
   */
  readonly "tool-layer": {
    readonly format: string
    readonly tool: string
    readonly version: string
    readonly tree: string
    readonly hostRoot: string
    readonly prefix: string
    readonly owner: Owner
    /** 2, or for pipx mise's `2:python=<fingerprint>` naming the pythons its venvs are relocated into. */
    readonly relocation: number | string
    readonly compression: Compression
    /** Push only: the digest of the previous image's layer with the same mise reuse key, referenced instead of built. */
    readonly reused?: string
  }
  /** A host path copied into the image; `tree` is its content fingerprint (a tree, a file or `link:<target>`). */
  readonly "copy-layer": {
    readonly format: string
    readonly host: string
    readonly image: string
    readonly tree: string
    readonly owner: Owner
    readonly compression: Compression
  }
  /** The mise binary at /usr/local/bin/mise, by the digest of its bytes. */
  readonly "mise-layer": { readonly format: string; readonly binary: string; readonly owner: Owner; readonly compression: Compression }
  /** The synthesized /etc/mise/config.toml, by its text. */
  readonly "config-layer": { readonly format: string; readonly config: string; readonly owner: Owner; readonly compression: Compression }
  /**
   * A base image, by canonical reference and (when pinned) manifest digest, for one platform. A tag's cached
   * result is re-checked against the registry when restored (the tag may have moved); a digest's is not.
   */
  readonly "base-image": { readonly reference: string; readonly digest?: string; readonly platform: Platform }
  /**
   * The OCI layout of one image written into `outputDir`: the image config as it will be written and the
   * layer descriptors in order (so any layer digest or config field change is named), the manifest's
   * annotations (base name and digest), the index entry's platform (set with a base), plus the tag.
   */
  readonly layout: {
    readonly outputDir: string
    readonly tag: string | null
    readonly config: Json
    readonly layers: ReadonlyArray<{
      readonly mediaType: string
      readonly digest: string
      readonly size: number
      readonly annotations: Readonly<Record<string, string>> | null
    }>
    readonly annotations: Readonly<Record<string, string>> | null
    readonly platform: Platform | null
  }
  /** Push a layout's manifest to a destination reference. */
  readonly push: { readonly destination: string; readonly manifest: string }
}

export type TaskKind = keyof TaskKeyInputs

/** Type-checks a kind's key inputs against its documented structure. */
export const keyInputs = <K extends TaskKind>(_kind: K, inputs: TaskKeyInputs[K]): JsonObject => inputs

export const KeyStructureSchema = Schema.Struct({
  format: Schema.String,
  kind: Schema.String,
  inputs: Schema.Record({ key: Schema.String, value: Schema.UndefinedOr(JsonValue) }),
  deps: Schema.Record({ key: Schema.String, value: Schema.String })
})

export interface TaskKey {
  /** sha256 hex (64 chars) of `canonical`. */
  readonly key: string
  /** The exact bytes that were hashed. */
  readonly canonical: string
  readonly structure: KeyStructure
}

const TASK_KEY_PATTERN = /^[0-9a-f]{64}$/

export const isTaskKey = (s: string): boolean => TASK_KEY_PATTERN.test(s)

export const sha256Hex = (data: string | Uint8Array): string => createHash("sha256").update(data).digest("hex")

/**
 * `sha256Hex` of a name that comes back build after build in the daemon (a task id, an install dir), remembered:
 * the cache's document names are these hashes.
 */
const namedHashes = new Map<string, string>()
export const sha256HexOfName = (name: string): string => {
  let hex = namedHashes.get(name)
  if (hex === undefined) {
    if (namedHashes.size >= 20_000) namedHashes.clear()
    hex = sha256Hex(name)
    namedHashes.set(name, hex)
  }
  return hex
}

const compareCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/** Where the first value without a JSON encoding sits. */
interface Unencodable {
  readonly path: string
  readonly value: string
}

/**
 * Appends the canonical JSON of `value` to `out.text`. On a value JSON cannot carry, returns it with its path below
 * `value` (built on the way back, so a key that encodes pays for no path strings).
 */
const encode = (value: Json, out: { text: string }): Unencodable | undefined => {
  if (typeof value === "string") {
    out.text += JSON.stringify(value)
    return undefined
  }
  if (value === null || typeof value === "boolean") {
    out.text += value === null ? "null" : value ? "true" : "false"
    return undefined
  }
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return { path: "", value: String(value) }
    // JSON.stringify turns -0 into "0", which is the equality we want for keys.
    out.text += JSON.stringify(value)
    return undefined
  }
  if (isJsonArray(value)) {
    out.text += "["
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out.text += ","
      const item = value[i]
      if (item === undefined) return { path: `[${i}]`, value: "undefined" }
      const bad = encode(item, out)
      if (bad !== undefined) return { path: `[${i}]${bad.path}`, value: bad.value }
    }
    out.text += "]"
    return undefined
  }
  out.text += "{"
  let first = true
  const names = Object.keys(value)
  if (names.length > 1) names.sort(compareCodeUnits)
  for (const name of names) {
    const member = value[name]
    if (member === undefined) continue
    if (!first) out.text += ","
    first = false
    out.text += JSON.stringify(name)
    out.text += ":"
    const bad = encode(member, out)
    if (bad !== undefined) return { path: `.${name}${bad.path}`, value: bad.value }
  }
  out.text += "}"
  return undefined
}

const isJsonArray = (value: Json): value is ReadonlyArray<Json> => Array.isArray(value)

/**
 * Canonical JSON: object members sorted by UTF-16 code unit, no whitespace, `undefined` members dropped.
 * Left names the first value JSON cannot represent.
 */
export const canonicalJson = (value: Json): Either.Either<string, Unencodable> => {
  const out = { text: "" }
  const bad = encode(value, out)
  return bad === undefined ? Either.right(out.text) : Either.left({ path: `$${bad.path}`, value: bad.value })
}

/** The key of a task: sha256 of the canonical encoding of its `KeyStructure`. */
export const taskKey = (
  kind: string,
  inputs: JsonObject,
  depKeys: Readonly<Record<string, string>>
): Either.Either<TaskKey, InvalidKeyInput> => {
  const structure: KeyStructure = { format: TASK_KEY_FORMAT, kind, inputs, deps: depKeys }
  return Either.match(canonicalJson(structure), {
    onLeft: ({ path, value }) =>
      Either.left(
        new InvalidKeyInput({
          kind,
          path,
          value,
          message: `task kind "${kind}": key input ${path.replace(/^\$\./, "")} is ${value}, which has no JSON encoding; use a finite number, a string or null`
        })
      ),
    onRight: (canonical) => Either.right({ key: sha256Hex(canonical), canonical, structure })
  })
}

/** One difference between the key structures of two runs of a task. Paths look like `inputs.options.arch`, `deps.install`. */
export interface InputChange {
  readonly path: string
  readonly change: "added" | "removed" | "changed"
  readonly before?: Json
  readonly after?: Json
}

const isJsonObject = (value: Json | undefined): value is JsonObject =>
  typeof value === "object" && value !== null && !isJsonArray(value)

const sameJson = (a: Json, b: Json): boolean => {
  const ca = canonicalJson(a)
  const cb = canonicalJson(b)
  return Either.isRight(ca) && Either.isRight(cb) && ca.right === cb.right
}

const diffJson = (path: string, before: Json | undefined, after: Json | undefined, out: Array<InputChange>): void => {
  if (before === undefined) {
    if (after !== undefined) out.push({ path, change: "added", after })
    return
  }
  if (after === undefined) {
    out.push({ path, change: "removed", before })
    return
  }
  if (isJsonObject(before) && isJsonObject(after)) {
    const names = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort(compareCodeUnits)
    for (const name of names) diffJson(path === "" ? name : `${path}.${name}`, before[name], after[name], out)
    return
  }
  if (!sameJson(before, after)) out.push({ path, change: "changed", before, after })
}

/** Which named inputs differ between two key structures (e.g. the last run's and this run's), in a stable order. */
export const diffKeyStructures = (before: KeyStructure, after: KeyStructure): ReadonlyArray<InputChange> => {
  const out: Array<InputChange> = []
  diffJson("", before, after, out)
  return out
}

/** Human-readable form of a key structure, stable across runs (sorted members, two-space indent). */
export const formatKeyStructure = (structure: KeyStructure): string => {
  const sortDeep = (value: Json): Json => {
    if (isJsonArray(value)) return value.map(sortDeep)
    if (!isJsonObject(value)) return value
    const sorted: Record<string, Json> = {}
    for (const name of Object.keys(value).sort(compareCodeUnits)) {
      const member = value[name]
      if (member !== undefined) sorted[name] = sortDeep(member)
    }
    return sorted
  }
  return JSON.stringify(sortDeep(structure), null, 2)
}
