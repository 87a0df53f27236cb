import { writeFileAtomic as writeLayoutFileAtomic } from "@engine/layout"
import { Data, Effect, Either, ParseResult, Schema, type Scope } from "effect"
import { createHash, randomUUID } from "node:crypto"
import {
  closeSync,
  constants as fsConstants,
  fstatSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync
} from "node:fs"
import { copyFile, link, lstat, mkdir, mkdtemp, open, readdir, readFile, rename, rm, stat } from "node:fs/promises"
import { basename, dirname, join } from "node:path"
import type { BlobRef } from "../graph/TaskGraph"
import { canonicalJson, isTaskKey, type Json, JsonValue, sha256Hex } from "../graph/TaskKey"

/**
 * The local cache under one root directory (ENGINE_CACHE_DIR, chosen by the caller):
 *
 *   blobs/sha256/<hex>   content-addressed blobs, read-only (0444), named by their sha256
 *   ac/<key>.json        action records: task key → output record (checksummed)
 *   runs/<hash>.json     key structure of each task's last run, by sha256 of its `graph#id`
 *   trees/<hash>.json    tree fingerprint snapshots, by sha256 of the tree's absolute path
 *   tmp/<random>/        a running task's temp files (a layer being written), removed when it ends
 *
 * Every file appears by rename of a fsynced temp file in the same directory, so readers and concurrent
 * writers never see a partial file and no lock is needed: two processes writing the same blob write the
 * same bytes, and two writing the same record both write a valid one (the last rename wins).
 * Only these five directories are touched: the root may hold other things (downloads).
 */
export interface CacheStore {
  readonly root: string
  readonly blobPath: (digest: Digest) => string
  /** Is the blob there with this size (`verify`: and does it hash to its name)? */
  readonly checkBlob: (ref: BlobRef, options?: { readonly verify?: boolean }) => Effect.Effect<BlobCheck>
  readonly putBlob: (bytes: Uint8Array) => Effect.Effect<BlobRef, CacheError>
  /** Moves a finished temp file into the store (copy + rename across filesystems). Size is always checked; `verify` also hashes. */
  readonly putBlobFromFile: (
    tempPath: string,
    digest: Digest,
    size: number,
    options?: { readonly verify?: boolean }
  ) => Effect.Effect<BlobRef, CacheError>
  /**
   * A fresh directory under `tmp/` for temp files that will become blobs (same filesystem, so
   * `putBlobFromFile` renames them in); removed with its contents when the scope closes.
   */
  readonly tempDir: Effect.Effect<string, CacheError, Scope.Scope>
  /** Places a blob at `dest` as a hardlink (a copy across filesystems), replacing `dest` atomically. */
  readonly linkBlob: (digest: Digest, dest: string) => Effect.Effect<"hardlink" | "copy" | "unchanged", CacheError>
  readonly readBlob: (digest: Digest, options?: { readonly verify?: boolean }) => Effect.Effect<Uint8Array, CacheError>
  readonly readRecord: (key: string) => Effect.Effect<DocumentRead<ActionRecord>>
  readonly writeRecord: (record: ActionRecord) => Effect.Effect<void, CacheError>
  /**
   * Marks a record as used now (to the hour); `prune` evicts the least recently used. `seenMtimeMs`: the record's
   * mtime as just read, which spares a stat when it is recent.
   */
  readonly touchRecord: (key: string, seenMtimeMs?: number) => Effect.Effect<void, CacheError>
  readonly removeRecord: (key: string) => Effect.Effect<void, CacheError>
  readonly removeBlob: (digest: Digest) => Effect.Effect<void, CacheError>
  /** A small checksummed JSON document under `runs/` or `trees/`. */
  readonly readDocument: <A, I>(dir: DocumentDir, name: string, schema: Schema.Schema<A, I>) => Effect.Effect<DocumentRead<A>>
  readonly writeDocument: <A, I extends Json>(dir: DocumentDir, name: string, schema: Schema.Schema<A, I>, value: A) => Effect.Effect<void, CacheError>
  /**
   * The same reads without Effects, for a warm build's many hits (each a stat or two): a record, a blob's presence
   * and size (no `verify`), the last-used mark (failures ignored), a document.
   */
  readonly now: {
    readonly readRecord: (key: string) => DocumentRead<ActionRecord>
    readonly checkBlob: (ref: BlobRef) => BlobCheck
    readonly touchRecord: (key: string, seenMtimeMs?: number) => void
    readonly readDocument: <A, I>(dir: DocumentDir, name: string, schema: Schema.Schema<A, I>) => DocumentRead<A>
    /** `dest` is already the blob (a hardlink to it): what `linkBlob` would leave `unchanged`. Throws what stat throws. */
    readonly blobInPlace: (digest: Digest, dest: string) => boolean
    /** A small document a running task waits for, written without thread-pool round trips; the failure, if any. */
    readonly writeDocument: <A, I extends Json>(dir: DocumentDir, name: string, schema: Schema.Schema<A, I>, value: A) => CacheError | undefined
  }
  readonly ls: Effect.Effect<ReadonlyArray<CacheEntryInfo>, CacheError>
  readonly stats: Effect.Effect<CacheStats, CacheError>
  readonly prune: (options: PruneOptions) => Effect.Effect<PruneResult, CacheError>
  /** Removes everything this store owns under the root. */
  readonly clear: Effect.Effect<void, CacheError>
}

