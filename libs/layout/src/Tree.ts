import { Effect } from "effect"
import type { Stats } from "node:fs"
import { constants as fsConstants } from "node:fs"
import { lstat, open, readdir, readFile, readlink, realpath, stat } from "node:fs/promises"
import * as NodePath from "node:path"
import { asLayoutError, ioError, LayoutError } from "./Errors"
import type { FileSource, LayerEntry, Owner } from "./LayerEntry"
import {
  compatiblePython,
  isPythonInterpreterLink,
  type LinkRelocation,
  type PythonInstall,
  pyvenvVersion,
  rebaseSymlinkTarget,
  type Relocation,
  relocatePyvenv,
  relocateShebang,
  relocationPaths,
  stripPathPrefix
} from "./Relocate"

export interface TreeOptions {
  /** Host directory to walk (a tool's install dir); a file or symlink here becomes one entry named `prefix`. */
  readonly root: string
  /** Tar path of `root`, e.g. `mise/installs/http-hello/1.0.0`: no leading or trailing slash. */
  readonly prefix: string
  readonly relocation?: Relocation
  /** Owner of the entries found under `root`; defaults to the layer owner given to the writer. */
  readonly owner?: Owner
  /** Owner of the generated prefix chain (`mise/`, `mise/installs/`, …); defaults to the layer owner. */
  readonly prefixOwner?: Owner
}

export interface TreeResult {
  readonly entries: ReadonlyArray<LayerEntry>
  readonly warnings: ReadonlyArray<string>
}

const SLASH = 0x2f
const SLASH_BUF = Buffer.from("/")

/** No real shebang is longer; past this a `#!` file is treated as binary instead of buffering its "line". */
const MAX_SHEBANG_LINE = 16 * 1024 * 1024

const HEAD_READ = 64 * 1024

/** Siblings are described concurrently, but a bin dir with thousands of scripts must not exhaust file descriptors. */
const CONCURRENCY = 32

