import { Data, Effect, Option, Schema } from "effect"
import { createHash } from "node:crypto"
import { closeSync, constants as fsConstants, fstatSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, realpathSync, type Stats, statSync } from "node:fs"
import { resolve } from "node:path"
import { sha256Hex, sha256HexOfName } from "../graph/TaskKey"
import type { CacheStore, Digest } from "./CacheStore"

/** A tree that cannot be fingerprinted: names the tree, the entry and the failing operation. */
export class TreeError extends Data.TaggedError("TreeError")<{
  readonly root: string
  readonly path: string
  readonly message: string
  readonly cause?: unknown
}> {}

export interface TreeFingerprintOptions {
  /** Re-hash every file even if the stat snapshot matches (`--verify`). */
  readonly verify?: boolean
  /** Content hash (hex sha256) of one regular file; injectable so tests can count reads. */
  readonly hashFile?: (path: Buffer) => Effect.Effect<string, TreeError>
  /**
   * An entry changed less than this long before the snapshot was taken may change again without its
   * mtime/ctime moving (coarse timestamps: git's "racily clean" case), so it is re-hashed next time.
   * Default: `racyWindowFor` the timestamps seen (2000 ms on a filesystem with one- or two-second
   * timestamps, 100 ms, a few kernel clock ticks, where they are finer).
   */
  readonly racyWindowMs?: number
}

export interface TreeFingerprint {
  /** sha256 over every entry's path, mode and content (file hash, symlink target), in byte order of paths. */
  readonly digest: Digest
  readonly entries: number
  /** Files whose bytes were read this time: 0 when the stat snapshot matched. */
  readonly hashedFiles: number
  readonly source: "snapshot" | "hashed"
}

const TREE_FORMAT = "engine-tree/1"
/** The stat snapshot's own format: independent of TREE_FORMAT, which is hashed into every digest. */
const SNAPSHOT_FORMAT = "engine-tree-snapshot/2"

/**
 * One line per entry, tab-separated: path (base64 of its raw bytes), mode, size, mtimeMs, ctimeMs, ino,
 * content (file sha256 hex, symlink target base64, or empty). Lines, not tuples: a 20k-entry snapshot
 * decodes in milliseconds, and the stat-only check must stay cheap. Times are node's millisecond doubles
 * (sub-microsecond precision): plain stats cost a fraction of bigint ones on a tree of thousands of files.
 */
const ENTRY_LINE = /^[A-Za-z0-9+/]+=*\t\d+\t\d+\t[\d.e+-]+\t[\d.e+-]+\t\d+\t[A-Za-z0-9+/]*=*$/
const SnapshotSchema = Schema.Struct({
  format: Schema.Literal(SNAPSHOT_FORMAT),
  root: Schema.String,
  digest: Schema.TemplateLiteral("sha256:", Schema.String),
  takenAtMs: Schema.Number,
  // Lines are checked where they are parsed: the document's checksum already rules out damage, and a pattern
  // per line would cost more than the stat-only check it serves.
  entries: Schema.Array(Schema.String)
})
type Snapshot = typeof SnapshotSchema.Type

/**
 * What a warm build reads instead of the snapshot's lines: one digest over every entry's path and stat
 * fields. Written after the full snapshot, so a summary always has lines at least as new beside it.
 */
const SummarySchema = Schema.Struct({
  format: Schema.Literal(SNAPSHOT_FORMAT),
  root: Schema.String,
  digest: Schema.TemplateLiteral("sha256:", Schema.String),
  statsDigest: Schema.String,
  takenAtMs: Schema.Number
})
type Summary = typeof SummarySchema.Type

interface Walked {
  /** Path relative to the root, raw bytes: names need not be UTF-8. A view into `path`. */
  readonly rel: Buffer
  readonly path: Buffer
  readonly stats: Stats
}

const SLASH = Buffer.from("/")

const S_IFMT = 0o170000
const S_IFREG = 0o100000
const S_IFLNK = 0o120000

