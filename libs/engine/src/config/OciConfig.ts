import { Effect, Either, Schema } from "effect"
import * as path from "node:path"
import { ConfigError, type ConfigProblem } from "./ConfigError"
import { decodeAt, expecting, TomlString, TomlStringArray, TomlStringMap, TomlU32 } from "./TomlValue"

/** `[[oci.copy]] { host, image }`: a host path copied into the image as its own layer. */
export interface OciCopy {
  /** Absolute once loaded: config hosts are resolved against the declaring file's directory. */
  readonly host: string
  readonly image: string
}

/** The `[oci]` section (keys as in TOML and mise), merged across config files. No defaults: they belong to the caller. */
export interface OciConfig {
  readonly from?: string
  readonly tag?: string
  readonly workdir?: string
  readonly entrypoint?: ReadonlyArray<string>
  readonly cmd?: ReadonlyArray<string>
  readonly user?: string
  readonly user_id?: number
  readonly group_id?: number
  readonly mount_point?: string
  /** Less specific files' copies first, so a more specific copy to the same path lands later and wins. */
  readonly copy: ReadonlyArray<OciCopy>
  /** In order (mise's IndexMap): the more specific file's keys first. */
  readonly env: ReadonlyArray<readonly [string, string]>
  readonly labels: ReadonlyArray<readonly [string, string]>
}

/** The keys `[oci]` accepts (mise's `OciConfig` is `deny_unknown_fields`). */
export const OCI_KEYS = [
  "from", "tag", "workdir", "entrypoint", "cmd", "user", "user_id", "group_id", "mount_point", "copy", "env", "labels"
] as const

const OciCopyToml = expecting(Schema.Struct({ host: TomlString, image: TomlString }), "a table with `host` and `image`")

/** `[oci]` as written in TOML; decoded strictly so an unknown key is an error. */
const OciConfigToml = expecting(
  Schema.Struct({
    from: Schema.optional(TomlString),
    tag: Schema.optional(TomlString),
    workdir: Schema.optional(TomlString),
    entrypoint: Schema.optional(expecting(TomlStringArray, "a sequence")),
    cmd: Schema.optional(expecting(TomlStringArray, "a sequence")),
    user: Schema.optional(TomlString),
    user_id: Schema.optional(TomlU32),
    group_id: Schema.optional(TomlU32),
    mount_point: Schema.optional(TomlString),
    copy: Schema.optional(expecting(Schema.Array(OciCopyToml), "a sequence of `{ host, image }` tables")),
    env: Schema.optional(TomlStringMap),
    labels: Schema.optional(TomlStringMap)
  }),
  "a table"
)

/** Copy image paths: absolute, not `/`, no `.`/`..` components (mise's `validate_image_path`). */
export const validateCopyImagePath = (image: string): Either.Either<string, string> => {
  if (!image.startsWith("/")) return Either.left(`copy image path must be absolute (got ${JSON.stringify(image)})`)
  if (image.replace(/^\/+|\/+$/g, "") === "") return Either.left(`copy image path must not be the root \`/\` (got ${JSON.stringify(image)})`)
  if (image.split("/").some((part) => part === "." || part === "..")) {
    return Either.left(`copy image path must not contain \`.\` or \`..\` components (got ${JSON.stringify(image)})`)
  }
  return Either.right(image)
}

/** Checks a `{ host, image }` copy; errors carry mise's messages. */
export const validateCopy = (copy: OciCopy): Either.Either<OciCopy, string> => {
  if (copy.host === "") return Either.left("copy host path must not be empty")
  return Either.map(validateCopyImagePath(copy.image), () => copy)
}

/** Decodes one file's `[oci]`, resolving relative copy hosts against `dir` (the declaring file's directory). */
export const ociConfigFromToml = (raw: unknown, dir: string): Either.Either<OciConfig, ConfigProblem> =>
  Either.gen(function* () {
    const oci = yield* decodeAt(OciConfigToml, raw, ["oci"], { strict: true, knownKeys: OCI_KEYS })
    const copy: Array<OciCopy> = []
    for (const [index, entry] of (oci.copy ?? []).entries()) {
      const checked = yield* Either.mapLeft(validateCopy(entry), (reason) => ({ path: ["oci", "copy", index], reason }))
      copy.push({ host: path.resolve(dir, checked.host), image: checked.image })
    }
    return {
      ...(oci.from === undefined ? {} : { from: oci.from }),
      ...(oci.tag === undefined ? {} : { tag: oci.tag }),
      ...(oci.workdir === undefined ? {} : { workdir: oci.workdir }),
      ...(oci.entrypoint === undefined ? {} : { entrypoint: oci.entrypoint }),
      ...(oci.cmd === undefined ? {} : { cmd: oci.cmd }),
      ...(oci.user === undefined ? {} : { user: oci.user }),
      ...(oci.user_id === undefined ? {} : { user_id: oci.user_id }),
      ...(oci.group_id === undefined ? {} : { group_id: oci.group_id }),
      ...(oci.mount_point === undefined ? {} : { mount_point: oci.mount_point }),
      copy,
      env: Object.entries(oci.env ?? {}),
      labels: Object.entries(oci.labels ?? {})
    }
  })

