import * as os from "node:os"
import * as NodePath from "node:path"

const isAlphanumeric = (c: string) => /[\p{Alphabetic}\p{N}]/u.test(c)
const isLowercase = (c: string) => /\p{Lowercase}/u.test(c)
const isUppercase = (c: string) => /\p{Uppercase}/u.test(c)

type WordMode = "boundary" | "lower" | "upper"

/**
 * Words as heck (the Rust crate mise uses) splits them: on every non-alphanumeric char, between a lowercase
 * char and an uppercase one (`aB` → `a|B`), and before the last capital of an acronym (`HTTPServer` → `HTTP|Server`).
 * Digits carry the case of what precedes them.
 */
export const words = (s: string): ReadonlyArray<string> => {
  const out: Array<string> = []
  for (const word of splitOnNonAlphanumeric(s)) {
    const chars = Array.from(word)
    let init = 0
    let mode: WordMode = "boundary"
    for (let i = 0; i < chars.length; i++) {
      const c = chars[i]!
      const next = chars[i + 1]
      if (next === undefined) {
        out.push(chars.slice(init).join(""))
        break
      }
      const nextMode: WordMode = isLowercase(c) ? "lower" : isUppercase(c) ? "upper" : mode
      if (nextMode === "lower" && isUppercase(next)) {
        out.push(chars.slice(init, i + 1).join(""))
        init = i + 1
        mode = "boundary"
      } else if (mode === "upper" && isUppercase(c) && isLowercase(next)) {
        out.push(chars.slice(init, i).join(""))
        init = i
        mode = "boundary"
      } else {
        mode = nextMode
      }
    }
  }
  return out
}

const splitOnNonAlphanumeric = (s: string): ReadonlyArray<string> => {
  const parts: Array<string> = []
  let current = ""
  for (const c of s) {
    if (isAlphanumeric(c)) {
      current += c
    } else {
      parts.push(current)
      current = ""
    }
  }
  parts.push(current)
  return parts
}

/** heck's `to_kebab_case`. */
export const kebabCase = (s: string): string => words(s).map((w) => w.toLowerCase()).join("-")

const toolDirNames = new Map<string, string>()

/** `installs/<this>/`: mise's `short.to_kebab_case()` (`github:BurntSushi/ripgrep` → `github-burnt-sushi-ripgrep`). */
export const toolDirName = (short: string): string => {
  // Asked for every tool several times per build; the Unicode word split costs far more than a lookup.
  const known = toolDirNames.get(short)
  if (known !== undefined) return known
  const name = kebabCase(short)
  if (toolDirNames.size >= 10_000) toolDirNames.clear()
  toolDirNames.set(short, name)
  return name
}

const REF_TYPES = ["ref", "tag", "branch", "rev"] as const

export interface VersionDirOptions {
  /** Where a relative `path:` is resolved from (mise: the config file's root). Default: the cwd. */
  readonly base?: string
  /** What `path:~/` expands to. Default: the user's home. */
  readonly home?: string
}

/**
 * `installs/<tool>/<this>`: mise's `tv_pathname`. A version stays as it is, `ref:x` becomes `ref-x`,
 * `path:p` becomes `path-<siphash of the resolved path>`; then `:` and `/` become `-`.
 */
export const versionDirName = (version: string, options: VersionDirOptions = {}): string => {
  const colon = version.indexOf(":")
  const kind = colon < 0 ? "" : version.slice(0, colon)
  const rest = version.slice(colon + 1)
  let name = version
  if ((REF_TYPES as ReadonlyArray<string>).includes(kind)) {
    name = `${kind}-${rest}`
  } else if (kind === "path") {
    name = `path-${rustPathHash(resolveToolPath(rest, options))}`
  }
  return name.replace(/[:/]/g, "-")
}

/** mise's `resolve_path` for `path:` versions. */
export const resolveToolPath = (p: string, options: VersionDirOptions = {}): string => {
  if (p.startsWith("~/")) return NodePath.posix.join(options.home ?? os.homedir(), p.slice(2))
  if (p.startsWith("/")) return p
  const relative = p.startsWith("./") ? p.slice(2) : p
  return joinLikeRust(options.base ?? process.cwd(), relative)
}