const printable = (path: Buffer) => path.toString("utf8")

const fsError = (root: string, action: string, path: Buffer) => (cause: unknown) =>
  new TreeError({
    root,
    path: printable(path),
    message: `cannot ${action} ${printable(path)} while fingerprinting ${root}: ${cause instanceof Error ? cause.message : String(cause)}${
      typeof cause === "object" && cause !== null && "code" in cause && cause.code === "ENOENT"
        ? " (the tree changed during the walk; is an install still running?)"
        : ""
    }`,
    cause
  })

/**
 * Synchronous fs calls in small batches, yielding in between: a Promise per lstat costs ~5x more than the
 * syscall (libuv thread pool hop), and a batch stays well under a millisecond, so other tasks keep running.
 */
const BATCH = 256

/** lstat of `names` in `dir`; throws what lstat throws, with the failing path in `at.current`. */
const statEntries = (dir: Buffer, names: ReadonlyArray<Buffer>, relStart: number, at: { current: Buffer }): Array<Walked> =>
  names.map((name): Walked => {
    const path = Buffer.concat([dir, SLASH, name])
    at.current = path
    return { rel: path.subarray(relStart), path, stats: lstatSync(path) }
  })

const byRelPath = (a: Walked, b: Walked) => Buffer.compare(a.rel, b.rel)

/** Every entry below `root` (not the root itself), by readdir + lstat only, sorted by raw path bytes. */
const walk = (rootPath: string, root: Buffer): Effect.Effect<ReadonlyArray<Walked>, TreeError> =>
  Effect.gen(function*() {
    const out: Array<Walked> = []
    const relStart = root.length + 1
    const pending: Array<Buffer> = [root]
    for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
      const full = dir
      const names = yield* Effect.try({
        try: () => readdirSync(full, { encoding: "buffer" }),
        catch: fsError(rootPath, "list", full)
      })
      for (let i = 0; i < names.length; i += BATCH) {
        const at = { current: full }
        const entries = yield* Effect.try({
          try: () => statEntries(full, names.slice(i, i + BATCH), relStart, at),
          catch: (cause) => fsError(rootPath, "stat", at.current)(cause)
        })
        for (const entry of entries) {
          out.push(entry)
          if (entry.stats.isDirectory()) pending.push(entry.path)
        }
        yield* Effect.yieldNow()
      }
    }
    return out.sort(byRelPath)
  })

/**
 * Directory listings this process has seen, by path. Creating, removing or renaming an entry gives its directory a
 * new mtime and ctime, so a directory that still has the stats it had when listed still has those names; one that
 * changed shortly before it was listed (within the coarse racy window) is not remembered, since a change in the same
 * clock tick would not move them.
 */
const listings = new Map<string, { readonly stats: string; readonly names: ReadonlyArray<Buffer> }>()
const MAX_LISTINGS = 50_000

const listDir = (dir: Buffer, stats: Stats): ReadonlyArray<Buffer> => {
  const id = dir.toString("latin1")
  const key = statKey(stats)
  const known = listings.get(id)
  if (known !== undefined && known.stats === key) return known.names
  const names = readdirSync(dir, { encoding: "buffer" })
  const settledBefore = Date.now() - COARSE_WINDOW_MS
  if (stats.mtimeMs < settledBefore && stats.ctimeMs < settledBefore) {
    if (listings.size >= MAX_LISTINGS) listings.clear()
    listings.set(id, { stats: key, names })
  }
  return names
}

/**
 * `walk` in one synchronous step for a small tree (`rootStats`: its root's), listing again only the directories
 * whose stats moved; undefined past `limit` entries or on any failure.
 */
