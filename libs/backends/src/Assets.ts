import { Either } from "effect"
import type { Checksum, ChecksumAlgorithm } from "./Downloader"
import type { Platform } from "./Platform"

/** The platform a release asset must run on: mise's os/arch plus the C library the image's binaries expect. */
export interface AssetTarget extends Platform {
  readonly libc: "gnu" | "musl"
}

// `\b` counts `_` as a word character, so `_` is accepted as a separator explicitly (`tool_linux_amd64`).
const OS_PATTERNS: ReadonlyArray<readonly [string, RegExp]> = [
  ["linux", /(?:\b|_)(?:linux|ubuntu|debian|fedora|centos|rhel|alpine)(?:\b|_|32|64|-)/i],
  ["macos", /(?:\b|_)(?:darwin|mac(?:os|osx)?|osx|apple)(?:\b|_)/i],
  ["windows", /(?:\b|_)win(?:32|64|dows)?(?:\b|_)|\.(?:exe|msi)$/i],
  ["freebsd", /(?:\b|_)freebsd(?:\b|_|\d)/i],
  ["netbsd", /(?:\b|_)netbsd(?:\b|_)/i],
  ["openbsd", /(?:\b|_)openbsd(?:\b|_)/i],
  ["illumos", /(?:\b|_)(?:illumos|solaris|sunos)(?:\b|_)/i],
  ["android", /(?:\b|_)android(?:\b|_|\d)/i]
]

const ARCH_PATTERNS: ReadonlyArray<readonly [string, RegExp]> = [
  ["x64", /(?:\b|_)(?:x86[_-]64|x64|amd64)(?:\b|_)/i],
  ["arm64", /(?:\b|_)(?:aarch_?64|arm_?64)(?:\b|_)/i],
  ["arm", /(?:\b|_)(?:arm(?:v[5-7][a-z]*|hf|el)?|armhf)(?:\b|_)/i],
  ["x86", /(?:\b|_)(?:x86(?![_-]64)|i[3-6]86|386|ia32)(?:\b|_)/i],
  ["ppc64", /(?:\b|_)(?:ppc64(?:le)?|powerpc64(?:le)?)(?:\b|_)/i],
  ["s390x", /(?:\b|_)s390x(?:\b|_)/i],
  ["riscv64", /(?:\b|_)riscv64(?:gc)?(?:\b|_)/i],
  ["mips", /(?:\b|_)mips(?:64)?(?:el|le)?(?:\b|_)/i],
  ["loong64", /(?:\b|_)loong(?:arch)?64(?:\b|_)/i]
]

const LIBC_PATTERNS: Readonly<Record<AssetTarget["libc"], RegExp>> = {
  gnu: /(?:\b|_)(?:gnu|glibc)(?:\b|_|eabi)/i,
  musl: /(?:\b|_)musl(?:\b|_|eabi)/i
}

const osKey = (os: string) => (os === "darwin" ? "macos" : os === "win32" ? "windows" : os)
const archKey = (arch: string) =>
  arch === "amd64" || arch === "x86_64"
    ? "x64"
    : arch === "aarch64"
    ? "arm64"
    : arch === "ia32" || arch === "i686" || arch === "i386"
    ? "x86"
    : arch

const ARCHIVE = /\.(?:tar\.(?:gz|xz|bz2|zst)|tgz|txz|tbz2?|tzst|zip|7z)$/i
const COMPRESSED = /\.(?:gz|xz|bz2|zst)$/i

/** Checksums, signatures, SBOMs, attestations and notes: published beside a tool, never the tool itself. */
const METADATA = new RegExp(
  [
    String.raw`\.(?:sha(?:1|224|256|384|512)(?:sums?)?|md5(?:sums?)?|b3|blake3|sig|asc|gpg|pem|crt|cert|pub|minisig|sigstore|bundle)$`,
    String.raw`\.(?:sbom|spdx|cdx|intoto\.jsonl|att|json|ya?ml|txt|md|html|pdf)$`,
    String.raw`^(?:sha\d+sums?|md5sums?|checksums?)(?:\.|$)`,
    String.raw`(?:\b|_)(?:sbom|checksums?|provenance|attestations?)(?:\b|_)`
  ].join("|"),
  "i"
)