/** `Promise.all(items.map(f))` with at most `limit` calls in flight; results keep the input order. */
const mapLimited = async <A, B>(items: ReadonlyArray<A>, limit: number, f: (a: A) => Promise<B>): Promise<Array<B>> => {
  const out = new Array<B>(items.length)
  // One iterator shared by all workers: each pulls the next index when it is free.
  const queue = items.entries()
  const worker = async () => {
    for (const [i, item] of queue) out[i] = await f(item)
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return out
}

/** The first line (with its `\n`) of a file that starts with `#!`, or undefined. Opened non-blocking, regular files only. */
const readShebangLine = async (path: Buffer): Promise<Buffer | undefined> => {
  const fh = await open(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK)
  try {
    if (!(await fh.stat()).isFile()) return undefined
    const parts: Array<Buffer> = []
    let total = 0
    for (;;) {
      const buf = Buffer.allocUnsafe(HEAD_READ)
      const { bytesRead } = await fh.read(buf, 0, HEAD_READ, null)
      const got = buf.subarray(0, bytesRead)
      if (total === 0 && !(got[0] === 0x23 && got[1] === 0x21)) return undefined
      const nl = got.indexOf(0x0a)
      if (nl >= 0) return Buffer.concat([...parts, got.subarray(0, nl + 1)])
      if (bytesRead === 0 || total + bytesRead > MAX_SHEBANG_LINE) return undefined
      parts.push(got)
      total += bytesRead
    }
  } finally {
    await fh.close()
  }
}

const specialKind = (st: Stats): string | undefined =>
  st.isFIFO()
    ? "FIFO (named pipe)"
    : st.isSocket()
    ? "socket"
    : st.isCharacterDevice()
    ? "character device"
    : st.isBlockDevice()
    ? "block device"
    : undefined

const fail = (action: string, path: Buffer) => (cause: unknown): never => {
  throw ioError(action, path.toString())(cause)
}

const fileMode = (st: Stats): number => ((st.mode & 0o111) !== 0 ? 0o755 : 0o644)

const statOf = (st: Stats) => ({ size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino, dev: st.dev })

interface Walk {
  readonly root: Buffer
  readonly canonicalRoot: Buffer
  readonly relocation?: Relocation
  readonly linkRelocation?: ReadonlyArray<LinkRelocation>
  readonly pythons: ReadonlyArray<PythonInstall>
  /** The python version of the venv a dir is in (its nearest pyvenv.cfg), looked up once per dir. */
  readonly venvVersions: Map<string, Promise<string | undefined>>
  readonly owner?: Owner
  readonly entries: Array<LayerEntry>
  readonly warnings: Array<string>
}

const ownerOf = (owner: Owner | undefined) => (owner !== undefined ? { owner } : {})

/** What one child contributes; warnings ride along so they are reported in walk order, not completion order. */
interface Described {
  readonly entry?: LayerEntry
  readonly recurse?: true
  readonly warning?: string
}

const isFile = (p: string) => stat(p).then((st) => st.isFile(), () => false)

/** mise's `pyvenv_version`: the version in the nearest pyvenv.cfg at or above `path`, up to `/`. */
const venvVersion = (walk: Walk, path: string): Promise<string | undefined> => {
  const known = walk.venvVersions.get(path)
  if (known !== undefined) return known
  const parent = NodePath.dirname(path)
  const cfg = NodePath.join(path, "pyvenv.cfg")
  const found = isFile(cfg).then((here) =>
    here
      ? readFile(cfg, "utf8").then(pyvenvVersion, () => undefined)
      : parent === path
      ? undefined
      : venvVersion(walk, parent)
  )
  walk.venvVersions.set(path, found)
  return found
}

/** The toolset python a venv file or link belongs with, if exactly one fits (pipx layers only). */
const venvPython = async (walk: Walk, path: string): Promise<PythonInstall | undefined> => {
  if (walk.pythons.length === 0) return undefined
  const version = await venvVersion(walk, path)
  return version === undefined ? undefined : compatiblePython(version, walk.pythons)
}

/** A venv's pyvenv.cfg naming the compatible toolset python's image paths; undefined when it stays as it is. */
const relocatedPyvenv = async (walk: Walk, path: string): Promise<Uint8Array | undefined> => {
  const python = await venvPython(walk, path)
  if (python === undefined) return undefined
  const text = await readFile(path, "utf8").catch(fail("read", Buffer.from(path)))
  const relocated = relocatePyvenv(text, python, await imagePathOf(walk, NodePath.dirname(path)))
  return relocated === undefined ? undefined : new TextEncoder().encode(relocated)
}

/** mise's `relocate_absolute_path` for a dir: its real path under one of the relocation's host dirs, in the image. */
const imagePathOf = async (walk: Walk, dir: string): Promise<string | undefined> => {
  const canonical = await realpath(dir, { encoding: "buffer" }).catch(() => Buffer.from(dir))
  for (const reloc of walk.linkRelocation ?? []) {
    const rest = stripPathPrefix(canonical, reloc.canonicalHostRoot)
    // Rust's `Path::join("")` leaves a trailing separator.
    if (rest !== undefined) return `${reloc.imageRoot.toString()}/${rest.toString()}`
  }
  return undefined
}

/** lstat plus the link target or relocated head of one child; siblings are described in parallel. */
const describe = async (walk: Walk, abs: Buffer, tarPath: Buffer, depth: number): Promise<Described> => {
  const st = await lstat(abs).catch(fail("lstat", abs))
  if (st.isDirectory()) return { recurse: true }
  if (st.isSymbolicLink()) {
    const raw = await readlink(abs, { encoding: "buffer" }).catch(fail("readlink", abs))
    const canonicalTarget = raw[0] === SLASH ? await realpath(raw, { encoding: "buffer" }).catch(() => undefined) : undefined
    const { target, outside } = rebaseSymlinkTarget({
      target: raw,
      depth,
      root: walk.root,
      canonicalRoot: walk.canonicalRoot,
      ...(canonicalTarget !== undefined ? { canonicalTarget } : {}),
      ...(walk.linkRelocation !== undefined ? { relocation: walk.linkRelocation } : {})
    })
    const python = outside && isPythonInterpreterLink(NodePath.basename(abs.toString()))
      ? await venvPython(walk, abs.toString())
      : undefined
    if (python !== undefined) {
      return { entry: { kind: "symlink", path: tarPath, target: Buffer.from(`${python.imageRoot}/bin/python`), ...ownerOf(walk.owner) } }
    }
    const entry: LayerEntry = { kind: "symlink", path: tarPath, target, ...ownerOf(walk.owner) }
    return outside
      ? {
        entry,
        warning:
          `oci layer: symlink ${abs.toString()} → ${raw.toString()} has an absolute target outside the tool's install dir; it will be dangling inside the container`
      }
      : { entry }
  }
  if (st.isFile()) {
    const mode = fileMode(st)
    let source: FileSource = { type: "path", path: abs }
    let size = st.size
    if (walk.relocation !== undefined && NodePath.basename(abs.toString()) === "pyvenv.cfg") {
      const pyvenv = await relocatedPyvenv(walk, abs.toString())
      if (pyvenv !== undefined) source = { type: "bytes", data: pyvenv }
      if (pyvenv !== undefined) size = pyvenv.length
    } else if (walk.relocation !== undefined && mode === 0o755 && st.size > 2) {
      const line = await readShebangLine(abs).catch(fail("read", abs))
      const head = line !== undefined ? relocateShebang(line, walk.relocation) : undefined
      if (head !== undefined) {
        source = { type: "path", path: abs, replaceHead: head }
        size += head.data.length - head.original.length
      }
    }
    return { entry: { kind: "file", path: tarPath, mode, size, source, stat: statOf(st), ...ownerOf(walk.owner) } }
  }
  return {
    warning: `oci layer: skipping ${abs.toString()}: a ${specialKind(st) ?? "special file"} cannot be stored in an image layer`
  }
}

/** Records a described child; directories are left to the caller, which must recurse into them. */
const record = (walk: Walk, d: Described): void => {
  if (d.warning !== undefined) walk.warnings.push(d.warning)
  if (d.entry !== undefined) walk.entries.push(d.entry)
}

/** Pre-order DFS, siblings sorted bytewise by name: Rust's component-wise `Path` order, so `a/…` precedes `a-b`. */
const walkDir = async (walk: Walk, abs: Buffer, tarDir: Buffer, depth: number): Promise<void> => {
  const names = (await readdir(abs, { encoding: "buffer" }).catch(fail("read directory", abs))).sort(Buffer.compare)
  const children = names.map((name) => ({
    abs: Buffer.concat([abs, SLASH_BUF, name]),
    tarPath: Buffer.concat([tarDir, name])
  }))
  const described = await mapLimited(children, CONCURRENCY, (c) => describe(walk, c.abs, c.tarPath, depth))
  for (const [i, child] of children.entries()) {
    const d = described[i]
    if (d === undefined) continue
    if (d.recurse === true) {
      const path = Buffer.concat([child.tarPath, SLASH_BUF])
      walk.entries.push({ kind: "dir", path, mode: 0o755, ...ownerOf(walk.owner) })
      await walkDir(walk, child.abs, path, depth + 1)
    } else {
      record(walk, d)
    }
  }
}

const invalidPrefix = (prefix: string) =>
  new LayoutError({
    reason: "InvalidEntry",
    message: `layer prefix "${prefix}" must be a relative path without empty, "." or ".." components`,
    path: prefix
  })

const trimTrailingSlashes = (p: string): string => (p.length > 1 ? p.replace(/\/+$/, "") : p)

const treeEntriesAsync = async (opts: TreeOptions): Promise<TreeResult> => {
  const parts = opts.prefix === "" ? [] : opts.prefix.split("/")
  if (parts.some((p) => p === "" || p === "." || p === "..")) throw invalidPrefix(opts.prefix)
  const root = Buffer.from(trimTrailingSlashes(opts.root))
  const rootStat = await stat(root).catch(fail("read", root))
  const canonicalRoot = await realpath(root, { encoding: "buffer" }).catch(fail("resolve", root))
  const reloc = opts.relocation
  const walk: Walk = {
    root,
    canonicalRoot,
    entries: [],
    warnings: [],
    pythons: reloc?.pythons ?? [],
    venvVersions: new Map(),
    ...(opts.owner !== undefined ? { owner: opts.owner } : {}),
    ...(reloc !== undefined
      ? {
        relocation: reloc,
        linkRelocation: await Promise.all(relocationPaths(reloc).map(async (r) => ({
          hostRoot: Buffer.from(trimTrailingSlashes(r.hostRoot)),
          canonicalHostRoot: await realpath(r.hostRoot, { encoding: "buffer" }).catch(() => Buffer.from(trimTrailingSlashes(r.hostRoot))),
          imageRoot: Buffer.from(trimTrailingSlashes(r.imageRoot))
        })))
      }
      : {})
  }
  const isDir = rootStat.isDirectory()
  const chain = isDir ? parts : parts.slice(0, -1)
  for (let i = 1; i <= chain.length; i++) {
    walk.entries.push({ kind: "dir", path: Buffer.from(`${chain.slice(0, i).join("/")}/`), mode: 0o755, ...ownerOf(opts.prefixOwner) })
  }
  if (isDir) {
    await walkDir(walk, root, Buffer.from(parts.length > 0 ? `${opts.prefix}/` : ""), 1)
  } else {
    if (parts.length === 0) throw invalidPrefix(opts.prefix)
    const path = Buffer.from(opts.prefix)
    const st = await lstat(root).catch(fail("lstat", root))
    // A lone symlink has no tree to be relative to: its target is copied as is.
    if (st.isSymbolicLink()) {
      const target = await readlink(root, { encoding: "buffer" }).catch(fail("readlink", root))
      walk.entries.push({ kind: "symlink", path, target, ...ownerOf(opts.owner) })
    } else {
      record(walk, await describe(walk, root, path, 1))
    }
  }
  return { entries: walk.entries, warnings: [...new Set(walk.warnings)] }
}

/**
 * Entries of a host tree as mise lays them out in a tool layer: the prefix chain first (even for an empty tree),
 * then a byte-sorted pre-order walk. Modes are normalized (dirs 0755, files 0755/0644, symlinks 0777); symlinks are
 * never followed; hardlinks become separate files; FIFOs, sockets and devices are skipped with a warning and never
 * opened.
 */
export const treeEntries = (opts: TreeOptions): Effect.Effect<TreeResult, LayoutError> =>
  Effect.tryPromise({ try: () => treeEntriesAsync(opts), catch: asLayoutError(`walking ${opts.root}`) })