const walkNow = (root: Buffer, rootStats: Stats, limit: number): ReadonlyArray<Walked> | undefined => {
  const out: Array<Walked> = []
  const relStart = root.length + 1
  const pending: Array<readonly [Buffer, Stats]> = [[root, rootStats]]
  const at = { current: root }
  try {
    for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
      const [dir, stats] = next
      for (const entry of statEntries(dir, listDir(dir, stats), relStart, at)) {
        out.push(entry)
        if (out.length > limit) return undefined
        if (entry.stats.isDirectory()) pending.push([entry.path, entry.stats])
      }
    }
  } catch {
    return undefined
  }
  return out.sort(byRelPath)
}

/** The stat fields of an entry as one comparable string: mode, size, mtimeMs, ctimeMs, ino. */
const statKey = (stats: Stats): string => `${stats.mode}\t${stats.size}\t${stats.mtimeMs}\t${stats.ctimeMs}\t${stats.ino}`

interface SavedEntry {
  readonly stats: string
  readonly mtimeMs: number
  readonly ctimeMs: number
  readonly content: string
}

/** A saved line, or nothing for a line that is not one (it is then simply not reused). */
const parseLine = (line: string): ReadonlyArray<readonly [path: string, entry: SavedEntry]> => {
  if (!ENTRY_LINE.test(line)) return []
  const [path = "", mode, size, mtimeMs = "0", ctimeMs = "0", ino, content = ""] = line.split("\t")
  return [[path, { stats: `${mode}\t${size}\t${mtimeMs}\t${ctimeMs}\t${ino}`, mtimeMs: Number(mtimeMs), ctimeMs: Number(ctimeMs), content }]]
}

const STAT_FIELDS = 4 + 5 * 8

/** Writes one entry's path length, stat fields and path at `at`; returns the offset after it. */
const packStats = (target: Buffer, at: number, { rel, stats }: Walked): number => {
  let next = target.writeUInt32BE(rel.length, at)
  for (const field of [stats.mode, stats.size, stats.mtimeMs, stats.ctimeMs, stats.ino]) next = target.writeDoubleBE(field, next)
  return next + rel.copy(target, next)
}

/**
 * sha256 over every entry's path and stat fields (mode, size, mtimeMs, ctimeMs, ino), in walk order. Entries
 * are packed into one buffer and hashed in a few calls: one update per entry costs more than the packing.
 */
const statsDigestOf = (walked: ReadonlyArray<Walked>): string => {
  const hash = createHash("sha256").update(`${SNAPSHOT_FORMAT}\0`)
  // Sized to the tree, up to 64 KiB: a small tree's stats fit in Node's shared pool, not a fresh allocation per check.
  let total = 0
  for (const entry of walked) total += STAT_FIELDS + entry.rel.length
  let buffer = Buffer.allocUnsafe(Math.min(total, 1 << 16))
  let at = 0
  for (const entry of walked) {
    const size = STAT_FIELDS + entry.rel.length
    if (at + size > buffer.length) {
      hash.update(buffer.subarray(0, at))
      at = 0
      if (size > buffer.length) buffer = Buffer.allocUnsafe(size)
    }
    at = packStats(buffer, at, entry)
  }
  return hash.update(buffer.subarray(0, at)).digest("hex")
}

const COARSE_WINDOW_MS = 2000
const FINE_WINDOW_MS = 100

/**
 * The racy window for what the filesystem shows: any sub-second ctime means fine timestamps, where a change
 * is visible a clock tick later; else they may be whole (or even) seconds. Kept small where it can be, so a
 * build right after an install is not made to read every file again.
 */
export const racyWindowFor = (ctimesMs: Iterable<number>): number => {
  for (const ms of ctimesMs) if (ms % 1000 !== 0) return FINE_WINDOW_MS
  return COARSE_WINDOW_MS
}

/** No entry changed within the racy window before `takenAtMs`: its content could still change unseen. */
const settled = (walked: ReadonlyArray<Walked>, takenAtMs: number, windowMs: number): boolean =>
  walked.every(({ stats }) => stats.mtimeMs < takenAtMs - windowMs && stats.ctimeMs < takenAtMs - windowMs)

