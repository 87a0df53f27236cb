import { Data, Effect } from "effect"
import { createReadStream, createWriteStream } from "node:fs"
import * as fsp from "node:fs/promises"
import * as NodePath from "node:path"
import { Readable, Transform } from "node:stream"
import { pipeline } from "node:stream/promises"
import * as zlib from "node:zlib"
import * as tar from "tar-stream"
import * as yauzl from "yauzl"

/** The native xz decoder is loaded on first use: most builds unpack no .xz and start-up stays small. */
const xzDecompress = async (data: Buffer): Promise<Buffer> => (await import("@napi-rs/lzma")).xz.decompress(data)

type Compression = "gz" | "xz" | "bz2" | "zst"
type StreamedCompression = Exclude<Compression, "xz">

interface PushDecoder {
  readonly write: (chunk: Uint8Array) => void
  readonly end: () => void
}

/** A push-style decoder (fzstd, unbzip2-stream) as a Node transform, so backpressure and errors flow as for zlib. */
const pushDecoder = (make: (emit: (data: Uint8Array) => void) => PushDecoder): Transform => {
  const step = (run: () => void, callback: (error?: Error | null) => void) => {
    try {
      run()
      callback()
    } catch (e) {
      callback(e instanceof Error ? e : new Error(String(e)))
    }
  }
  const transform: Transform = new Transform({
    transform: (chunk: Buffer, _encoding, callback) => step(() => decoder.write(chunk), callback),
    flush: (callback) => step(() => decoder.end(), callback)
  })
  const decoder = make((data) => transform.push(data))
  return transform
}

/** A streaming zstd decoder; fzstd is loaded on first use. */
const zstdDecoder = async (): Promise<Transform> => {
  const { Decompress } = await import("fzstd")
  return pushDecoder((emit) => {
    // fzstd may hand out views of its window: copy each block before it is reused.
    const decoder = new Decompress((data) => {
      if (data.length > 0) emit(Buffer.from(data))
    })
    return { write: (chunk) => decoder.push(chunk), end: () => decoder.push(new Uint8Array(0), true) }
  })
}

/** A streaming bzip2 decoder; unbzip2-stream reports failures as events, turned into throws here. */
const bzip2Decoder = async (): Promise<Transform> => {
  const { default: unbzip2 } = await import("unbzip2-stream")
  return pushDecoder((emit) => {
    const inner = unbzip2()
    let failure: Error | undefined
    inner.on("data", (data: Uint8Array) => emit(data))
    inner.on("error", (e: Error) => {
      failure ??= e
    })
    const checked = (run: () => void) => {
      run()
      if (failure !== undefined) throw failure
    }
    return { write: (chunk) => checked(() => inner.write(chunk)), end: () => checked(() => inner.end()) }
  })
}

/** The decoder of a compression, for both archives and single files. */
const decoderFor = (compression: StreamedCompression): Promise<Transform> =>
  compression === "gz" ? Promise.resolve(zlib.createGunzip()) : compression === "bz2" ? bzip2Decoder() : zstdDecoder()

/** `file` decoded as a stream; a read error or a decode error ends the returned stream with that error. */
const decodedStream = async (file: string, compression: StreamedCompression): Promise<Readable> => {
  const decoder = await decoderFor(compression)
  const input = createReadStream(file)
  input.on("error", (e) => decoder.destroy(e))
  decoder.on("close", () => input.destroy())
  return input.pipe(decoder)
}

/** Formats as mise names them (`ExtractionFormat`); `raw` is a file that is not an archive. */
export type ArchiveFormat =
  | "tar.gz"
  | "tar.xz"
  | "tar.bz2"
  | "tar.zst"
  | "tar.br"
  | "tar.lz4"
  | "tar.sz"
  | "tar"
  | "zip"
  | "7z"
  | "rar"
  | "gz"
  | "xz"
  | "bz2"
  | "zst"
  | "br"
  | "lz4"
  | "sz"
  | "raw"

