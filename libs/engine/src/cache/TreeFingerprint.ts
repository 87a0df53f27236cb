import { Data, Effect, Option, Schema } from "effect"
import { createHash } from "node:crypto"
import { type BigIntStats, closeSync, constants as fsConstants, fstatSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, realpathSync, statSync } from "node:fs"
import { resolve } from "node:path"
import { sha256Hex } from "../graph/TaskKey"
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
   * Default 2000 ms, enough for filesystems with one- or two-second timestamps.
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

/**
 * One line per entry, tab-separated: path (base64 of its raw bytes), mode, size, mtimeNs, ctimeNs, ino,
 * content (file sha256 hex, symlink target base64, or empty). Lines, not tuples: a 20k-entry snapshot
 * decodes in milliseconds, and the stat-only check must stay cheap.
 */
const ENTRY_LINE = /^[A-Za-z0-9+/]+=*\t\d+\t\d+\t\d+\t\d+\t\d+\t[A-Za-z0-9+/]*=*$/
const SnapshotSchema = Schema.Struct({
  format: Schema.Literal(TREE_FORMAT),
  root: Schema.String,
  digest: Schema.TemplateLiteral("sha256:", Schema.String),
  takenAtNs: Schema.String.pipe(Schema.pattern(/^\d+$/)),
  entries: Schema.Array(Schema.String.pipe(Schema.pattern(ENTRY_LINE)))
})
type Snapshot = typeof SnapshotSchema.Type

interface Walked {
  /** Path relative to the root, raw bytes: names need not be UTF-8. */
  readonly rel: Buffer
  readonly stats: BigIntStats
}

const SLASH = Buffer.from("/")
const join = (dir: Buffer, name: Buffer): Buffer => (dir.length === 0 ? name : Buffer.concat([dir, SLASH, name]))

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

/** Every entry below `root` (not the root itself), by readdir + lstat only, sorted by raw path bytes. */
const walk = (rootPath: string, root: Buffer): Effect.Effect<ReadonlyArray<Walked>, TreeError> =>
  Effect.gen(function*() {
    const out: Array<Walked> = []
    const pending: Array<Buffer> = [Buffer.alloc(0)]
    for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
      const full = join(root, dir)
      const names = yield* Effect.try({
        try: () => readdirSync(full, { encoding: "buffer", withFileTypes: true }),
        catch: fsError(rootPath, "list", full)
      })
      for (let i = 0; i < names.length; i += BATCH) {
        const batch = names.slice(i, i + BATCH)
        let current = full
        const entries = yield* Effect.try({
          try: () =>
            batch.map((dirent): Walked => {
              const rel = join(dir, dirent.name)
              current = join(root, rel)
              return { rel, stats: lstatSync(current, { bigint: true }) }
            }),
          catch: (cause) => fsError(rootPath, "stat", current)(cause)
        })
        for (const entry of entries) {
          out.push(entry)
          if (entry.stats.isDirectory()) pending.push(entry.rel)
        }
        yield* Effect.yieldNow()
      }
    }
    return out.sort((a, b) => Buffer.compare(a.rel, b.rel))
  })

/** The stat fields of an entry as one comparable string: mode, size, mtimeNs, ctimeNs, ino. */
const statKey = (stats: BigIntStats): string => `${stats.mode}\t${stats.size}\t${stats.mtimeNs}\t${stats.ctimeNs}\t${stats.ino}`

interface SavedEntry {
  readonly stats: string
  readonly mtimeNs: bigint
  readonly ctimeNs: bigint
  readonly content: string
}

const parseLine = (line: string): readonly [path: string, entry: SavedEntry] => {
  const [path = "", mode, size, mtimeNs = "0", ctimeNs = "0", ino, content = ""] = line.split("\t")
  return [path, { stats: `${mode}\t${size}\t${mtimeNs}\t${ctimeNs}\t${ino}`, mtimeNs: BigInt(mtimeNs), ctimeNs: BigInt(ctimeNs), content }]
}

