import { Stream } from "effect"
import { constants as fsConstants } from "node:fs"
import { type FileHandle, open } from "node:fs/promises"
import { asLayoutError, ioError, LayoutError } from "./Errors"
import { type LayerEntry, type Owner, tarName } from "./LayerEntry"

export const BLOCK = 512

/** Size of the chunks the tar producer yields; file reads go straight into them, so this bounds its memory. */
export const TAR_CHUNK = 256 * 1024

const NAME_LEN = 100
const LONG_LINK_NAME = Buffer.from("././@LongLink")

export const TypeFlag = { File: 0x30, Symlink: 0x32, Dir: 0x35, LongName: 0x4c, LongLink: 0x4b } as const

export interface HeaderFields {
  readonly name: Uint8Array
  readonly mode: number
  readonly uid: number
  readonly gid: number
  readonly size: number
  readonly typeflag: number
  readonly linkname?: Uint8Array
}

/** tar-rs `octal_into`: zero-padded octal in all but the last byte (left NUL); only the low digits fit. */
const octalInto = (header: Buffer, offset: number, length: number, value: number | bigint): void => {
  const digits = value.toString(8).padStart(length - 1, "0").slice(-(length - 1))
  header.write(digits, offset, "latin1")
}

/** tar-rs `num_field_wrapper_into`: GNU base-256 once octal would overflow (8 GiB sizes, uids >= 2^21). */
const numberInto = (header: Buffer, offset: number, length: number, value: number): void => {
  if (value >= 8_589_934_592 || (value >= 2_097_152 && length === 8)) {
    header.fill(0, offset, offset + length)
    header.writeBigUInt64BE(BigInt(value), offset + length - 8)
    header[offset] = (header[offset] ?? 0) | 0x80
  } else {
    octalInto(header, offset, length, value)
  }
}

/**
 * One GNU header exactly as tar-rs `Header::new_gnu` fills it for mise: magic `ustar ` + version ` \0`, mtime 0,
 * empty uname/gname, NUL devmajor/devminor, checksum as 6 octal digits + NUL + space. Names longer than 100 bytes
 * must be handled by the caller (`entryHeader` adds the GNU long-name records).
 */
export const encodeHeader = (h: HeaderFields): Buffer => {
  const header = Buffer.alloc(BLOCK)
  header.set(h.name.subarray(0, NAME_LEN), 0)
  octalInto(header, 100, 8, h.mode)
  numberInto(header, 108, 8, h.uid)
  numberInto(header, 116, 8, h.gid)
  numberInto(header, 124, 12, h.size)
  numberInto(header, 136, 12, 0)
  header[156] = h.typeflag
  if (h.linkname !== undefined) header.set(h.linkname.subarray(0, NAME_LEN), 157)
  header.write("ustar  ", 257, "latin1")
  header.fill(0x20, 148, 156)
  let sum = 0
  for (const byte of header) sum += byte
  header.write(sum.toString(8).padStart(6, "0"), 148, "latin1")
  header[154] = 0
  header[155] = 0x20
  return header
}

const padding = (size: number): number => (BLOCK - (size % BLOCK)) % BLOCK

/** A GNU `././@LongLink` record: always 0644 and root-owned (whatever the layer owner), data = value + NUL. */
const longRecord = (typeflag: number, value: Uint8Array): Buffer => {
  const size = value.length + 1
  return Buffer.concat([
    encodeHeader({ name: LONG_LINK_NAME, mode: 0o644, uid: 0, gid: 0, size, typeflag }),
    value,
    Buffer.alloc(1 + padding(size))
  ])
}

/** The header block(s) of one entry: a `K` record for a long link target, an `L` record for a long name, then the header. */
export const entryHeader = (entry: LayerEntry, owner: Owner, size: number): Buffer => {
  const name = tarName(entry)
  const parts: Array<Buffer> = []
  // jdx-tar writes a long link target's `K` record before the long name's `L` record (byte-checked against mise).
  if (entry.kind === "symlink" && entry.target.length > NAME_LEN) parts.push(longRecord(TypeFlag.LongLink, entry.target))
  if (name.length > NAME_LEN) parts.push(longRecord(TypeFlag.LongName, name))
  const own = entry.owner ?? owner
  switch (entry.kind) {
    case "dir":
      parts.push(encodeHeader({ name, mode: entry.mode, ...own, size: 0, typeflag: TypeFlag.Dir }))
      break
    case "file":
      parts.push(encodeHeader({ name, mode: entry.mode, ...own, size, typeflag: TypeFlag.File }))
      break
    case "symlink":
      parts.push(encodeHeader({ name, mode: 0o777, ...own, size: 0, typeflag: TypeFlag.Symlink, linkname: entry.target }))
      break
  }
  return Buffer.concat(parts)
}

const invalid = (entry: LayerEntry, why: string) =>
  new LayoutError({ reason: "InvalidEntry", message: `tar entry ${entry.path.toString()}: ${why}`, path: entry.path.toString() })