const EXTENSIONS: Readonly<Record<string, ArchiveFormat>> = {
  "tar.gz": "tar.gz",
  tgz: "tar.gz",
  "tar.xz": "tar.xz",
  txz: "tar.xz",
  "tar.bz2": "tar.bz2",
  tbz2: "tar.bz2",
  tbz: "tar.bz2",
  "tar.zst": "tar.zst",
  tzst: "tar.zst",
  "tar.br": "tar.br",
  tbr: "tar.br",
  "tar.lz4": "tar.lz4",
  tlz4: "tar.lz4",
  "tar.sz": "tar.sz",
  tsz: "tar.sz",
  tar: "tar",
  zip: "zip",
  vsix: "zip",
  "7z": "7z",
  rar: "rar",
  gz: "gz",
  xz: "xz",
  bz2: "bz2",
  zst: "zst",
  br: "br",
  lz4: "lz4",
  sz: "sz",
  raw: "raw"
}

/** A `format` option value (`tar.gz`, `tgz`, `zip`, ...), or undefined when unknown. */
export const formatFromExtension = (ext: string): ArchiveFormat | undefined => EXTENSIONS[ext.toLowerCase()]

/** mise's `ExtractionFormat::from_file_name`: `x.tar.gz` → tar.gz, `x.tgz` → tar.gz, `x.gz` → gz, `x` → raw. */
export const formatFromFileName = (fileName: string): ArchiveFormat => {
  const name = fileName.toLowerCase()
  const tarAt = name.lastIndexOf(".tar.")
  if (tarAt >= 0) {
    const format = formatFromExtension(name.slice(tarAt + 1))
    if (format !== undefined) return format
  }
  const dot = name.lastIndexOf(".")
  return dot > 0 ? formatFromExtension(name.slice(dot + 1)) ?? "raw" : "raw"
}

export const isArchive = (f: ArchiveFormat): boolean => f.startsWith("tar") || f === "zip" || f === "7z" || f === "rar"

/** A single compressed file (`tool.gz`), not an archive. */
export const isCompressedFile = (f: ArchiveFormat): boolean => !isArchive(f) && f !== "raw"

export class ArchiveError extends Data.TaggedError("ArchiveError")<{
  readonly archive: string
  /** The offending entry, when one is to blame. */
  readonly entry?: string
  readonly message: string
  readonly cause?: unknown
}> {}

export interface ExtractOptions {
  readonly format: ArchiveFormat
  /**
   * Leading directories to drop, as mise does it: the contents of each top-level directory move up one level,
   * top-level files stay where they are (repeated for n > 1). `auto` strips one level when the archive holds a
   * single top-level directory and nothing else, and none otherwise.
   */
  readonly stripComponents: number | "auto"
}

export interface ExtractSummary {
  readonly files: number
  readonly directories: number
  readonly symlinks: number
  readonly hardlinks: number
  /** The strip that was applied (what `auto` decided). */
  readonly stripComponents: number
  /** Entries left out: devices and FIFOs. */
  readonly skipped: ReadonlyArray<string>
}

const SUPPORTED = "tar.gz, tar.xz, tar.bz2, tar.zst, tar, zip (and single gz/xz/bz2/zst files)"

/** Thrown inside this module's async code only; every public Effect turns it into an ArchiveError. */
class Reject extends Error {
  constructor(readonly entry: string | undefined, message: string) {
    super(message)
  }
}

type Kind = "file" | "directory" | "symlink" | "hardlink" | "skip"

interface RawEntry {
  readonly name: string
  readonly kind: Kind
  readonly mode: number
  readonly linkname?: string
  /** Present for files (and zip symlinks, whose target is their content). */
  readonly content?: () => Promise<AsyncIterable<Uint8Array>>
}

// ---------------------------------------------------------------------------------------------
// Reading archives as a sequence of entries

const tarKind = (type: tar.Header["type"] | null | undefined): Kind => {
  switch (type ?? "file") {
    case "file":
    case "contiguous-file":
      return "file"
    case "directory":
      return "directory"
    case "symlink":
      return "symlink"
    case "link":
      return "hardlink"
    default:
      return "skip"
  }
}

