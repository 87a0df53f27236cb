/**
 * How mise relocates a tool tree into the image: symlink targets (with Rust `Path` semantics) and `#!` lines.
 * Pure functions; the walk in Tree.ts feeds them what it read from disk.
 */

const SLASH = 0x2f
const DOT = 0x2e
const SLASH_BUF = Buffer.from("/")
const PARENT = Buffer.from("../")

/** A python install of the toolset (mise's core `python`), which a pipx venv may link to. */
export interface PythonInstall {
  readonly version: string
  readonly hostRoot: string
  readonly imageRoot: string
}

/** Host → image path mapping applied to `#!` lines and to absolute symlinks that leave the walked tree. */
export interface Relocation {
  readonly hostRoot: string
  readonly imageRoot: string
  /**
   * pipx layers only: the toolset's pythons. Their dirs are relocated like the tool's own, a venv's `python*` link
   * to another python goes to the compatible one's `bin/python`, and `pyvenv.cfg` names it (mise's relocation 2).
   */
  readonly pythons?: ReadonlyArray<PythonInstall>
}

/** The host → image pairs of a relocation, in the order mise tries them: the tool's own dir, then the pythons'. */
export const relocationPaths = (r: Relocation): ReadonlyArray<{ readonly hostRoot: string; readonly imageRoot: string }> => [
  { hostRoot: r.hostRoot, imageRoot: r.imageRoot },
  ...(r.pythons ?? []).map((p) => ({ hostRoot: p.hostRoot, imageRoot: p.imageRoot }))
]

interface Component {
  readonly start: number
  readonly end: number
}

/** Normal components of an absolute path, with their byte ranges; empty and `.` components are skipped as Rust does. */
const components = (p: Buffer): Array<Component> => {
  const out: Array<Component> = []
  let i = 0
  while (i < p.length) {
    while (i < p.length && p[i] === SLASH) i++
    const start = i
    while (i < p.length && p[i] !== SLASH) i++
    if (i > start && !(i - start === 1 && p[start] === DOT)) out.push({ start, end: i })
  }
  return out
}

/** `Components::as_path` trimming: leading/trailing separators and `.` components go, inner ones stay. */
const trimAsPath = (rest: Buffer): Buffer => {
  let a = 0
  let b = rest.length
  for (;;) {
    if (a < b && rest[a] === SLASH) a++
    else if (a < b && rest[a] === DOT && (a + 1 === b || rest[a + 1] === SLASH)) a++
    else break
  }
  for (;;) {
    if (b > a && rest[b - 1] === SLASH) b--
    else if (b > a && rest[b - 1] === DOT && (b - 1 === a || rest[b - 2] === SLASH)) b--
    else break
  }
  return rest.subarray(a, b)
}

/** Rust `Path::strip_prefix` for absolute paths: component-wise, so `/x/1.0.0x` is not under `/x/1.0.0`. */
export const stripPathPrefix = (path: Buffer, base: Buffer): Buffer | undefined => {
  if (path[0] !== SLASH || base[0] !== SLASH) return undefined
  const pc = components(path)
  const bc = components(base)
  if (pc.length < bc.length) return undefined
  for (let i = 0; i < bc.length; i++) {
    const p = pc[i]
    const b = bc[i]
    if (p === undefined || b === undefined) return undefined
    if (!path.subarray(p.start, p.end).equals(base.subarray(b.start, b.end))) return undefined
  }
  const last = pc[bc.length - 1]
  return trimAsPath(path.subarray(last === undefined ? 1 : last.end))
}

/** A Relocation as bytes, with the host root also resolved, as symlink rebasing compares both spellings. */
export interface LinkRelocation {
  readonly hostRoot: Buffer
  readonly canonicalHostRoot: Buffer
  readonly imageRoot: Buffer
}

export interface RebaseInput {
  /** The link's target as read from disk. */
  readonly target: Buffer
  /** Components of the link's path below the walked root (`bin/x` → 2). */
  readonly depth: number
  readonly root: Buffer
  readonly canonicalRoot: Buffer
  /** realpath(target) when it resolves; mise compares it (else the literal target) with the canonical root first. */
  readonly canonicalTarget?: Buffer
  /** The tool's own dir first, then (pipx) the pythons'. */
  readonly relocation?: ReadonlyArray<LinkRelocation>
}

/**
 * mise's `rebase_symlink_target`, as observed: relative targets are kept. An absolute target is "inside" when
 * realpath(target) (or the target itself if that fails) lies under realpath(root), or else when the literal target lies
 * under the root as given; it then becomes `../`×(depth−1) + rest. One inside the relocation's host root becomes the
 * absolute image path; anything else is kept and reported (`outside`).
 */