const checkEntry = (entry: LayerEntry): LayoutError | undefined => {
  if (entry.path.length === 0 || entry.path.includes(0)) return invalid(entry, "path is empty or contains NUL")
  if (entry.kind !== "symlink" && !(Number.isInteger(entry.mode) && entry.mode >= 0 && entry.mode <= 0o7777)) {
    return invalid(entry, `mode ${entry.mode} is not a permission value (0 to 0o7777)`)
  }
  if (entry.kind === "symlink" && (entry.target.length === 0 || entry.target.includes(0))) {
    return invalid(entry, "link target is empty or contains NUL")
  }
  return undefined
}

const changed = (path: string, detail: string) =>
  new LayoutError({
    reason: "FileChanged",
    message: `file changed while the layer was being written: ${path} (${detail}); re-run once nothing is writing to it`,
    path
  })

/** Opens without blocking (a FIFO swapped in after the walk must not hang us) and insists on a regular file. */
const openRegular = async (path: Buffer): Promise<{ fh: FileHandle; size: number }> => {
  const shown = path.toString()
  const fh = await open(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK).catch((cause: unknown) => {
    throw ioError("open", shown)(cause)
  })
  const stat = await fh.stat()
  if (!stat.isFile()) {
    await fh.close()
    throw new LayoutError({ reason: "InvalidEntry", message: `${shown} is no longer a regular file`, path: shown })
  }
  return { fh, size: stat.size }
}

/**
 * The uncompressed tar of `entries`, produced incrementally: headers and data are packed into TAR_CHUNK-sized
 * buffers (or the caller's `newChunk` buffers, all of one size), file data is read straight into them. Ends with two
 * zero blocks and no record padding (as tar-rs).
 * Failures are thrown as LayoutError; `tarStream` is the Effect-facing wrapper.
 */
export async function* tarChunks(
  entries: Iterable<LayerEntry>,
  owner: Owner,
  newChunk: () => Buffer = () => Buffer.allocUnsafe(TAR_CHUNK)
): AsyncGenerator<Buffer> {
  let chunk = newChunk()
  const chunkSize = chunk.length
  let used = 0
  const full = (): Buffer => {
    const out = chunk
    chunk = newChunk()
    used = 0
    return out
  }
  function* put(bytes: Uint8Array): Generator<Buffer> {
    let offset = 0
    while (offset < bytes.length) {
      const n = Math.min(chunkSize - used, bytes.length - offset)
      chunk.set(bytes.subarray(offset, offset + n), used)
      used += n
      offset += n
      if (used === chunkSize) yield full()
    }
  }
  function* zeros(count: number): Generator<Buffer> {
    let left = count
    while (left > 0) {
      const n = Math.min(chunkSize - used, left)
      chunk.fill(0, used, used + n)
      used += n
      left -= n
      if (used === chunkSize) yield full()
    }
  }

  for (const entry of entries) {
    const bad = checkEntry(entry)
    if (bad !== undefined) throw bad
    if (entry.kind !== "file") {
      yield* put(entryHeader(entry, owner, 0))
      continue
    }
    const source = entry.source
    if (source.type === "bytes") {
      if (entry.size !== undefined && entry.size !== source.data.length) {
        throw invalid(entry, `size ${entry.size} does not match its ${source.data.length} data bytes`)
      }
      yield* put(entryHeader(entry, owner, source.data.length))
      yield* put(source.data)
      yield* zeros(padding(source.data.length))
      continue
    }
    const shown = source.path.toString()
    const { fh, size: diskSize } = await openRegular(source.path)
    const head = source.replaceHead
    const size = diskSize + (head !== undefined ? head.data.length - head.original.length : 0)
    try {
      if (entry.size !== undefined && entry.size !== size) throw changed(shown, `expected ${entry.size} bytes, found ${size}`)
      yield* put(entryHeader(entry, owner, size))
      let remaining = diskSize
      if (head !== undefined) {
        const original = Buffer.alloc(head.original.length)
        const { bytesRead } = await fh.read(original, 0, original.length, null)
        if (bytesRead !== original.length || !original.equals(head.original)) {
          throw changed(shown, "its first line changed")
        }
        remaining -= original.length
        yield* put(head.data)
      }
      while (remaining > 0) {
        const { bytesRead } = await fh.read(chunk, used, Math.min(chunkSize - used, remaining), null)
        if (bytesRead === 0) throw changed(shown, `it shrank below the ${diskSize} bytes it had when opened`)
        used += bytesRead
        remaining -= bytesRead
        if (used === chunkSize) yield full()
      }
      const probe = await fh.read(Buffer.alloc(1), 0, 1, null)
      if (probe.bytesRead !== 0) throw changed(shown, `it grew past the ${diskSize} bytes it had when opened`)
    } finally {
      await fh.close()
    }
    yield* zeros(padding(size))
  }
  yield* zeros(2 * BLOCK)
  if (used > 0) yield chunk.subarray(0, used)
}

/** The uncompressed tar as an Effect stream of chunks. */
export const tarStream = (entries: Iterable<LayerEntry>, owner: Owner): Stream.Stream<Uint8Array, LayoutError> =>
  Stream.suspend(() => Stream.fromAsyncIterable(tarChunks(entries, owner), asLayoutError("writing tar")))