/** The decompressed tar stream, made anew for each pass (xz is decoded once and kept). */
const tarSource = (archive: string, format: ArchiveFormat): (() => Promise<Readable>) => {
  switch (format) {
    case "tar":
      return async () => createReadStream(archive)
    case "tar.gz":
      return () => decodedStream(archive, "gz")
    case "tar.bz2":
      return () => decodedStream(archive, "bz2")
    case "tar.zst":
      return () => decodedStream(archive, "zst")
    case "tar.xz": {
      let decoded: Promise<Buffer> | undefined
      return async () => {
        // @napi-rs/lzma has no streaming decoder: the tar is held in memory once, shared by both passes.
        decoded ??= fsp.readFile(archive).then(xzDecompress)
        return Readable.from([await decoded])
      }
    }
    default:
      throw new Reject(undefined, `${format} archives are not supported yet (supported: ${SUPPORTED})`)
  }
}

/** Bytes from a stream typed loosely (tar-stream's streamx entries yield `unknown`). */
async function* bytes(source: AsyncIterable<unknown>): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    if (chunk instanceof Uint8Array) yield chunk
    else if (typeof chunk === "string") yield Buffer.from(chunk)
  }
}

async function* tarEntries(source: () => Promise<Readable>): AsyncGenerator<RawEntry> {
  const input = await source()
  const extract = tar.extract()
  input.on("error", (e) => extract.destroy(e))
  input.pipe(extract)
  try {
    for await (const entry of extract) {
      const kind = tarKind(entry.header.type)
      try {
        yield {
          name: entry.header.name,
          kind,
          mode: entry.header.mode ?? (kind === "directory" ? 0o755 : 0o644),
          ...(entry.header.linkname !== null && entry.header.linkname !== undefined ? { linkname: entry.header.linkname } : {}),
          // tar-stream yields each entry's data once, from this stream.
          content: async () => bytes(entry)
        }
      } finally {
        entry.resume()
      }
    }
  } finally {
    // Stopping early (a rejected entry) must not leave the file open.
    input.destroy()
  }
}

const S_IFMT = 0o170000
const S_IFLNK = 0o120000
const S_IFDIR = 0o040000

async function* zipEntries(archive: string): AsyncGenerator<RawEntry> {
  const zip = await yauzl.openPromise(archive, { lazyEntries: true, autoClose: false, validateEntrySizes: true })
  try {
    for await (const entry of zip.eachEntry()) {
      const fromUnix = entry.versionMadeBy >> 8 === 3
      const unixMode = fromUnix ? (entry.externalFileAttributes >>> 16) & 0xffff : 0
      const isDir = entry.fileName.endsWith("/") || (unixMode & S_IFMT) === S_IFDIR
      const kind: Kind = isDir ? "directory" : (unixMode & S_IFMT) === S_IFLNK ? "symlink" : "file"
      // Zips from other systems carry no permissions; mise's zip crate leaves such files non-executable.
      const mode = unixMode & 0o7777 || (isDir ? 0o755 : 0o644)
      yield { name: entry.fileName, kind, mode, content: () => zip.openReadStreamPromise(entry) }
    }
  } finally {
    zip.close()
  }
}

const entriesOf = (archive: string, format: ArchiveFormat): (() => AsyncGenerator<RawEntry>) => {
  if (format === "zip") return () => zipEntries(archive)
  if (format.startsWith("tar")) {
    const source = tarSource(archive, format)
    return () => tarEntries(source)
  }
  throw new Reject(undefined, `${format} archives are not supported yet (supported: ${SUPPORTED})`)
}

// ---------------------------------------------------------------------------------------------
// Paths

/** An entry name as safe relative parts; `.` and empty parts go (mise skips leading `./`). */
const safeParts = (name: string, what = "entry"): ReadonlyArray<string> => {
  if (name.startsWith("/") || /^[A-Za-z]:[\\/]/.test(name)) {
    throw new Reject(name, `absolute archive path rejected: ${what} ${name}`)
  }
  const parts = name.split("/").filter((p) => p !== "" && p !== ".")
  if (parts.includes("..")) throw new Reject(name, `archive path traversal rejected: ${what} ${name}`)
  return parts
}