/** Packages for a system installer, not something that runs from an install dir. */
const INSTALLER = /\.(?:deb|rpm|apk|msi|msix|appx|pkg|dmg|snap|flatpak|whl|nupkg)$/i

/** Source code published as an asset (`tool-1.0-src.tar.gz`): an archive, but not of a build. */
const SOURCE = /(?:\b|_)(?:src|source|sources|vendor|vendored)(?:\b|_)/i
const DEBUG = /(?:\b|_)(?:debug|dbg|debuginfo|symbols|test)(?:\b|_)/i

/** Whether an asset is ever a candidate for the tool itself (not a checksum, signature, SBOM or installer package). */
export const isToolAsset = (name: string): boolean => !METADATA.test(name) && !INSTALLER.test(name)

const matches = (patterns: ReadonlyArray<readonly [string, RegExp]>, name: string) =>
  patterns.filter(([, re]) => re.test(name)).map(([key]) => key)

/**
 * How well an asset fits the target, as mise's asset picker scores it: the target OS +100, its arch +50, on linux
 * its libc +25 (the other libc −10), an archive +10 (a compressed single file +5), a debug/test build −20, a source
 * tarball −60 (so one naming no platform never wins).
 * Naming only another OS or another arch rules an asset out (undefined): mise would install an arm64 binary on x64.
 */
export const scoreAsset = (name: string, target: AssetTarget): number | undefined => {
  if (!isToolAsset(name)) return undefined
  const os = osKey(target.os)
  const arch = archKey(target.arch)
  const oses = matches(OS_PATTERNS, name)
  // `aarch64-linux-android` names linux too, but runs only on Android.
  if (oses.includes("android") && os !== "android") return undefined
  if (oses.length > 0 && !oses.includes(os)) return undefined
  const arches = matches(ARCH_PATTERNS, name)
  if (arches.length > 0 && !arches.includes(arch)) return undefined
  let score = (oses.includes(os) ? 100 : 0) + (arches.includes(arch) ? 50 : 0)
  if (os === "linux") {
    const other = target.libc === "gnu" ? "musl" : "gnu"
    if (LIBC_PATTERNS[target.libc].test(name)) score += 25
    else if (LIBC_PATTERNS[other].test(name)) score -= 10
  }
  if (ARCHIVE.test(name)) score += 10
  else if (COMPRESSED.test(name)) score += 5
  if (DEBUG.test(name)) score -= 20
  if (SOURCE.test(name)) score -= 60
  return score
}

/** The candidates for the target, best first (ties keep the release's order), with their scores. */
export const rankAssets = (
  names: ReadonlyArray<string>,
  target: AssetTarget
): ReadonlyArray<{ readonly name: string; readonly score: number }> =>
  names
    .map((name) => ({ name, score: scoreAsset(name, target) }))
    .filter((c): c is { name: string; score: number } => c.score !== undefined && c.score > 0)
    .sort((a, b) => b.score - a.score)

/** mise's asset autodetection: the best-scoring asset for the target, if any fits. */
export const pickAsset = (names: ReadonlyArray<string>, target: AssetTarget): string | undefined =>
  rankAssets(names, target)[0]?.name

const escapeRegExp = (s: string) => s.replace(/[.+^${}()|[\]\\]/g, "\\$&")

/** `asset_pattern`: a whole-name glob (`*` any run, `?` one character); a pattern without wildcards is the name. */
export const assetPatternMatches = (pattern: string, name: string): boolean =>
  new RegExp(`^${escapeRegExp(pattern).replaceAll("*", ".*").replaceAll("?", ".")}$`).test(name)

/** What ubi needs besides the target: its `matching` and `matching_regex` options. */
export interface UbiSelection {
  readonly matching?: string
  readonly matchingRegex?: string
}

/**
 * ubi's picker, which filters where mise scores: keep the assets naming the target OS; of those, the ones naming its
 * arch (on x64, ones naming no arch at all when none does); on glibc, drop musl builds when others remain;
 * `matching_regex` filters up front, `matching` breaks a remaining tie; then the first one. Left: why nothing fits.
 */