const isRacy = (saved: SavedEntry, takenAtMs: number, windowMs: number): boolean =>
  saved.mtimeMs >= takenAtMs - windowMs || saved.ctimeMs >= takenAtMs - windowMs

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}

/** Length-prefixed fields, so no two different trees can produce the same byte stream. */
const treeDigest = (entries: ReadonlyArray<readonly [Walked, string]>): Digest => {
  const hash = createHash("sha256").update(`${TREE_FORMAT}\0`)
  for (const [{ rel, stats }, content] of entries) {
    hash.update(u32(rel.length)).update(rel).update(u32(Number(stats.mode)))
    const type = Number(stats.mode) & S_IFMT
    if (type === S_IFREG) hash.update(Buffer.from(content, "hex"))
    if (type === S_IFLNK) {
      const target = Buffer.from(content, "base64")
      hash.update(u32(target.length)).update(target)
    }
  }
  return `sha256:${hash.digest("hex")}`
}

const CHUNK = 1 << 20
const chunk = Buffer.allocUnsafe(CHUNK)

/**
 * The default file hash: hex sha256 of a regular file. Opened without following symlinks and non-blocking,
 * then checked with fstat, so an entry swapped for a FIFO or device after the walk's lstat is refused,
 * never waited on. Reads are synchronous, one chunk per step, for the same reason as the walk.
 */
export const hashTreeFile = (path: Buffer): Effect.Effect<string, TreeError> => {
  const file = printable(path)
  const failed = (action: string) => (cause: unknown) =>
    new TreeError({ root: file, path: file, message: `cannot ${action} ${file}: ${cause instanceof Error ? cause.message : String(cause)}`, cause })
  return Effect.acquireUseRelease(
    Effect.try({ try: () => openSync(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK), catch: failed("open") }),
    (fd) =>
      Effect.gen(function*() {
        const info = yield* Effect.try({ try: () => fstatSync(fd), catch: failed("stat") })
        if (!info.isFile()) {
          return yield* new TreeError({ root: file, path: file, message: `${file} stopped being a regular file while it was fingerprinted` })
        }
        const hash = createHash("sha256")
        // Read and hash in one synchronous step: the chunk buffer is shared, and a yield may run another hash.
        const step = () => {
          const read = readSync(fd, chunk, 0, CHUNK, null)
          hash.update(chunk.subarray(0, read))
          return read
        }
        for (;;) {
          const read = yield* Effect.try({ try: step, catch: failed("read") })
          if (read === 0) break
          if (read === CHUNK) yield* Effect.yieldNow()
        }
        return hash.digest("hex")
      }),
    (fd) => Effect.sync(() => closeSync(fd))
  )
}

/**
 * The content fingerprint of an install tree. The first call hashes every file and saves it with a stat
 * snapshot (under `trees/` in the cache store); later calls only readdir + lstat, and return the saved
 * fingerprint when nothing moved. Otherwise only new or changed files are re-read. Special files (FIFOs,
 * sockets, devices) count by path and mode and are never opened.
 */