/** mise's strip: directories at depth <= n merge into the root; others lose up to n leading parts but keep their name. */
const stripParts = (parts: ReadonlyArray<string>, isDirectory: boolean, n: number): ReadonlyArray<string> | undefined => {
  if (isDirectory) return parts.length <= n ? undefined : parts.slice(n)
  return parts.slice(Math.min(n, parts.length - 1))
}

const key = (parts: ReadonlyArray<string>) => parts.join("/")

/**
 * Follow `target` from the link at `linkParts` through the links made so far; undefined if it leaves the root
 * (an absolute target, or `..` past the top, counting links it passes through).
 */
const resolveInside = (
  linkParts: ReadonlyArray<string>,
  target: string,
  links: ReadonlyMap<string, string>,
  depth = 0
): ReadonlyArray<string> | undefined => {
  if (target.startsWith("/") || depth > 40) return undefined
  const stack = linkParts.slice(0, -1)
  for (const part of target.split("/")) {
    if (part === "" || part === ".") continue
    if (part === "..") {
      if (stack.length === 0) return undefined
      stack.pop()
      continue
    }
    stack.push(part)
    const next = links.get(key(stack))
    if (next !== undefined) {
      const resolved = resolveInside(stack, next, links, depth + 1)
      if (resolved === undefined) return undefined
      stack.splice(0, stack.length, ...resolved)
    }
  }
  return stack
}

// ---------------------------------------------------------------------------------------------
// Inspect and extract

interface TopLevel {
  readonly name: string
  readonly isDirectory: boolean
}

const topLevel = async (entries: () => AsyncGenerator<RawEntry>): Promise<ReadonlyArray<TopLevel>> => {
  const seen = new Map<string, boolean>()
  for await (const entry of entries()) {
    const parts = entry.name.split("/").filter((p) => p !== "" && p !== ".")
    const first = parts[0]
    if (first === undefined) continue
    seen.set(first, (seen.get(first) ?? false) || entry.kind === "directory" || parts.length > 1)
  }
  return Array.from(seen, ([name, isDirectory]) => ({ name, isDirectory }))
}

const singleTopLevelDirectory = (top: ReadonlyArray<TopLevel>) => top.length === 1 && top[0]!.isDirectory

const writeFile = async (path: string, data: AsyncIterable<Uint8Array>, mode: number) => {
  await fsp.rm(path, { force: true })
  await pipeline(data, createWriteStream(path, { flags: "wx", mode: 0o600 }))
  // Set the mode after writing: the umask must not drop exec bits, and a read-only file must still be writable above.
  await fsp.chmod(path, mode & 0o777)
}

const readAll = async (stream: AsyncIterable<Uint8Array>): Promise<string> => {
  const chunks: Array<Uint8Array> = []
  for await (const chunk of stream) chunks.push(chunk)
  return Buffer.concat(chunks).toString("utf8")
}