const isRacy = (saved: SavedEntry, takenAtNs: bigint, windowNs: bigint): boolean =>
  saved.mtimeNs >= takenAtNs - windowNs || saved.ctimeNs >= takenAtNs - windowNs

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
    const windowNs = BigInt(options.racyWindowMs ?? 2000) * 1_000_000n
    const snapshotName = sha256Hex(rootPath)
    const takenAtNs = BigInt(Date.now()) * 1_000_000n
    const walked = yield* walk(rootPath, rootBytes)

    const previous: Option.Option<Snapshot> = options.verify === true
      ? Option.none()
      : yield* store.readDocument("trees", snapshotName, SnapshotSchema).pipe(
        Effect.map((read) => (read._tag === "Found" && read.value.root === rootPath ? Option.some(read.value) : Option.none()))
      )
    const saved = new Map(Option.match(previous, { onNone: () => [], onSome: (s) => s.entries.map(parseLine) }))
    const savedAtNs = Option.match(previous, { onNone: () => 0n, onSome: (s) => BigInt(s.takenAtNs) })
    const reusable = (entry: Walked): Option.Option<string> => {
      const old = saved.get(entry.rel.toString("base64"))
      return old !== undefined && old.stats === statKey(entry.stats) && !isRacy(old, savedAtNs, windowNs)
        ? Option.some(old.content)
        : Option.none()
    }

    if (Option.isSome(previous) && saved.size === walked.length && walked.every((e) => Option.isSome(reusable(e)))) {
      return { digest: previous.value.digest, entries: walked.length, hashedFiles: 0, source: "snapshot" } satisfies TreeFingerprint
    }

    let hashedFiles = 0
    const contents = yield* Effect.forEach(
      walked,
      (entry) => {
        const type = Number(entry.stats.mode) & S_IFMT
        if (type !== S_IFREG && type !== S_IFLNK) return Effect.succeed([entry, ""] as const)
        const kept = reusable(entry)
        if (Option.isSome(kept)) return Effect.succeed([entry, kept.value] as const)
        const path = join(rootBytes, entry.rel)
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
      format: TREE_FORMAT,
      root: rootPath,
      digest,
      takenAtNs: String(takenAtNs),
      entries: contents.map(([{ rel, stats }, content]) => `${rel.toString("base64")}\t${statKey(stats)}\t${content}`)
    }
    // The fingerprint is right even if it cannot be remembered; the next build just hashes again.
    yield* store.writeDocument("trees", snapshotName, SnapshotSchema, snapshot).pipe(
      Effect.catchAll((e) => Effect.logWarning(`tree fingerprint of ${rootPath} not saved: ${e.message}`))
    )
    return { digest, entries: walked.length, hashedFiles, source: "hashed" } satisfies TreeFingerprint
  })

const FILE_FORMAT = "engine-file/1"

const FileSnapshotSchema = Schema.Struct({
  format: Schema.Literal(FILE_FORMAT),
  path: Schema.String,
  digest: Schema.TemplateLiteral("sha256:", Schema.String),
  /** mode, size, mtimeNs, ctimeNs, ino, as in a tree snapshot line. */
  stats: Schema.String,
  takenAtNs: Schema.String.pipe(Schema.pattern(/^\d+$/))
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
    const stats = yield* Effect.try({ try: () => statSync(bytes, { bigint: true }), catch: fsError(path, "stat", bytes) })
    if (!stats.isFile()) {
      return yield* new TreeError({ root: path, path, message: `${path} is not a regular file; cannot fingerprint it as a file` })
    }
    const name = sha256Hex(`file\0${path}`)
    const windowNs = BigInt(options.racyWindowMs ?? 2000) * 1_000_000n
    const takenAtNs = BigInt(Date.now()) * 1_000_000n
    if (options.verify !== true) {
      const read = yield* store.readDocument("trees", name, FileSnapshotSchema)
      if (read._tag === "Found" && read.value.path === path && read.value.stats === statKey(stats)) {
        const savedAt = BigInt(read.value.takenAtNs)
        if (stats.mtimeNs < savedAt - windowNs && stats.ctimeNs < savedAt - windowNs) {
          return { digest: read.value.digest, entries: 1, hashedFiles: 0, source: "snapshot" } satisfies TreeFingerprint
        }
      }
    }
    // The hash opens without following links, so hash what the link resolves to.
    const real = yield* Effect.try({ try: () => realpathSync(bytes), catch: fsError(path, "resolve", bytes) })
    const hex = yield* (options.hashFile ?? hashTreeFile)(Buffer.from(real))
    const digest: Digest = `sha256:${hex}`
    const snapshot: FileSnapshot = { format: FILE_FORMAT, path, digest, stats: statKey(stats), takenAtNs: String(takenAtNs) }
    yield* store.writeDocument("trees", name, FileSnapshotSchema, snapshot).pipe(
      Effect.catchAll((e) => Effect.logWarning(`file fingerprint of ${path} not saved: ${e.message}`))
    )
    return { digest, entries: 1, hashedFiles: 1, source: "hashed" } satisfies TreeFingerprint
  })