export type Digest = `sha256:${string}`
export type DocumentDir = "runs" | "trees"

const HEX64 = /^[0-9a-f]{64}$/
export const isDigest = (s: string): s is Digest => s.startsWith("sha256:") && HEX64.test(s.slice(7))

/** `isDigest` for the digests a warm build checks again and again (every hit's blobs), remembered once valid. */
const validDigests = new Set<string>()
const isKnownDigest = (s: string): s is Digest => {
  if (validDigests.has(s)) return true
  if (!isDigest(s)) return false
  if (validDigests.size >= 20_000) validDigests.clear()
  validDigests.add(s)
  return true
}

/** Every failure of the cache's own I/O, with the path and what to do about it in `message`. */
export class CacheError extends Data.TaggedError("CacheError")<{
  readonly reason: "Io" | "BlobMissing" | "SizeMismatch" | "DigestMismatch" | "InvalidName"
  readonly path: string
  readonly message: string
  readonly cause?: unknown
}> {}

export type BlobCheck =
  | { readonly _tag: "Ok" }
  | { readonly _tag: "Missing"; readonly path: string }
  | { readonly _tag: "Damaged"; readonly path: string; readonly detail: string }

/** Outcome of reading a checksummed JSON file: a damaged file is a value, not an error, so callers treat it as a miss. */
export type DocumentRead<A> =
  | { readonly _tag: "Found"; readonly value: A; readonly path: string; readonly mtimeMs: number }
  | { readonly _tag: "Absent"; readonly path: string }
  | { readonly _tag: "Corrupt"; readonly path: string; readonly detail: string }
  | { readonly _tag: "Unreadable"; readonly path: string; readonly detail: string }

const BlobRefSchema = Schema.Struct({
  digest: Schema.TemplateLiteral("sha256:", Schema.String).pipe(Schema.filter((d) => isDigest(d) || "sha256: and 64 lowercase hex chars")),
  size: Schema.NonNegativeInt
})

/** What the action cache stores per task key. `durationMs` is what a hit saves. */
export const ActionRecordSchema = Schema.Struct({
  key: Schema.String.pipe(Schema.filter((k) => isTaskKey(k) || "64 lowercase hex chars")),
  taskId: Schema.String,
  kind: Schema.String,
  output: JsonValue,
  blobs: Schema.Array(BlobRefSchema),
  durationMs: Schema.NonNegative,
  createdAt: Schema.String
})
export type ActionRecord = typeof ActionRecordSchema.Type

/**
 * Every JSON file of the store is `engine-cache-doc/1 sha256:<hex>\n<JSON body>`: the checksum covers the
 * body's exact bytes, so damage is caught before parsing, without re-encoding the body.
 */
const DOCUMENT_FORMAT = "engine-cache-doc/1"

export interface CacheEntryInfo {
  readonly key: string
  readonly status: "ok" | "corrupt"
  readonly taskId?: string
  readonly kind?: string
  readonly createdAt?: string
  readonly durationMs?: number
  /** Last hit or write (the record file's mtime). */
  readonly lastUsedMs: number
  /** Record plus the blobs it references (shared blobs counted in full for each). */
  readonly bytes: number
}

export interface CacheStats {
  readonly records: number
  readonly blobs: number
  /** All files this store owns, including run and tree documents. */
  readonly bytes: number
  readonly blobBytes: number
}

export interface PruneOptions {
  /** Target size of records plus blobs, in bytes. */
  readonly maxSize: number
  /** Records used, and blobs or temp files written, less than this long ago are kept (default 1 hour). */
  readonly graceMs?: number
  readonly now?: number
}

export interface PruneResult {
  readonly removedRecords: number
  readonly removedBlobs: number
  readonly removedTemps: number
  readonly freedBytes: number
  readonly remainingBytes: number
}

const DEFAULT_GRACE_MS = 60 * 60 * 1000

const errnoOf = (cause: unknown): string | undefined =>
  typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string" ? cause.code : undefined

const isMissing = (cause: unknown): boolean => errnoOf(cause) === "ENOENT"

const ioError = (action: string, path: string) => (cause: unknown): CacheError =>
  cause instanceof CacheError
    ? cause
    : new CacheError({
      reason: "Io",
      path,
      message: `cache: cannot ${action} ${path}: ${cause instanceof Error ? cause.message : String(cause)}; check the permissions and free space of the cache dir, or point ENGINE_CACHE_DIR elsewhere`,
      cause
    })