export const pickUbiAsset = (
  names: ReadonlyArray<string>,
  target: AssetTarget,
  selection: UbiSelection = {}
): Either.Either<string, string> => {
  const os = osKey(target.os)
  const arch = archKey(target.arch)
  let candidates = names.filter(isToolAsset)
  if (selection.matchingRegex !== undefined) {
    let re: RegExp
    try {
      re = new RegExp(selection.matchingRegex)
    } catch (e) {
      return Either.left(`matching_regex "${selection.matchingRegex}" is not a valid regular expression: ${String(e)}`)
    }
    candidates = candidates.filter((n) => re.test(n))
    if (candidates.length === 0) return Either.left(`no asset matches matching_regex "${selection.matchingRegex}"`)
  }
  const forOs = candidates.filter((n) => matches(OS_PATTERNS, n).includes(os) && (os === "android" || !matches(OS_PATTERNS, n).includes("android")))
  if (forOs.length === 0) return Either.left(`no asset names the OS ${os}`)
  let forArch = forOs.filter((n) => matches(ARCH_PATTERNS, n).includes(arch))
  if (forArch.length === 0 && arch === "x64") forArch = forOs.filter((n) => matches(ARCH_PATTERNS, n).length === 0)
  if (forArch.length === 0) return Either.left(`no ${os} asset names the architecture ${arch}`)
  if (os === "linux") {
    const preferred = forArch.filter((n) => target.libc === "musl" ? LIBC_PATTERNS.musl.test(n) : !LIBC_PATTERNS.musl.test(n))
    if (preferred.length > 0) forArch = preferred
  }
  if (forArch.length > 1 && selection.matching !== undefined) {
    const matching = selection.matching
    const picked = forArch.filter((n) => n.includes(matching))
    if (picked.length > 0) forArch = picked
  }
  return Either.right(forArch[0]!)
}

/**
 * The release assets that may hold `asset`'s checksum, most specific first: `<asset>.sha256` (and `.sha256sum`,
 * `.sha512`), then lists such as `SHA256SUMS`, `checksums.txt`, `<tool>_<version>_checksums.txt`.
 */
export const checksumAssets = (asset: string, names: ReadonlyArray<string>): ReadonlyArray<string> => {
  const own = [".sha256", ".sha256sum", ".sha256.txt", ".sha512", ".sha512sum"]
    .map((ext) => `${asset}${ext}`)
    .filter((n) => names.includes(n))
  const lists = names.filter((n) =>
    !/\.(?:asc|sig|gpg|pem|minisig|sigstore|bundle)$/i.test(n) &&
    (/^(?:sha(?:256|512)sums?|checksums?)(?:\.txt)?$/i.test(n) ||
      /[-_.](?:sha(?:256|512)sums?|checksums?)(?:\.txt)?$/i.test(n) ||
      /^sha(?:256|512)sums?[-_.]/i.test(n))
  )
  return [...own, ...lists.filter((n) => !own.includes(n))]
}

const ALGORITHM_BY_LENGTH: Readonly<Record<number, ChecksumAlgorithm>> = { 64: "sha256", 128: "sha512" }

const checksumOfHex = (hex: string): Checksum | undefined => {
  const algorithm = ALGORITHM_BY_LENGTH[hex.length]
  return algorithm === undefined ? undefined : { algorithm, hex: hex.toLowerCase() }
}

/**
 * `asset`'s checksum in a published checksum file: a `<hex>  <name>` (or `<hex> *<name>`) line naming it, a BSD
 * `SHA256 (<name>) = <hex>` line, or, in a file for that one asset, a lone hex digest.
 */
export const checksumFromFile = (text: string, asset: string, ownFile: boolean): Checksum | undefined => {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"))
  for (const line of lines) {
    const gnu = /^([0-9a-fA-F]{64}|[0-9a-fA-F]{128})\s+[*]?(?:\.\/)?(.+)$/.exec(line)
    if (gnu !== null && (gnu[2]!.trim() === asset || gnu[2]!.trim().split("/").pop() === asset)) return checksumOfHex(gnu[1]!)
    const bsd = /^SHA(?:256|512)\s*\((?:\.\/)?(.+)\)\s*=\s*([0-9a-fA-F]+)$/i.exec(line)
    if (bsd !== null && bsd[1] === asset) return checksumOfHex(bsd[2]!)
  }
  if (!ownFile) return undefined
  const lone = /^([0-9a-fA-F]{64}|[0-9a-fA-F]{128})\b/.exec(lines[0] ?? "")
  return lone === null ? undefined : checksumOfHex(lone[1]!)
}