export const fingerprintTree = (
  store: CacheStore,
  root: string,
  options: TreeFingerprintOptions = {}
): Effect.Effect<TreeFingerprint, TreeError> =>
  Effect.gen(function*() {
    const rootPath = resolve(root)
    const rootBytes = Buffer.from(rootPath)
    const rootStats = yield* Effect.try({ try: () => statSync(rootBytes), catch: fsError(rootPath, "stat", rootBytes) })
    if (!rootStats.isDirectory()) {
      return yield* new TreeError({ root: rootPath, path: rootPath, message: `${rootPath} is not a directory; cannot fingerprint it as a tree` })
    }
    const hashFile = options.hashFile ?? hashTreeFile
    const snapshotName = sha256HexOfName(rootPath)
    const takenAtMs = Date.now()
    const walked = yield* walk(rootPath, rootBytes)
    const windowMs = options.racyWindowMs ?? racyWindowFor(walked.map((e) => e.stats.ctimeMs))
    const statsDigest = statsDigestOf(walked)
    const summaryName = summaryNameOf(rootPath)

    const unchanged = summarizedDigest(store, rootPath, walked, statsDigest, windowMs, options)
    if (unchanged !== undefined) {
      return { digest: unchanged, entries: walked.length, hashedFiles: 0, source: "snapshot" } satisfies TreeFingerprint
    }

    const previous: Option.Option<Snapshot> = options.verify === true
      ? Option.none()
      : yield* store.readDocument("trees", snapshotName, SnapshotSchema).pipe(
        Effect.map((read) => (read._tag === "Found" && read.value.root === rootPath ? Option.some(read.value) : Option.none()))
      )
    const saved = new Map(Option.match(previous, { onNone: () => [], onSome: (s) => s.entries.flatMap(parseLine) }))
    const savedAtMs = Option.match(previous, { onNone: () => 0, onSome: (s) => s.takenAtMs })
    const reusable = (entry: Walked): Option.Option<string> => {
      const old = saved.get(entry.rel.toString("base64"))
      return old !== undefined && old.stats === statKey(entry.stats) && !isRacy(old, savedAtMs, windowMs)
        ? Option.some(old.content)
        : Option.none()
    }

    let hashedFiles = 0
    const contents = yield* Effect.forEach(
      walked,
      (entry) => {
        const type = Number(entry.stats.mode) & S_IFMT
        if (type !== S_IFREG && type !== S_IFLNK) return Effect.succeed([entry, ""] as const)
        const kept = reusable(entry)
        if (Option.isSome(kept)) return Effect.succeed([entry, kept.value] as const)
        const path = entry.path
        const content = type === S_IFREG
          ? Effect.tap(hashFile(path), () => Effect.sync(() => hashedFiles++))
          : Effect.try({
            try: () => readlinkSync(path, { encoding: "buffer" }).toString("base64"),
            catch: fsError(rootPath, "read link", path)
          })
        return Effect.map(content, (c) => [entry, c] as const)
      }
    )
    const digest = treeDigest(contents)
    const snapshot: Snapshot = {
      format: SNAPSHOT_FORMAT,
      root: rootPath,
      digest,
      takenAtMs,
      entries: contents.map(([{ rel, stats }, content]) => `${rel.toString("base64")}\t${statKey(stats)}\t${content}`)
    }
    const summary: Summary = { format: SNAPSHOT_FORMAT, root: rootPath, digest, statsDigest, takenAtMs }
    // The fingerprint is right even if it cannot be remembered; the next build just hashes again. Its task waits for
    // it: two small synchronous writes, the summary after the lines it sums up.
    const unsaved = store.now.writeDocument("trees", snapshotName, SnapshotSchema, snapshot) ??
      store.now.writeDocument("trees", summaryName, SummarySchema, summary)
    if (unsaved !== undefined) yield* Effect.logWarning(`tree fingerprint of ${rootPath} not saved: ${unsaved.message}`)
    return { digest, entries: walked.length, hashedFiles, source: "hashed" } satisfies TreeFingerprint
  })

/** The summary document of a tree, beside its snapshot (named by the sha256 of the root path). */
const summaryNameOf = (rootPath: string): string => `${sha256HexOfName(rootPath)}.summary`

/**
 * The warm path: the digest saved at the tree's last fingerprint, when its entries have the same stats as then
 * (`statsDigest`) and none of them is racy; undefined otherwise, and with `verify`.
 */
const summarizedDigest = (
  store: CacheStore,
  rootPath: string,
  walked: ReadonlyArray<Walked>,
  statsDigest: string,
  windowMs: number,
  options: TreeFingerprintOptions
): Digest | undefined => {
  if (options.verify === true) return undefined
  const summary = store.now.readDocument("trees", summaryNameOf(rootPath), SummarySchema)
  return summary._tag === "Found" && summary.value.root === rootPath && summary.value.statsDigest === statsDigest &&
      settled(walked, summary.value.takenAtMs, windowMs)
    ? summary.value.digest
    : undefined
}