const attempt = <A>(action: string, path: string, f: () => Promise<A>): Effect.Effect<A, CacheError> =>
  Effect.tryPromise({ try: f, catch: ioError(action, path) })

const TEMP_MARKER = ".tmp-"
const tempBeside = (path: string): string => join(dirname(path), `.${basename(path)}${TEMP_MARKER}${randomUUID()}`)
const isTempName = (name: string): boolean => name.startsWith(".") && name.includes(TEMP_MARKER)

/** Runs `f`, creating the parent directory once if it is missing (e.g. after a concurrent `clear`). */
const withParent = async <A>(path: string, f: () => Promise<A>): Promise<A> => {
  try {
    return await f()
  } catch (cause) {
    if (!isMissing(cause)) throw cause
    await mkdir(dirname(path), { recursive: true })
    return f()
  }
}

/** Temp file beside the destination (named so `prune` knows it), fsynced, then renamed over it. */
export const writeFileAtomic = (path: string, data: Uint8Array | string, mode = 0o644): Promise<void> =>
  withParent(path, async () => void (await writeLayoutFileAtomic(path, data, { mode, tempPath: tempBeside(path) })))

/** `writeFileAtomic` that also tells the inode it wrote. */
const writeFileAtomicIdentified = (path: string, data: string): Promise<number | undefined> =>
  withParent(path, async () => (await writeLayoutFileAtomic(path, data, { tempPath: tempBeside(path), inode: true })).ino)

/**
 * `writeFileAtomic` in one synchronous step (temp file, fsync, rename): for a small document that a running task
 * waits for, where each of the async form's five thread-pool round trips would wait for the event loop. The inode
 * written is returned.
 */
const writeFileAtomicNow = (path: string, data: string, mode = 0o644): number => {
  const temp = tempBeside(path)
  const once = (): number => {
    const fd = openSync(temp, "wx", mode)
    try {
      writeFileSync(fd, data)
      fsyncSync(fd)
      return fstatSync(fd).ino
    } finally {
      closeSync(fd)
    }
  }
  try {
    let ino: number
    try {
      ino = once()
    } catch (cause) {
      if (!isMissing(cause)) throw cause
      mkdirSync(dirname(path), { recursive: true })
      ino = once()
    }
    renameSync(temp, path)
    return ino
  } catch (cause) {
    rmSync(temp, { force: true })
    throw cause
  }
}

/**
 * sha256 and size of a regular file, streamed. Opened without following symlinks and non-blocking, then
 * checked with fstat, so a path swapped for a FIFO or device after the caller's lstat is refused, not hung on.
 */
export const hashRegularFile = async (path: string | Buffer): Promise<{ readonly hex: string; readonly size: number }> => {
  const fh = await open(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK)
  try {
    const info = await fh.stat()
    if (!info.isFile()) throw new Error(`${String(path)} is not a regular file`)
    const hash = createHash("sha256")
    const buffer = Buffer.allocUnsafe(1 << 20)
    let size = 0
    for (;;) {
      const { bytesRead } = await fh.read(buffer, 0, buffer.length, null)
      if (bytesRead === 0) break
      hash.update(buffer.subarray(0, bytesRead))
      size += bytesRead
    }
    return { hex: hash.digest("hex"), size }
  } finally {
    await fh.close()
  }
}

const checksumOf = (body: string): string => `sha256:${sha256Hex(body)}`

/** Checks the header and checksum, then parses and Schema-decodes the body; Left says what is wrong. */
const decodeDocument = <A, I>(text: string, schema: Schema.Schema<A, I>): Either.Either<A, string> => {
  const newline = text.indexOf("\n")
  const [format, checksum] = text.slice(0, Math.max(newline, 0)).split(" ")
  if (newline < 0 || format !== DOCUMENT_FORMAT) return Either.left(`not an ${DOCUMENT_FORMAT} file`)
  const body = text.slice(newline + 1)
  const actual = checksumOf(body)
  if (actual !== checksum) return Either.left(`checksum mismatch: content hashes to ${actual}, header says ${checksum ?? "nothing"}`)
  return Either.try({ try: (): unknown => JSON.parse(body), catch: (e) => `not JSON (${e instanceof Error ? e.message : String(e)})` }).pipe(
    Either.flatMap((json) => Either.mapLeft(Schema.decodeUnknownEither(schema)(json), (e) => ParseResult.TreeFormatter.formatErrorSync(e)))
  )
}

const encodeDocument = <A, I extends Json>(schema: Schema.Schema<A, I>, value: A): Either.Either<string, string> =>
  Either.mapLeft(Schema.encodeEither(schema)(value), (e) => ParseResult.TreeFormatter.formatErrorSync(e)).pipe(
    Either.flatMap((encoded: Json) =>
      Either.map(
        Either.mapLeft(canonicalJson(encoded), (bad) => `${bad.path} is ${bad.value}, which JSON cannot carry`),
        (body) => `${DOCUMENT_FORMAT} ${checksumOf(body)}\n${body}`
      )
    )
  )

