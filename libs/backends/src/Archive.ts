import { Data, Effect } from "effect"
import { createReadStream, createWriteStream } from "node:fs"
import * as fsp from "node:fs/promises"
import * as NodePath from "node:path"
import { Readable } from "node:stream"
import { pipeline } from "node:stream/promises"
import * as zlib from "node:zlib"
import * as tar from "tar-stream"
import * as yauzl from "yauzl"

/** The native xz decoder is loaded on first use: most builds unpack no .xz and start-up stays small. */
const xzDecompress = async (data: Buffer): Promise<Buffer> => (await import("@napi-rs/lzma")).xz.decompress(data)

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

const SUPPORTED = "tar.gz, tar.xz, tar, zip (and single gz/xz files)"

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
      return async () => createReadStream(archive).pipe(zlib.createGunzip())
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

/** Decompress a single `.gz`/`.xz` file to `dest` with mode 0755 (mise makes such downloads executable). */
export const decompressFile = (archive: string, format: ArchiveFormat, dest: string): Effect.Effect<void, ArchiveError> =>
  Effect.tryPromise({
    try: async () => {
      await fsp.mkdir(NodePath.dirname(dest), { recursive: true })
      if (format === "gz") {
        await writeFile(dest, createReadStream(archive).pipe(zlib.createGunzip()), 0o755)
      } else if (format === "xz") {
        await writeFile(dest, Readable.from([await xzDecompress(await fsp.readFile(archive))]), 0o755)
      } else {
        throw new Reject(undefined, `${format} compressed files are not supported yet (supported: gz, xz)`)
      }
    },
    catch: toArchiveError(archive)
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