/** Past this many entries the quick check gives way to `fingerprintTree`, which yields while it walks. */
const QUICK_LIMIT = 2048

/**
 * The fingerprint of a small tree whose stat snapshot still holds, in one synchronous step (a warm build asks it for
 * every tool); undefined when it takes more: files to hash, a big tree, `verify`, a walk that fails.
 */
export const fingerprintTreeNow = (store: CacheStore, root: string, options: TreeFingerprintOptions = {}): Digest | undefined => {
  if (options.verify === true) return undefined
  const rootPath = resolve(root)
  const rootBytes = Buffer.from(rootPath)
  const rootStats = statSync(rootBytes, { throwIfNoEntry: false })
  if (rootStats?.isDirectory() !== true) return undefined
  const walked = walkNow(rootBytes, rootStats, QUICK_LIMIT)
  if (walked === undefined) return undefined
  const windowMs = options.racyWindowMs ?? racyWindowFor(walked.map((e) => e.stats.ctimeMs))
  return summarizedDigest(store, rootPath, walked, statsDigestOf(walked), windowMs, options)
}

const FILE_FORMAT = "engine-file-snapshot/2"

const FileSnapshotSchema = Schema.Struct({
  format: Schema.Literal(FILE_FORMAT),
  path: Schema.String,
  digest: Schema.TemplateLiteral("sha256:", Schema.String),
  /** mode, size, mtimeMs, ctimeMs, ino, as in a tree snapshot line. */
  stats: Schema.String,
  takenAtMs: Schema.Number
})
type FileSnapshot = typeof FileSnapshotSchema.Type

/**
 * The content digest (`sha256:` of its bytes) of one regular file, symlinks followed, with the same stat
 * snapshot as `fingerprintTree`: a file that did not move since its last fingerprint is not read again.
 */
export const fingerprintFile = (
  store: CacheStore,
  file: string,
  options: TreeFingerprintOptions = {}
): Effect.Effect<TreeFingerprint, TreeError> =>
  Effect.gen(function*() {
    const path = resolve(file)
    const bytes = Buffer.from(path)
    const stats = yield* Effect.try({ try: () => statSync(bytes), catch: fsError(path, "stat", bytes) })
    if (!stats.isFile()) {
      return yield* new TreeError({ root: path, path, message: `${path} is not a regular file; cannot fingerprint it as a file` })
    }
    const name = sha256Hex(`file\0${path}`)
    const windowMs = options.racyWindowMs ?? racyWindowFor([stats.ctimeMs])
    const takenAtMs = Date.now()
    if (options.verify !== true) {
      const read = yield* store.readDocument("trees", name, FileSnapshotSchema)
      if (read._tag === "Found" && read.value.path === path && read.value.stats === statKey(stats)) {
        const settledBefore = read.value.takenAtMs - windowMs
        if (stats.mtimeMs < settledBefore && stats.ctimeMs < settledBefore) {
          return { digest: read.value.digest, entries: 1, hashedFiles: 0, source: "snapshot" } satisfies TreeFingerprint
        }
      }
    }
    // The hash opens without following links, so hash what the link resolves to.
    const real = yield* Effect.try({ try: () => realpathSync(bytes), catch: fsError(path, "resolve", bytes) })
    const hex = yield* (options.hashFile ?? hashTreeFile)(Buffer.from(real))
    const digest: Digest = `sha256:${hex}`
    const snapshot: FileSnapshot = { format: FILE_FORMAT, path, digest, stats: statKey(stats), takenAtMs }
    const unsaved = store.now.writeDocument("trees", name, FileSnapshotSchema, snapshot)
    if (unsaved !== undefined) yield* Effect.logWarning(`file fingerprint of ${path} not saved: ${unsaved.message}`)
    return { digest, entries: 1, hashedFiles: 1, source: "hashed" } satisfies TreeFingerprint
  })