interface FileInfo {
  readonly name: string
  readonly path: string
  readonly size: number
  readonly mtimeMs: number
}

/** Files of a directory (a missing directory is empty). */
const listFiles = async (dir: string): Promise<ReadonlyArray<FileInfo>> => {
  const names = await readdir(dir).catch((cause: unknown) => (isMissing(cause) ? [] : Promise.reject(cause)))
  const infos = await Promise.all(
    names.map(async (name) => {
      const path = join(dir, name)
      const info = await lstat(path).catch((cause: unknown) => (isMissing(cause) ? undefined : Promise.reject(cause)))
      return info?.isFile() === true ? { name, path, size: info.size, mtimeMs: info.mtimeMs } : undefined
    })
  )
  return infos.filter((i): i is FileInfo => i !== undefined)
}

/** A decoded document, valid while its file keeps this identity; one value per schema it was read with. */
interface Remembered {
  readonly ino: number
  readonly size: number
  readonly mtimeMs: number
  readonly ctimeMs: number
  readonly values: Map<unknown, unknown>
}
const remembered = new Map<string, Remembered>()
const MAX_REMEMBERED = 20_000

/** What is remembered of `path`, if its file still has this identity. */
const rememberedAs = (path: string, identity: Omit<Remembered, "values">): Remembered | undefined => {
  const known = remembered.get(path)
  return known !== undefined && known.ino === identity.ino && known.size === identity.size &&
      known.mtimeMs === identity.mtimeMs && known.ctimeMs === identity.ctimeMs
    ? known
    : undefined
}

/**
 * Documents are small and a warm build reads several per tool: one synchronous read costs a fraction of
 * readFile's four thread-pool round trips (open, fstat, read, close). In a process that builds again and again (the
 * daemon), a document whose file still has the same inode, size, mtime and ctime is the one decoded last time: one
 * stat instead of a read, a parse and a decode. Any write (the store renames a new file in) changes that identity.
 */
const readDocumentFile = <A, I>(path: string, schema: Schema.Schema<A, I>): DocumentRead<A> => {
  let text: string
  let identity: Omit<Remembered, "values"> | undefined
  try {
    if (trustRemembered) {
      const known = remembered.get(path)
      if (known?.values.has(schema) === true) return { _tag: "Found", value: known.values.get(schema) as A, path, mtimeMs: known.mtimeMs }
    }
    const st = statSync(path, { throwIfNoEntry: false })
    if (st === undefined) return { _tag: "Absent", path }
    identity = { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs }
    const known = rememberedAs(path, identity)
    if (known?.values.has(schema) === true) return { _tag: "Found", value: known.values.get(schema) as A, path, mtimeMs: st.mtimeMs }
    text = readFileSync(path, "utf8")
  } catch (cause) {
    return isMissing(cause) ? { _tag: "Absent", path } : { _tag: "Unreadable", path, detail: String(cause) }
  }
  return Either.match(decodeDocument(text, schema), {
    onLeft: (detail): DocumentRead<A> => ({ _tag: "Corrupt", path, detail }),
    onRight: (value): DocumentRead<A> => {
      const known = rememberedAs(path, identity)
      if (remembered.size >= MAX_REMEMBERED) remembered.clear()
      if (known !== undefined) known.values.set(schema, value)
      else remembered.set(path, { ...identity, values: new Map([[schema, value]]) })
      return { _tag: "Found", value, path, mtimeMs: identity.mtimeMs }
    }
  })
}

/**
 * A document this process just wrote is known without reading it back: remembered under the file's identity, if the
 * file at `path` is still the inode written (not one another process renamed over it since).
 */
const rememberWritten = <A, I>(path: string, ino: number, schema: Schema.Schema<A, I>, value: A): void => {
  const st = statSync(path, { throwIfNoEntry: false })
  if (st === undefined || st.ino !== ino) return
  if (remembered.size >= MAX_REMEMBERED) remembered.clear()
  remembered.set(path, { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, values: new Map([[schema, value]]) })
}

/**
 * A long-lived process (the daemon) takes what it remembers of a document as is, without the stat that would check
 * the file still holds it: what it remembers it read or wrote itself, and each such fact stays true (a record maps
 * its key to its output; a tree summary maps stats to the digest it hashed; a run record is advisory). Until the
 * cache's generation changes: `clear` and `prune` (in any process) write a new generation file, and a store opened
 * afterwards forgets everything remembered of that cache. So a cleared cache is cold for the daemon too. A record
 * damaged or deleted behind its back is not noticed while it is remembered; the blobs a hit needs are still
 * checked every time, and a one-shot process reads every document.
 */
let trustRemembered = false
export const trustRememberedDocuments = (trust: boolean): void => {
  trustRemembered = trust
}

/** `root`'s generation file as last seen by this process (ino, size, mtime, ctime), by cache root. */
const generations = new Map<string, string>()
const GENERATION_FILE = "generation"