// Rust's Path::join keeps the text as written (no normalization), adding one separator when needed.
const joinLikeRust = (base: string, rest: string): string =>
  rest === "" ? (base.endsWith("/") ? base : `${base}/`) : base.endsWith("/") ? base + rest : `${base}/${rest}`

/** `<dataDir>/installs/<toolDir>/<versionDir>` */
export const installDir = (dataDir: string, short: string, version: string, options: VersionDirOptions = {}): string =>
  NodePath.join(dataDir, "installs", toolDirName(short), versionDirName(version, options))

/**
 * mise's `hash_to_str(&PathBuf)`: SipHash-2-4 with zero keys over what Rust's `impl Hash for Path` feeds it
 * (the bytes of each component with separators and `.` components dropped, then a usize mixing the component
 * lengths), printed as unpadded lowercase hex.
 */
export const rustPathHash = (path: string): string => {
  const bytes = Buffer.from(path, "utf8")
  const hasher = new SipHasher()
  let componentStart = 0
  let chunkBits = 0n
  const chunk = (from: number, to: number) => {
    hasher.write(bytes.subarray(from, to))
    chunkBits = rotr2((chunkBits + BigInt(to - from)) & MASK)
  }
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== 0x2f) continue
    if (i > componentStart) chunk(componentStart, i)
    componentStart = i + 1
    // A `.` right after a separator is a CurDir component, which Path::components() drops.
    if (bytes[componentStart] === 0x2e && (componentStart + 1 === bytes.length || bytes[componentStart + 1] === 0x2f)) {
      componentStart += 1
    }
  }
  if (componentStart < bytes.length) chunk(componentStart, bytes.length)
  const bits = Buffer.alloc(8)
  bits.writeBigUInt64LE(chunkBits)
  hasher.write(bits)
  return hasher.finish().toString(16)
}

const MASK = (1n << 64n) - 1n
const rotl = (x: bigint, b: bigint) => ((x << b) | (x >> (64n - b))) & MASK
const rotr2 = (x: bigint) => ((x >> 2n) | (x << 62n)) & MASK

/** Streaming SipHash-2-4, keys (0, 0): `write(a); write(b)` equals `write(a ++ b)`, as in Rust's Hasher. */
class SipHasher {
  private v0 = 0x736f6d6570736575n
  private v1 = 0x646f72616e646f6dn
  private v2 = 0x6c7967656e657261n
  private v3 = 0x7465646279746573n
  private tail: Array<number> = []
  private length = 0

  write(bytes: Uint8Array): void {
    for (const b of bytes) {
      this.tail.push(b)
      this.length++
      if (this.tail.length === 8) {
        this.block(Buffer.from(this.tail).readBigUInt64LE())
        this.tail = []
      }
    }
  }

  finish(): bigint {
    let last = BigInt(this.length & 0xff) << 56n
    this.tail.forEach((b, i) => {
      last |= BigInt(b) << BigInt(8 * i)
    })
    this.block(last)
    this.v2 ^= 0xffn
    for (let i = 0; i < 4; i++) this.round()
    return (this.v0 ^ this.v1 ^ this.v2 ^ this.v3) & MASK
  }

  private block(m: bigint): void {
    this.v3 ^= m
    this.round()
    this.round()
    this.v0 ^= m
  }

  private round(): void {
    this.v0 = (this.v0 + this.v1) & MASK
    this.v1 = rotl(this.v1, 13n) ^ this.v0
    this.v0 = rotl(this.v0, 32n)
    this.v2 = (this.v2 + this.v3) & MASK
    this.v3 = rotl(this.v3, 16n) ^ this.v2
    this.v0 = (this.v0 + this.v3) & MASK
    this.v3 = rotl(this.v3, 21n) ^ this.v0
    this.v2 = (this.v2 + this.v1) & MASK
    this.v1 = rotl(this.v1, 17n) ^ this.v2
    this.v2 = rotl(this.v2, 32n)
  }
}