const extractEntries = async (
  entries: () => AsyncGenerator<RawEntry>,
  dest: string,
  strip: number
): Promise<ExtractSummary> => {
  await fsp.mkdir(dest, { recursive: true })
  const links = new Map<string, string>()
  const files = new Set<string>()
  const skipped: Array<string> = []
  let directories = 0
  let hardlinks = 0

  const throughLink = (parts: ReadonlyArray<string>) => {
    for (let i = 1; i < parts.length; i++) {
      const prefix = key(parts.slice(0, i))
      if (links.has(prefix)) return prefix
    }
    return undefined
  }

  for await (const entry of entries()) {
    if (entry.kind === "skip") {
      skipped.push(entry.name)
      continue
    }
    const parts = stripParts(safeParts(entry.name), entry.kind === "directory", strip)
    if (parts === undefined || parts.length === 0) continue
    const via = throughLink(parts)
    if (via !== undefined) {
      throw new Reject(entry.name, `archive attempted to write through a symlink: ${entry.name} (via ${via})`)
    }
    const path = NodePath.join(dest, ...parts)
    await fsp.mkdir(NodePath.dirname(path), { recursive: true })
    const id = key(parts)
    switch (entry.kind) {
      case "directory": {
        if (links.has(id)) throw new Reject(entry.name, `archive attempted to write through a symlink: ${entry.name}`)
        await fsp.mkdir(path, { recursive: true })
        directories++
        break
      }
      case "file": {
        await writeFile(path, await entry.content!(), entry.mode)
        links.delete(id)
        files.add(id)
        break
      }
      case "symlink": {
        const target = entry.linkname ?? (await readAll(await entry.content!()))
        if (resolveInside(parts, target, links) === undefined) {
          throw new Reject(entry.name, `symlink ${entry.name} -> ${target} points outside the install dir`)
        }
        await fsp.rm(path, { force: true })
        await fsp.symlink(target, path)
        files.delete(id)
        links.set(id, target)
        break
      }
      case "hardlink": {
        const targetParts = stripParts(safeParts(entry.linkname ?? "", "hardlink target"), false, strip)
        const targetId = key(targetParts ?? [])
        if (!files.has(targetId) || throughLink(targetParts ?? []) !== undefined) {
          throw new Reject(entry.name, `hardlink ${entry.name} -> ${entry.linkname ?? ""} does not name a file extracted before it`)
        }
        await fsp.rm(path, { force: true })
        const source = NodePath.join(dest, ...(targetParts ?? []))
        // Hard links need one filesystem; a copy gives the same bytes and mode otherwise.
        await fsp.link(source, path).catch(() => fsp.copyFile(source, path))
        files.add(id)
        hardlinks++
        break
      }
    }
  }

  // A link checked early can be made to escape by a later one it passes through; check the final set.
  for (const [id, target] of links) {
    if (resolveInside(id.split("/"), target, links) === undefined) {
      throw new Reject(id, `symlink ${id} -> ${target} points outside the install dir`)
    }
  }
  return { files: files.size, directories, symlinks: links.size, hardlinks, stripComponents: strip, skipped }
}

const toArchiveError = (archive: string) => (e: unknown): ArchiveError => {
  if (e instanceof Reject) {
    return new ArchiveError({ archive, ...(e.entry !== undefined ? { entry: e.entry } : {}), message: `${archive}: ${e.message}` })
  }
  const text = e instanceof Error ? e.message : String(e)
  // yauzl refuses unsafe zip names itself; say so in the same words as for tar.
  const unsafe = /^(absolute path|invalid relative path|invalid characters in fileName): (.*)$/.exec(text)
  if (unsafe !== null) {
    return new ArchiveError({ archive, entry: unsafe[2]!, message: `${archive}: unsafe archive path rejected: ${unsafe[2]} (${unsafe[1]})`, cause: e })
  }
  return new ArchiveError({ archive, message: `${archive}: cannot extract: ${text}`, cause: e })
}

/** The archive's top-level names, each marked as a directory or not (mise's `inspect_*_contents`). */
export const topLevelEntries = (archive: string, format: ArchiveFormat): Effect.Effect<ReadonlyArray<TopLevel>, ArchiveError> =>
  Effect.tryPromise({ try: () => topLevel(entriesOf(archive, format)), catch: toArchiveError(archive) })

/** mise's `should_strip_components`: exactly one top-level entry, and it is a directory. */
export const hasSingleTopLevelDirectory = (archive: string, format: ArchiveFormat): Effect.Effect<boolean, ArchiveError> =>
  Effect.map(topLevelEntries(archive, format), singleTopLevelDirectory)

/**
 * Extract an archive into `dest`, never writing outside it: absolute and `..` paths, writes through a symlink,
 * symlinks that resolve outside `dest` and hardlinks to anything but an earlier file are refused; devices and
 * FIFOs are skipped. Exec bits and symlinks are kept.
 */
export const extractArchive = (
  archive: string,
  dest: string,
  options: ExtractOptions
): Effect.Effect<ExtractSummary, ArchiveError> =>
  Effect.tryPromise({
    try: async () => {
      const entries = entriesOf(archive, options.format)
      const strip = options.stripComponents === "auto"
        ? singleTopLevelDirectory(await topLevel(entries)) ? 1 : 0
        : options.stripComponents
      return extractEntries(entries, dest, strip)
    },
    catch: toArchiveError(archive)
  })