const forgetUnder = (root: string): void => {
  const prefix = join(root, "/")
  for (const path of remembered.keys()) if (path.startsWith(prefix)) remembered.delete(path)
}

const identityOf = (st: { readonly ino: number; readonly size: number; readonly mtimeMs: number; readonly ctimeMs: number }) =>
  `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`

/**
 * The generation file of `root` (made if missing: a cache dir deleted and made again has a new one); when it is not
 * the one this process saw last, everything remembered under `root` is forgotten.
 */
const checkGeneration = (root: string): void => {
  const path = join(root, GENERATION_FILE)
  try {
    const st = statSync(path, { throwIfNoEntry: false })
    const seen = st !== undefined ? identityOf(st) : writeGeneration(path)
    const before = generations.get(root)
    if (before !== undefined && before !== seen) forgetUnder(root)
    generations.set(root, seen)
  } catch {
    // A read-only cache still serves hits; without a generation to go by, nothing remembered of it is kept.
    forgetUnder(root)
    generations.delete(root)
  }
}

/** A new generation file at `path` (a new inode, whatever was there); its identity. */
const writeGeneration = (path: string): string => {
  writeFileAtomicNow(path, `${randomUUID()}\n`)
  return identityOf(statSync(path))
}

/** After a clear or prune: a new generation file, so other processes forget what they remember of this cache. */
const newGeneration = (root: string): void => {
  forgetUnder(root)
  generations.set(root, writeGeneration(join(root, GENERATION_FILE)))
}

const TOUCH_INTERVAL_MS = 60 * 60 * 1000

const LINK_UNSUPPORTED = new Set(["EXDEV", "EPERM", "EMLINK", "ENOTSUP", "EOPNOTSUPP", "ENOSYS"])

/** Opens (creating if needed) the cache store at `root`. */
export const openCacheStore = (root: string): Effect.Effect<CacheStore, CacheError> =>
  attempt("create the cache dir", root, async () => {
    await mkdir(join(root, "blobs", "sha256"), { recursive: true })
    await mkdir(join(root, "ac"), { recursive: true })
    checkGeneration(root)
    return makeStore(root)
  })

