import type { ToolRequest } from "./Backend"

export interface Platform {
  readonly os: string
  readonly arch: string
}

/** The host in mise's words: os `linux` | `macos` | `windows`, arch `x64` | `arm64` (others as Node names them). */
export const hostPlatform = (): Platform => ({
  os: process.platform === "darwin" ? "macos" : process.platform === "win32" ? "windows" : process.platform,
  arch: process.arch
})

/** `linux-x64`: the key of `platforms.<key>.url` and of lockfile platform entries. */
export const platformKey = (platform: Platform): string => `${platform.os}-${platform.arch}`

/** Spellings mise accepts for a platform in option keys, preferred first (`linux-x64`, `linux-amd64`, `linux-x86_64`). */
export const platformAliases = (platform: Platform): ReadonlyArray<readonly [string, string]> => {
  const oses = platform.os === "macos" || platform.os === "darwin" ? ["macos", "darwin"] : [platform.os]
  const arches = platform.arch === "x64" || platform.arch === "amd64" || platform.arch === "x86_64"
    ? ["x64", "amd64", "x86_64"]
    : platform.arch === "arm64" || platform.arch === "aarch64"
    ? ["arm64", "aarch64"]
    : [platform.arch]
  return oses.flatMap((os) => arches.map((arch) => [os, arch] as const))
}

type Options = ToolRequest["options"]

/** An option as a string (numbers and booleans as written in TOML); arrays are not strings. */
export const optionString = (options: Options, key: string): string | undefined => {
  const value = options[key]
  if (value === undefined || Array.isArray(value)) return undefined
  return String(value)
}

/**
 * mise's `lookup_with_fallback`: `platforms.<os>-<arch>.<key>` (also `platform.`, and the flat
 * `platforms_<os>_<arch>_<key>`) for each alias of the platform, then plain `<key>`.
 */
export const platformOption = (options: Options, key: string, platform: Platform): string | undefined => {
  for (const [os, arch] of platformAliases(platform)) {
    for (const prefix of ["platforms", "platform"]) {
      const value = optionString(options, `${prefix}.${os}-${arch}.${key}`) ??
        optionString(options, `${prefix}_${os}_${arch}_${key}`)
      if (value !== undefined) return value
    }
  }
  return optionString(options, key)
}

/** The platforms for which `platforms.<p>.<key>` is set, for "no URL for this platform" messages. */
export const platformsWithOption = (options: Options, key: string): ReadonlyArray<string> => {
  const found = new Set<string>()
  for (const name of Object.keys(options)) {
    const nested = /^platforms?\.([^.]+)\.(.+)$/.exec(name)
    if (nested !== null && nested[2] === key) found.add(nested[1]!)
    const flat = /^platforms?_([^_]+)_(.+)$/.exec(name)
    if (flat !== null && flat[2]!.endsWith(`_${key}`)) found.add(`${flat[1]}-${flat[2]!.slice(0, -key.length - 1)}`)
  }
  return Array.from(found)
}
