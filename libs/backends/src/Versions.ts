import { Effect, Option } from "effect"
import * as semver from "semver"
import { BackendError } from "./Backend"

/** mise's VERSION_REGEX: what its fuzzy matcher treats as a pre-release. */
const PRERELEASE_PATTERN =
  /(^Available versions:|-src|[-.]dev|-latest|-stm|[-.]rc|-milestone|-alpha|-beta|[-.]pre|-next|-test|-nightly|-canary|-experimental|-insider|-edge|snapshot|SNAPSHOT|master|\d(?:alpha|beta|rc)\d*\b)/i

/** A pre-release by mise's pattern, or by semver (`1.0.0-0`), as the npm backend also marks them. */
export const isPrerelease = (version: string): boolean => {
  if (PRERELEASE_PATTERN.test(version)) return true
  const parsed = semver.parse(version.replace(/^v/, ""))
  return parsed !== null && parsed.prerelease.length > 0
}

const tokens = (version: string): ReadonlyArray<string> =>
  version.replace(/^v(?=\d)/, "").split(/[.\-+_]/).filter((t) => t !== "")

const isNumeric = (t: string) => /^\d+$/.test(t)

const compareTokens = (a: ReadonlyArray<string>, b: ReadonlyArray<string>): number => {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i]
    const y = b[i]
    // A trailing word (`rc1`) marks a pre-release, which sorts before the bare version; a trailing number after it.
    if (x === undefined) return y !== undefined && isNumeric(y) ? -1 : 1
    if (y === undefined) return isNumeric(x) ? 1 : -1
    if (isNumeric(x) && isNumeric(y)) {
      const d = BigInt(x) - BigInt(y)
      if (d !== 0n) return d < 0n ? -1 : 1
    } else if (isNumeric(x) !== isNumeric(y)) {
      return isNumeric(x) ? 1 : -1
    } else if (x !== y) {
      return x < y ? -1 : 1
    }
  }
  return 0
}

/** Version order: semver precedence when both parse, else a numeric-aware compare of the dot/dash segments. */
export const compareVersions = (a: string, b: string): number => {
  const sa = semver.parse(a.replace(/^v(?=\d)/, ""))
  const sb = semver.parse(b.replace(/^v(?=\d)/, ""))
  if (sa !== null && sb !== null) {
    const c = semver.compare(sa, sb)
    return c !== 0 ? c : a < b ? -1 : a > b ? 1 : 0
  }
  const c = compareTokens(tokens(a), tokens(b))
  return c !== 0 ? c : a < b ? -1 : a > b ? 1 : 0
}

/** Ascending, duplicates removed. */
export const sortVersions = (versions: Iterable<string>): ReadonlyArray<string> =>
  Array.from(new Set(versions)).sort(compareVersions)

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/**
 * mise's `fuzzy_match_versions`: `latest` matches any version starting with a digit, `20` matches `20`, `20.1.0`,
 * `v20.1` and `20-rc1` but not `200`; an exact match always passes; pre-releases are dropped when asked to.
 */
export const fuzzyMatchVersions = (
  versions: ReadonlyArray<string>,
  query: string,
  filterPrereleases: boolean
): ReadonlyArray<string> => {
  const escaped = escapeRegExp(query)
  const numeric = /^\d/.test(query.replace(/^[vV]/, ""))
  const pattern = query === "latest" ? "v?[0-9].*" : /^\d/.test(query) ? `v?${escaped}` : escaped
  const sep = query === "latest" || numeric ? "[+\\-.]" : "[\\-.]"
  const openEnded = query !== "latest" && query.endsWith("-")
  const regex = new RegExp(openEnded ? `^${pattern}.*$` : `^${pattern}(${sep}.+)?$`)
  const withoutV = /^[vV]/.test(query)
    ? new RegExp(openEnded ? `^${escapeRegExp(query.slice(1))}.*$` : `^${escapeRegExp(query.slice(1))}(${sep}.+)?$`)
    : undefined
  return versions.filter((v) => {
    if (v === query) return true
    if (filterPrereleases && isPrerelease(v)) return false
    return regex.test(v) || (withoutV?.test(v) ?? false)
  })
}

/**
 * Pick the version a spec means, as mise does: an exact match wins; otherwise the newest stable version matching
 * the prefix (`latest` matches all, and falls back to pre-releases when nothing stable exists).
 * `versions` may be in any order. `prefix:1.2` is the same as `1.2`.
 */
export const matchVersion = (spec: string, versions: ReadonlyArray<string>): Option.Option<string> => {
  const query = spec.startsWith("prefix:") ? spec.slice("prefix:".length) : spec
  const sorted = sortVersions(versions)
  if (sorted.includes(query)) return Option.some(query)
  let matches = fuzzyMatchVersions(sorted, query, true)
  if (matches.length === 0 && query === "latest") matches = sorted
  return Option.fromNullable(matches[matches.length - 1])
}

const SHOWN = 8

/** `a, b, c`, or the newest few and how many more, so the message stays one line. */
export const describeAvailable = (versions: ReadonlyArray<string>): string => {
  const sorted = sortVersions(versions)
  if (sorted.length === 0) return "none"
  if (sorted.length <= SHOWN) return sorted.join(", ")
  return `... ${sorted.slice(-SHOWN).join(", ")} (${sorted.length} in all)`
}

/**
 * `matchVersion` as an Effect whose failure a user can act on:
 * `npm:prettier@99: no version matches (available: ... 3.5.3, 3.6.0 (180 in all))`.
 * `tool` is the short used in the message (the spec alone when omitted).
 */
export const resolveFromList = (
  spec: string,
  versions: ReadonlyArray<string>,
  tool?: string
): Effect.Effect<string, BackendError> =>
  Option.match(matchVersion(spec, versions), {
    onSome: Effect.succeed,
    onNone: () => {
      const who = tool === undefined ? spec : `${tool}@${spec}`
      return Effect.fail(
        new BackendError({
          tool: tool ?? spec,
          message: versions.length === 0
            ? `${who}: no version matches (no versions available)`
            : `${who}: no version matches (available: ${describeAvailable(versions)})`
        })
      )
    }
  })