const makeStore = (root: string): CacheStore => {
  const blobsDir = join(root, "blobs", "sha256")
  const acDir = join(root, "ac")
  const tmpDir = join(root, "tmp")
  const blobPath = (digest: Digest) => join(blobsDir, digest.slice("sha256:".length))
  const recordPath = (key: string) => join(acDir, `${key}.json`)

  const badName = (what: string, name: string) =>
    new CacheError({ reason: "InvalidName", path: name, message: `cache: "${name}" is not a valid ${what}` })
  const guardDigest = (digest: string): Effect.Effect<Digest, CacheError> =>
    isDigest(digest) ? Effect.succeed(digest) : Effect.fail(badName("blob digest (sha256:<64 hex>)", digest))
  const guardKey = (key: string): Effect.Effect<string, CacheError> =>
    isTaskKey(key) ? Effect.succeed(key) : Effect.fail(badName("task key (64 hex)", key))

  /** Presence and size, one stat syscall: what a hit checks of every blob it references. */
  const statBlob = (ref: BlobRef): BlobCheck => {
    if (!isKnownDigest(ref.digest)) return { _tag: "Missing", path: ref.digest }
    const path = blobPath(ref.digest)
    const info = statSync(path, { throwIfNoEntry: false })
    if (info === undefined || !info.isFile()) return { _tag: "Missing", path }
    if (info.size !== ref.size) return { _tag: "Damaged", path, detail: `size ${info.size}, expected ${ref.size}` }
    return { _tag: "Ok" }
  }

  const checkBlob: CacheStore["checkBlob"] = (ref, options) =>
    Effect.suspend((): Effect.Effect<BlobCheck> => {
      const found = statBlob(ref)
      if (found._tag !== "Ok" || options?.verify !== true) return Effect.succeed(found)
      const path = blobPath(ref.digest)
      return Effect.promise(async (): Promise<BlobCheck> => {
        const actual = await hashRegularFile(path).then((h) => `sha256:${h.hex}`, (e: unknown) => `unreadable (${String(e)})`)
        return actual === ref.digest ? { _tag: "Ok" } : { _tag: "Damaged", path, detail: `content hashes to ${actual}` }
      })
    })

  const putBlob: CacheStore["putBlob"] = (bytes) => {
    const digest: Digest = `sha256:${sha256Hex(bytes)}`
    const path = blobPath(digest)
    return attempt("write blob", path, () => writeFileAtomic(path, bytes, 0o444)).pipe(
      Effect.as({ digest, size: bytes.length })
    )
  }

  const putBlobFromFile: CacheStore["putBlobFromFile"] = (tempPath, digest, size, options) =>
    Effect.flatMap(guardDigest(digest), (digest) => {
      const path = blobPath(digest)
      return attempt("store blob", path, async () => {
        const actual = options?.verify === true ? await hashRegularFile(tempPath) : { hex: undefined, size: (await stat(tempPath)).size }
        if (actual.size !== size) {
          throw new CacheError({
            reason: "SizeMismatch",
            path: tempPath,
            message: `cache: ${tempPath} holds ${actual.size} bytes but blob ${digest} should have ${size}; the producer of this file is wrong`
          })
        }
        if (actual.hex !== undefined && `sha256:${actual.hex}` !== digest) {
          throw new CacheError({
            reason: "DigestMismatch",
            path: tempPath,
            message: `cache: ${tempPath} hashes to sha256:${actual.hex}, not ${digest}; the producer of this file is wrong`
          })
        }
        const fh = await open(tempPath, "r")
        try {
          await fh.chmod(0o444)
          await fh.sync()
        } finally {
          await fh.close()
        }
        // Renaming over an existing blob is safe (same name, same bytes) and repairs a damaged one.
        await withParent(path, () => rename(tempPath, path)).catch(async (cause: unknown) => {
          if (errnoOf(cause) !== "EXDEV") throw cause
          const temp = tempBeside(path)
          try {
            await copyFile(tempPath, temp)
            const copy = await open(temp, "r")
            await copy.sync().finally(() => copy.close())
            await rename(temp, path)
          } catch (copyCause) {
            await rm(temp, { force: true })
            throw copyCause
          }
          await rm(tempPath, { force: true })
        })
        return { digest, size }
      })
    })

  const tempDir: CacheStore["tempDir"] = Effect.acquireRelease(
    attempt("create a temp dir in", tmpDir, () => withParent(join(tmpDir, "x"), () => mkdtemp(join(tmpDir, `${process.pid}-`)))),
    (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }).catch(() => undefined))
  )

  /** `dest` is already the blob (a hardlink to it): two stat syscalls. Throws what stat throws. */
  const blobInPlace = (digest: Digest, dest: string): boolean => {
    const blob = statSync(blobPath(digest), { throwIfNoEntry: false })
    const existing = blob === undefined ? undefined : lstatSync(dest, { throwIfNoEntry: false })
    return blob !== undefined && existing !== undefined && existing.ino === blob.ino && existing.dev === blob.dev
  }

  const linkBlob: CacheStore["linkBlob"] = (digest, dest) =>
    Effect.flatMap(guardDigest(digest), (digest) => {
      // A layout rewrite links every layer again, most already in place: two stat syscalls, no promise.
      if (Either.getOrElse(Either.try(() => blobInPlace(digest, dest)), () => false)) return Effect.succeed("unchanged" as const)
      const source = blobPath(digest)
      return attempt("place blob at", dest, async () => {
        if (statSync(source, { throwIfNoEntry: false }) === undefined) {
          throw new CacheError({
            reason: "BlobMissing",
            path: source,
            message: `cache: blob ${digest} is not in the cache (${source}); rerun the build without the cache (--force) to recreate it`
          })
        }
        await mkdir(dirname(dest), { recursive: true })
        const temp = tempBeside(dest)
        try {
          const how = await link(source, temp).then(
            () => "hardlink" as const,
            async (cause: unknown) => {
              if (!LINK_UNSUPPORTED.has(errnoOf(cause) ?? "")) throw cause
              await copyFile(source, temp)
              return "copy" as const
            }
          )
          await rename(temp, dest)
          return how
        } finally {
          // rename() between two links to one inode succeeds without removing the source name.
          await rm(temp, { force: true })
        }
      })
    })

  const readBlob: CacheStore["readBlob"] = (digest, options) =>
    Effect.flatMap(guardDigest(digest), (digest) => {
      const path = blobPath(digest)
      return attempt("read blob", path, async () => {
        const bytes = await readFile(path)
        if (options?.verify === true && `sha256:${sha256Hex(bytes)}` !== digest) {
          throw new CacheError({
            reason: "DigestMismatch",
            path,
            message: `cache: blob ${path} is damaged (content does not hash to its name); run \`engine cache prune\` or delete the file`
          })
        }
        return new Uint8Array(bytes)
      })
    })

  const readAt = <A, I>(path: string, schema: Schema.Schema<A, I>): Effect.Effect<DocumentRead<A>> =>
    Effect.sync(() => readDocumentFile(path, schema))

  const writeAt = <A, I extends Json>(path: string, schema: Schema.Schema<A, I>, value: A) =>
    Either.match(encodeDocument(schema, value), {
      onLeft: (detail) => Effect.fail(ioError("encode", path)(new Error(detail))),
      onRight: (text) =>
        attempt("write", path, async () => {
          const ino = await writeFileAtomicIdentified(path, text)
          if (ino !== undefined) rememberWritten(path, ino, schema, value)
        })
    })

  const documentPath = (dir: DocumentDir, name: string) => join(root, dir, `${name}.json`)

  /** A record whose file name and content disagree on the key is as useless as a damaged one. */
  const readRecordFile = (key: string): DocumentRead<ActionRecord> => {
    if (!isTaskKey(key)) return { _tag: "Corrupt", path: key, detail: "not a task key" }
    const read = readDocumentFile(recordPath(key), ActionRecordSchema)
    return read._tag === "Found" && read.value.key !== key
      ? { _tag: "Corrupt", path: read.path, detail: `holds the record of key ${read.value.key}` }
      : read
  }

  const readRecord: CacheStore["readRecord"] = (key) => Effect.sync(() => readRecordFile(key))

  const writeRecord: CacheStore["writeRecord"] = (record) =>
    Effect.flatMap(guardKey(record.key), (key) => writeAt(recordPath(key), ActionRecordSchema, record))

  /** Marked at most once an hour: `prune`'s order needs no finer time, and an unchanged file stays remembered. */
  const recent = (mtimeMs: number, now: number) => now - mtimeMs < TOUCH_INTERVAL_MS && mtimeMs <= now
  /** Throws what utimes throws; a valid key only. */
  const touchRecordFile = (key: string, seenMtimeMs?: number) => {
    const now = Date.now()
    if (seenMtimeMs !== undefined && recent(seenMtimeMs, now)) return
    const path = recordPath(key)
    // What is remembered of the record holds an mtime that is now old: read afresh once, it is remembered with the new.
    remembered.delete(path)
    const st = statSync(path, { throwIfNoEntry: false })
    if (st !== undefined && recent(st.mtimeMs, now)) return
    utimesSync(path, new Date(now), new Date(now))
  }
  const touchRecord: CacheStore["touchRecord"] = (key, seenMtimeMs) =>
    Effect.flatMap(guardKey(key), (key) => Effect.try({ try: () => touchRecordFile(key, seenMtimeMs), catch: ioError("mark as used", recordPath(key)) }))

  const removeRecord: CacheStore["removeRecord"] = (key) =>
    Effect.flatMap(guardKey(key), (key) => {
      remembered.delete(recordPath(key))
      return attempt("remove", recordPath(key), () => rm(recordPath(key), { force: true }))
    })

  const removeBlob: CacheStore["removeBlob"] = (digest) =>
    Effect.flatMap(guardDigest(digest), (digest) => attempt("remove", blobPath(digest), () => rm(blobPath(digest), { force: true })))

  /** Records with their referenced blobs, and every blob file. */
  const inventory = async () => {
    const recordFiles = (await listFiles(acDir)).filter((f) => !isTempName(f.name) && f.name.endsWith(".json"))
    const blobFiles = (await listFiles(blobsDir)).filter((f) => HEX64.test(f.name))
    const blobSize = new Map(blobFiles.map((f) => [`sha256:${f.name}`, f.size]))
    const records = await Promise.all(
      recordFiles.map(async (file) => {
        const key = file.name.slice(0, -".json".length)
        const read = readRecordFile(key)
        return { file, key, record: read._tag === "Found" ? read.value : undefined }
      })
    )
    const temps = [
      ...(await listFiles(acDir)),
      ...(await listFiles(blobsDir)),
      ...(await listFiles(join(root, "runs"))),
      ...(await listFiles(join(root, "trees")))
    ].filter((f) => isTempName(f.name))
    return { records, blobFiles, blobSize, temps }
  }

  const ls: CacheStore["ls"] = attempt("list", root, async () => {
    const { records, blobSize } = await inventory()
    return records
      .map(({ file, key, record }): CacheEntryInfo =>
        record === undefined
          ? { key, status: "corrupt", lastUsedMs: file.mtimeMs, bytes: file.size }
          : {
            key,
            status: "ok",
            taskId: record.taskId,
            kind: record.kind,
            createdAt: record.createdAt,
            durationMs: record.durationMs,
            lastUsedMs: file.mtimeMs,
            bytes: file.size + record.blobs.reduce((sum, b) => sum + (blobSize.get(b.digest) ?? 0), 0)
          }
      )
      .sort((a, b) => b.lastUsedMs - a.lastUsedMs || a.key.localeCompare(b.key))
  })

  const stats: CacheStore["stats"] = attempt("measure", root, async () => {
    const records = (await listFiles(acDir)).filter((f) => !isTempName(f.name))
    const blobs = (await listFiles(blobsDir)).filter((f) => HEX64.test(f.name))
    const documents = [...(await listFiles(join(root, "runs"))), ...(await listFiles(join(root, "trees")))]
    const sum = (files: ReadonlyArray<FileInfo>) => files.reduce((s, f) => s + f.size, 0)
    return {
      records: records.length,
      blobs: blobs.length,
      bytes: sum(records) + sum(blobs) + sum(documents),
      blobBytes: sum(blobs)
    }
  })

  /**
   * Least recently used records go first; a blob goes when no remaining record references it. Anything
   * touched within `graceMs` stays, so a build running in another process keeps what it just used or wrote.
   */
  const prune: CacheStore["prune"] = (options) =>
    attempt("prune", root, async () => {
      const now = options.now ?? Date.now()
      const grace = options.graceMs ?? DEFAULT_GRACE_MS
      const recent = (file: FileInfo) => now - file.mtimeMs < grace
      const { records, blobFiles, temps } = await inventory()
      const blobs = new Map(blobFiles.map((f) => [`sha256:${f.name}`, f]))
      const digestsOf = (record: ActionRecord) => new Set(record.blobs.map((b) => b.digest))
      const refs = new Map<string, number>()
      for (const { record } of records) {
        if (record !== undefined) for (const d of digestsOf(record)) refs.set(d, (refs.get(d) ?? 0) + 1)
      }
      const result = { removedRecords: 0, removedBlobs: 0, removedTemps: 0, freedBytes: 0 }
      const remove = async (file: FileInfo) => {
        await rm(file.path, { force: true })
        result.freedBytes += file.size
      }
      const collectBlob = async (digest: string) => {
        const file = blobs.get(digest)
        if (file === undefined || (refs.get(digest) ?? 0) > 0 || recent(file)) return
        await remove(file)
        blobs.delete(digest)
        result.removedBlobs++
      }
      const live = records.flatMap(({ file, record }) => (record === undefined ? [] : [{ file, record }]))
      for (const r of records) {
        if (r.record !== undefined) continue
        await remove(r.file)
        result.removedRecords++
      }
      for (const digest of [...blobs.keys()]) await collectBlob(digest)
      const size = () => live.reduce((s, r) => s + r.file.size, 0) + [...blobs.values()].reduce((s, f) => s + f.size, 0)
      for (const entry of [...live].sort((a, b) => a.file.mtimeMs - b.file.mtimeMs)) {
        if (size() <= options.maxSize || recent(entry.file)) break
        // Another process may have hit this record since the inventory: keep it then.
        const current = await lstat(entry.file.path).catch(() => undefined)
        if (current === undefined || current.mtimeMs !== entry.file.mtimeMs) continue
        await remove(entry.file)
        live.splice(live.indexOf(entry), 1)
        result.removedRecords++
        for (const d of digestsOf(entry.record)) {
          refs.set(d, (refs.get(d) ?? 1) - 1)
          await collectBlob(d)
        }
      }
      for (const t of temps) {
        if (recent(t)) continue
        await rm(t.path, { force: true })
        result.removedTemps++
      }
      // Temp dirs of builds that were killed before they could clean up.
      for (const name of await readdir(tmpDir).catch((): Array<string> => [])) {
        const path = join(tmpDir, name)
        const info = await lstat(path).catch(() => undefined)
        if (info === undefined || now - info.mtimeMs < grace) continue
        await rm(path, { recursive: true, force: true })
        result.removedTemps++
      }
      // Only a removed entry can make what another process remembers wrong.
      if (result.removedRecords > 0 || result.removedBlobs > 0) newGeneration(root)
      return { ...result, remainingBytes: size() }
    })

  const clear: CacheStore["clear"] = attempt("clear", root, async () => {
    for (const dir of ["ac", "blobs", "runs", "trees", "tmp"]) await rm(join(root, dir), { recursive: true, force: true })
    await mkdir(blobsDir, { recursive: true })
    await mkdir(acDir, { recursive: true })
    newGeneration(root)
  })

  return {
    root,
    blobPath,
    checkBlob,
    putBlob,
    putBlobFromFile,
    tempDir,
    linkBlob,
    readBlob,
    readRecord,
    writeRecord,
    touchRecord,
    removeRecord,
    removeBlob,
    readDocument: (dir, name, schema) => readAt(documentPath(dir, name), schema),
    writeDocument: (dir, name, schema, value) => writeAt(documentPath(dir, name), schema, value),
    now: {
      readRecord: readRecordFile,
      checkBlob: statBlob,
      touchRecord: (key, seenMtimeMs) => {
        try {
          if (isTaskKey(key)) touchRecordFile(key, seenMtimeMs)
        } catch {
          // Only prune's order suffers, as with a read-only cache; the Effect form reports it.
        }
      },
      readDocument: (dir, name, schema) => readDocumentFile(documentPath(dir, name), schema),
      blobInPlace: (digest, dest) => isKnownDigest(digest) && blobInPlace(digest, dest),
      writeDocument: (dir, name, schema, value) => {
        const path = documentPath(dir, name)
        return Either.match(encodeDocument(schema, value), {
          onLeft: (detail) => ioError("encode", path)(new Error(detail)),
          onRight: (text) => {
            try {
              rememberWritten(path, writeFileAtomicNow(path, text), schema, value)
              return undefined
            } catch (cause) {
              return ioError("write", path)(cause)
            }
          }
        })
      }
    },
    ls,
    stats,
    prune,
    clear
  }
}