export const emptyOciConfig: OciConfig = { copy: [], env: [], labels: [] }

type Pairs = ReadonlyArray<readonly [string, string]>

/** IndexMap `entry().or_insert()`: existing keys keep value and position, new keys go last. */
const appendMissing = (first: Pairs, more: Pairs): Pairs => {
  const keys = new Set(first.map(([key]) => key))
  return [...first, ...more.filter(([key]) => !keys.has(key))]
}

/**
 * mise's `fill_defaults_from`, folded over files given most specific first: the first value wins per field;
 * env/labels keep the more specific keys first and append missing ones; copies accumulate less specific
 * first; a `group_id` is not inherited past a more specific file that set `user_id` (gid then defaults to uid).
 */
export const mergeOciConfigs = (mostSpecificFirst: ReadonlyArray<OciConfig>): OciConfig =>
  mostSpecificFirst.reduce<OciConfig>((merged, other) => {
    const first = <K extends keyof OciConfig>(key: K): Partial<Pick<OciConfig, K>> => {
      const value = merged[key] ?? other[key]
      return value === undefined ? {} : ({ [key]: value } as Partial<Pick<OciConfig, K>>)
    }
    const groupId = merged.group_id ?? (merged.user_id === undefined ? other.group_id : undefined)
    return {
      ...first("from"),
      ...first("tag"),
      ...first("workdir"),
      ...first("entrypoint"),
      ...first("cmd"),
      ...first("user"),
      ...first("user_id"),
      ...(groupId === undefined ? {} : { group_id: groupId }),
      ...first("mount_point"),
      copy: [...other.copy, ...merged.copy],
      env: appendMissing(merged.env, other.env),
      labels: appendMissing(merged.labels, other.labels)
    }
  }, emptyOciConfig)

/** Where a value validated after CLI precedence came from, when it came from a config file. */
export interface ValueOrigin {
  readonly file?: string
  readonly line?: number
  readonly column?: number
  readonly key?: string
}

const fail = (origin: ValueOrigin | undefined, reason: string): ConfigError => new ConfigError({ ...origin, reason })

/** The mount point after precedence (CLI > `[oci]` > setting), as mise checks it: trailing `/` trimmed, then non-empty and absolute. */
export const validateMountPoint = (value: string, origin?: ValueOrigin): Effect.Effect<string, ConfigError> => {
  const trimmed = value.replace(/\/+$/, "")
  if (trimmed === "") return Effect.fail(fail(origin, "oci mount_point must not be empty"))
  if (!trimmed.startsWith("/")) {
    return Effect.fail(
      fail(
        origin,
        `oci mount_point must be an absolute path (got ${JSON.stringify(trimmed)}); a relative value makes MISE_DATA_DIR inside the container depend on the working directory and mis-resolve tools.`
      )
    )
  }
  return Effect.succeed(trimmed)
}

/** Numeric owner of every layer entry. */
export interface LayerOwner {
  readonly uid: number
  readonly gid: number
}

/** Rust's `u32::from_str`: digits with an optional `+`. */
const parseOwnerId = (text: string, name: "uid" | "gid"): Either.Either<number, string> => {
  if (text === "") return Either.left(`${name} must not be empty`)
  if (!/^\+?[0-9]+$/.test(text) || Number(text) > 4294967295) return Either.left(`${name} must be a non-negative integer <= 4294967295`)
  return Either.right(Number(text))
}

/** `--owner UID[:GID]` with mise's checks in mise's order; GID defaults to UID. */
export const parseOwner = (value: string, origin?: ValueOrigin): Effect.Effect<LayerOwner, ConfigError> => {
  const [uidText = "", gidText, ...rest] = value.split(":")
  const owner = Either.gen(function* () {
    const uid = yield* parseOwnerId(uidText, "uid")
    const gid = gidText === undefined ? uid : yield* parseOwnerId(gidText, "gid")
    if (rest.length > 0) return yield* Either.left("owner must be UID or UID:GID")
    return { uid, gid }
  })
  return Either.match(owner, { onLeft: (reason) => Effect.fail(fail(origin, reason)), onRight: Effect.succeed })
}

/** Owner precedence: `--owner` > `[oci].user_id` (default 0) / `group_id` (default: the uid). */
export const resolveOwner = (cliOwner: string | undefined, oci: OciConfig): Effect.Effect<LayerOwner, ConfigError> => {
  if (cliOwner !== undefined) return parseOwner(cliOwner)
  const uid = oci.user_id ?? 0
  return Effect.succeed({ uid, gid: oci.group_id ?? uid })
}

/** `--copy HOST:IMAGE`, split at the last `:`; a relative HOST is resolved against `base` (the cwd). */
export const parseCopy = (value: string, base: string, origin?: ValueOrigin): Effect.Effect<OciCopy, ConfigError> => {
  const colon = value.lastIndexOf(":")
  if (colon < 0) return Effect.fail(fail(origin, "copy must be HOST_PATH:IMAGE_PATH"))
  const host = value.slice(0, colon)
  const image = value.slice(colon + 1)
  return Either.match(validateCopy({ host, image }), {
    onLeft: (reason) => Effect.fail(fail(origin, reason)),
    onRight: () => Effect.succeed({ host: path.resolve(base, host), image })
  })
}
