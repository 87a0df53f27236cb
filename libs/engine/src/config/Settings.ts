import { Either, Schema } from "effect"
import { ConfigError, type ConfigProblem } from "./ConfigError"
import type { KeyPath } from "./TomlLocator"
import { decodeAt, TomlBoolean, TomlString, TomlStringArray, TomlTable } from "./TomlValue"

/** A setting value as TOML gives it. */
export type SettingValue = string | number | boolean | ReadonlyArray<unknown> | { readonly [key: string]: unknown }

/** mise settings, flattened to dotted keys (`oci.default_from`, `node.mirror_url`, `experimental`). */
export type Settings = Readonly<Record<string, SettingValue>>

/** Defaults of the settings this tool reads itself (mise's `settings.toml`). */
export const SETTING_DEFAULTS: Settings = {
  "oci.default_from": "debian:bookworm-slim",
  "oci.default_mount_point": "/mise",
  "oci.insecure_registries": []
}

const checkedWith =
  <A, I>(schema: Schema.Schema<A, I>) =>
  (value: unknown, path: KeyPath): Either.Either<void, ConfigProblem> =>
    Either.map(decodeAt(schema, value, path, { strict: false }), () => undefined)

/** Types of the settings we rely on; other settings pass through unchecked, as backends own them. */
const KNOWN_SETTINGS: Readonly<Record<string, (value: unknown, path: KeyPath) => Either.Either<void, ConfigProblem>>> = {
  "oci.default_from": checkedWith(TomlString),
  "oci.default_mount_point": checkedWith(TomlString),
  "oci.insecure_registries": checkedWith(TomlStringArray),
  experimental: checkedWith(TomlBoolean)
}

const isTable = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Date)

const toSettingValue = (value: unknown): SettingValue =>
  value instanceof Date ? value.toISOString() : (value as SettingValue)

/** One file's `[settings]` → dotted keys (`[settings.oci] default_from = …` → `oci.default_from`). */
export const settingsFromToml = (raw: unknown): Either.Either<Settings, ConfigProblem> =>
  Either.gen(function* () {
    const table = yield* decodeAt(TomlTable, raw, ["settings"], { strict: false })
    const out: Record<string, SettingValue> = {}
    const walk = (node: Readonly<Record<string, unknown>>, prefix: ReadonlyArray<string>): Either.Either<void, ConfigProblem> => {
      for (const [key, value] of Object.entries(node)) {
        const at = [...prefix, key]
        const dotted = at.join(".")
        const check = KNOWN_SETTINGS[dotted]
        if (check !== undefined) {
          const checked = check(value, ["settings", ...at])
          if (Either.isLeft(checked)) return checked
        }
        if (isTable(value) && check === undefined) {
          const nested = walk(value, at)
          if (Either.isLeft(nested)) return nested
        } else out[dotted] = toSettingValue(value)
      }
      return Either.right(undefined)
    }
    yield* walk(table, [])
    return out
  })

const parseBool = (value: string): boolean | undefined => {
  const v = value.trim().toLowerCase()
  if (["1", "true", "yes", "on", "y"].includes(v)) return true
  if (["0", "false", "no", "off", "n", ""].includes(v)) return false
  return undefined
}

/** `MISE_*` variables that override settings, and how each is read. */
const ENV_OVERRIDES: ReadonlyArray<readonly [string, string, (value: string) => SettingValue | undefined]> = [
  ["MISE_OCI_DEFAULT_FROM", "oci.default_from", (v) => v],
  ["MISE_OCI_DEFAULT_MOUNT_POINT", "oci.default_mount_point", (v) => v],
  ["MISE_OCI_INSECURE_REGISTRIES", "oci.insecure_registries", (v) => v.split(",").map((s) => s.trim()).filter((s) => s !== "")],
  ["MISE_EXPERIMENTAL", "experimental", parseBool]
]

/**
 * Settings from defaults, then files (given most specific first: the first file that sets a key wins),
 * then `MISE_*` env overrides, which beat files as in mise.
 */
export const mergeSettings = (
  mostSpecificFirst: ReadonlyArray<Settings>,
  env: Readonly<Record<string, string | undefined>>
): Either.Either<Settings, ConfigError> => {
  const out: Record<string, SettingValue> = { ...SETTING_DEFAULTS }
  for (const settings of [...mostSpecificFirst].reverse()) Object.assign(out, settings)
  for (const [name, key, read] of ENV_OVERRIDES) {
    const raw = env[name]
    if (raw === undefined) continue
    const value = read(raw)
    if (value === undefined) return Either.left(new ConfigError({ key: name, reason: `invalid value ${JSON.stringify(raw)}, expected a boolean` }))
    out[key] = value
  }
  return Either.right(out)
}

/** The oci settings with their defaults applied. */
export interface OciSettings {
  readonly defaultFrom: string
  readonly defaultMountPoint: string
  readonly insecureRegistries: ReadonlyArray<string>
}

export const ociSettings = (settings: Settings): OciSettings => {
  const str = (key: string, fallback: string): string => {
    const value = settings[key]
    return typeof value === "string" ? value : fallback
  }
  const registries = settings["oci.insecure_registries"]
  return {
    defaultFrom: str("oci.default_from", "debian:bookworm-slim"),
    defaultMountPoint: str("oci.default_mount_point", "/mise"),
    insecureRegistries: Array.isArray(registries) ? registries.filter((r): r is string => typeof r === "string") : []
  }
}