export const rebaseSymlinkTarget = (input: RebaseInput): { readonly target: Buffer; readonly outside: boolean } => {
  const { target } = input
  if (target[0] !== SLASH) return { target, outside: false }
  const resolved = input.canonicalTarget ?? target
  const inside = stripPathPrefix(resolved, input.canonicalRoot) ?? stripPathPrefix(target, input.root)
  if (inside !== undefined) {
    const rel = Buffer.concat([...Array.from({ length: input.depth - 1 }, () => PARENT), inside])
    // mise fails the build on a link to the tree's own root from its top level ("link target is empty"); "." is what it means.
    return { target: rel.length > 0 ? rel : Buffer.from("."), outside: false }
  }
  for (const reloc of input.relocation ?? []) {
    const rest = stripPathPrefix(resolved, reloc.canonicalHostRoot) ?? stripPathPrefix(target, reloc.hostRoot)
    if (rest !== undefined) {
      return { target: rest.length > 0 ? Buffer.concat([reloc.imageRoot, SLASH_BUF, rest]) : reloc.imageRoot, outside: false }
    }
  }
  return { target, outside: true }
}

const decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true })

/**
 * mise rewrites only the first line of an executable that starts with `#!` and ends in `\n`; the line is decoded
 * lossily (invalid UTF-8 becomes U+FFFD, as Rust's from_utf8_lossy) and every occurrence of the host root replaced.
 */
export const relocateShebang = (
  firstLine: Uint8Array,
  relocation: Relocation
): { readonly original: Uint8Array; readonly data: Uint8Array } | undefined => {
  const text = decoder.decode(firstLine.subarray(0, firstLine.length - 1))
  let line = text
  for (const { hostRoot, imageRoot } of relocationPaths(relocation)) line = line.split(hostRoot).join(imageRoot)
  if (line === text) return undefined
  return { original: firstLine, data: new TextEncoder().encode(`${line}\n`) }
}

/** The names mise treats as a venv's interpreter link: `python`, `python3`, `python3.<digits>`. */
export const isPythonInterpreterLink = (name: string): boolean => name === "python" || name === "python3" || /^python3\.\d*$/.test(name)

/** `version` (or `version_info`) of a pyvenv.cfg, as mise reads it: the first such `key = value` line, trimmed. */
export const pyvenvVersion = (cfg: string): string | undefined => {
  for (const raw of cfg.split("\n")) {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw
    const eq = line.indexOf("=")
    if (eq < 0) continue
    const key = line.slice(0, eq).trim()
    if (key === "version" || key === "version_info") return line.slice(eq + 1).trim()
  }
  return undefined
}

const DIGITS = /^\d*$/

/** The only python of the toolset a venv made with `version` can use: the exact one, else the one of that release, else of that minor. */
export const compatiblePython = (version: string, pythons: ReadonlyArray<PythonInstall>): PythonInstall | undefined => {
  const exact = pythons.find((p) => p.version === version)
  if (exact !== undefined) return exact
  const only = (key: (v: string) => string | undefined) => {
    const wanted = key(version)
    if (wanted === undefined) return undefined
    const matches = pythons.filter((p) => key(p.version) === wanted)
    return matches.length === 1 ? matches[0] : undefined
  }
  // Rust's `str::split('.')`: parts may be empty, and an empty part counts as all digits.
  const release = (v: string) => {
    const parts = v.split(".")
    return parts.length >= 3 && parts.slice(0, 3).every((p) => DIGITS.test(p)) ? parts.slice(0, 3).join(".") : undefined
  }
  const minor = (v: string) => {
    const parts = v.split(".")
    return parts.length >= 2 && parts.slice(0, 2).every((p) => DIGITS.test(p)) ? parts.slice(0, 2).join(".") : undefined
  }
  if (release(version) !== undefined) {
    const found = only(release)
    if (found !== undefined) return found
  }
  return only(minor)
}

/**
 * A venv's pyvenv.cfg pointed at the toolset's python in the image: `home`, `executable` and (when the venv's image
 * dir is known) `command` lines are replaced, every line loses a trailing `\r`; undefined when nothing changes.
 */
export const relocatePyvenv = (cfg: string, python: PythonInstall, venvImage: string | undefined): string | undefined => {
  let changed = false
  let out = ""
  for (const piece of cfg.match(/[^\n]*\n|[^\n]+$/g) ?? []) {
    const newline = piece.endsWith("\n") ? "\n" : ""
    let line = newline === "" ? piece : piece.slice(0, -1)
    line = line.replace(/\r+$/, "")
    const eq = line.indexOf("=")
    const key = eq < 0 ? undefined : line.slice(0, eq).trim()
    const replacement = key === "home"
      ? `home = ${python.imageRoot}/bin`
      : key === "executable"
      ? `executable = ${python.imageRoot}/bin/python`
      : key === "command" && venvImage !== undefined
      ? `command = ${python.imageRoot}/bin/python -m venv ${venvImage}`
      : undefined
    if (replacement !== undefined) {
      changed ||= replacement !== line
      out += replacement
    } else {
      out += line
    }
    out += newline
  }
  return changed ? out : undefined
}