/** Decompress a single `.gz`/`.xz`/`.bz2`/`.zst` file to `dest` with mode 0755 (mise makes such downloads executable). */
export const decompressFile = (archive: string, format: ArchiveFormat, dest: string): Effect.Effect<void, ArchiveError> =>
  Effect.tryPromise({
    try: async () => {
      await fsp.mkdir(NodePath.dirname(dest), { recursive: true })
      if (format === "gz" || format === "bz2" || format === "zst") {
        await writeFile(dest, await decodedStream(archive, format), 0o755)
      } else if (format === "xz") {
        await writeFile(dest, Readable.from([await xzDecompress(await fsp.readFile(archive))]), 0o755)
      } else {
        throw new Reject(undefined, `${format} compressed files are not supported yet (supported: gz, xz, bz2, zst)`)
      }
    },
    catch: toArchiveError(archive)
  })

const startsWith = (head: Buffer, magic: ReadonlyArray<number>, at = 0) =>
  head.length >= at + magic.length && magic.every((byte, i) => head[at + i] === byte)

/** A tar header's `ustar` magic (POSIX `ustar\0` and old GNU `ustar  \0` alike). */
const isTarHeader = (head: Buffer) => startsWith(head, [0x75, 0x73, 0x74, 0x61, 0x72], 257)

/** What the first bytes of a file say it is, if they say anything. */
const magicOf = (head: Buffer): Compression | "zip" | "tar" | undefined => {
  if (startsWith(head, [0x1f, 0x8b])) return "gz"
  if (startsWith(head, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) return "xz"
  if (startsWith(head, [0x42, 0x5a, 0x68])) return "bz2"
  if (startsWith(head, [0x28, 0xb5, 0x2f, 0xfd])) return "zst"
  if (startsWith(head, [0x50, 0x4b, 0x03, 0x04]) || startsWith(head, [0x50, 0x4b, 0x05, 0x06])) return "zip"
  return isTarHeader(head) ? "tar" : undefined
}

const compressionOf = (format: ArchiveFormat): Compression | undefined => {
  const last = format.slice(format.lastIndexOf(".") + 1)
  return last === "gz" || last === "xz" || last === "bz2" || last === "zst" ? last : undefined
}

/** The first `size` bytes of a stream (fewer if it is shorter); the stream is closed after. */
const headOf = async (stream: AsyncIterable<Uint8Array> & { destroy: () => void }, size: number): Promise<Buffer> => {
  const chunks: Array<Uint8Array> = []
  let length = 0
  try {
    for await (const chunk of stream) {
      chunks.push(chunk)
      length += chunk.length
      if (length >= size) break
    }
  } finally {
    stream.destroy()
  }
  return Buffer.concat(chunks).subarray(0, size)
}

const TAR_HEADER = 512

/**
 * The format of a downloaded file: its magic bytes decide when they are known (a `.tar.gz` that is really a zip is a
 * zip), its name decides otherwise; for a compressed file whose name does not tell, a tar header after decoding makes
 * it `tar.<compression>`, else it is a single compressed file.
 */
export const detectFormat = (file: string, fileName: string = file): Effect.Effect<ArchiveFormat, ArchiveError> =>
  Effect.tryPromise({
    try: async (): Promise<ArchiveFormat> => {
      const byName = formatFromFileName(NodePath.basename(fileName))
      const magic = magicOf(await headOf(createReadStream(file, { end: TAR_HEADER - 1 }), TAR_HEADER))
      if (magic === undefined) return byName
      if (magic === "zip" || magic === "tar") return magic
      if (compressionOf(byName) === magic) return byName
      const decoded = magic === "xz"
        ? (await xzDecompress(await fsp.readFile(file))).subarray(0, TAR_HEADER)
        : await headOf(await decodedStream(file, magic), TAR_HEADER)
      return isTarHeader(decoded) ? `tar.${magic}` : magic
    },
    catch: toArchiveError(file)
  })

/** Copy a plain file to `dest` with mode 0755. */
export const installFile = (file: string, dest: string): Effect.Effect<void, ArchiveError> =>
  Effect.tryPromise({
    try: async () => {
      await fsp.mkdir(NodePath.dirname(dest), { recursive: true })
      await writeFile(dest, createReadStream(file), 0o755)
    },
    catch: toArchiveError(file)
  })
