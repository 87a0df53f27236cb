import { Stream } from "effect"
import { pipeline, Readable } from "node:stream"
import { availableParallelism } from "node:os"
import { promisify } from "node:util"
import { createGzip, gzip, gzipSync } from "node:zlib"
import { asLayoutError, LayoutError } from "./Errors"

/** mise (flate2) writes mtime 0, XFL 0 and OS 255 ("unknown"); Node's header differs only in the OS byte (3). */
export const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff])

/** Level 6 is flate2's `Compression::new(6)` in mise; the deflate bytes still differ (zlib-rs vs zlib), diff_ids do not. */
export const GZIP_LEVEL = 6

/** Bytes 4–9 (mtime, XFL, OS) are informational; bytes 0–3 (magic, method, flags) must already be mise's. */
const setInformationalFields = (chunk: Buffer, offset: number): void => {
  for (let i = Math.max(0, 4 - offset); i < chunk.length && offset + i < GZIP_HEADER.length; i++) {
    chunk[i] = GZIP_HEADER[offset + i] ?? 0
  }
}

/** A whole gzip member in memory with mise's header: for small blobs, and for chunked parallel compression. */
export const gzipMiseBytes = (data: Uint8Array): Buffer => {
  const out = gzipSync(data, { level: GZIP_LEVEL })
  setInformationalFields(out, 0)
  return out
}

/** Streams `source` through one gzip member with mise's header; memory stays bounded by the stream buffers. */
export async function* gzipChunks(source: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  const gz = createGzip({ level: GZIP_LEVEL })
  // Failures on either side destroy `gz`, so they surface from the loop below; the callback has nothing left to report.
  pipeline(Readable.from(source, { objectMode: false }), gz, () => undefined)
  let offset = 0
  for await (const chunk of gz as AsyncIterable<Buffer>) {
    for (let i = 0; i < chunk.length && offset + i < 4; i++) {
      // A flag bit (FNAME, FEXTRA…) would change the header's length; only a zlib change could cause it.
      if (chunk[i] !== GZIP_HEADER[offset + i]) {
        throw new LayoutError({ reason: "Io", message: `node:zlib wrote gzip header byte ${chunk[i]} at offset ${offset + i}; mise's header needs ${GZIP_HEADER[offset + i]}` })
      }
    }
    if (offset < GZIP_HEADER.length) setInformationalFields(chunk, offset)
    offset += chunk.length
    yield chunk
  }
}

const gzipAsync = promisify(gzip)

/**
 * Uncompressed bytes per gzip member. Fixed, so the output is the same whatever the core count; large enough that
 * the extra member headers and lost history cost well under 0.1% of the compressed size.
 */
export const GZIP_MEMBER_SIZE = 8 * 1024 * 1024

/**
 * A multi-member gzip (RFC 1952 allows any number of members; every runtime reads it): the input is cut into
 * GZIP_MEMBER_SIZE pieces, each compressed on its own on libuv's thread pool, up to `parallel` at a time, and written
 * in order. One big tool then uses every core; a layer under one member is byte-identical to `gzipChunks`'s output.
 */
export async function* gzipMembers(
  source: AsyncIterable<Uint8Array>,
  opts: { readonly memberSize?: number; readonly parallel?: number } = {}
): AsyncGenerator<Buffer> {
  const memberSize = opts.memberSize ?? GZIP_MEMBER_SIZE
  const parallel = Math.max(1, opts.parallel ?? availableParallelism())
  const inFlight: Array<Promise<Buffer>> = []
  const compress = (piece: Buffer) =>
    gzipAsync(piece, { level: GZIP_LEVEL }).then((out) => {
      setInformationalFields(out, 0)
      return out
    })
  let pending: Array<Uint8Array> = []
  let pendingSize = 0
  let members = 0
  const cut = (): Buffer => {
    const all = Buffer.concat(pending, pendingSize)
    const piece = all.subarray(0, memberSize)
    const rest = all.subarray(memberSize)
    pending = rest.length > 0 ? [rest] : []
    pendingSize = rest.length
    return piece
  }
  try {
    for await (const chunk of source) {
      pending.push(chunk)
      pendingSize += chunk.length
      while (pendingSize >= memberSize) {
        inFlight.push(compress(cut()))
        members++
        if (inFlight.length >= parallel) yield await inFlight.shift()!
      }
    }
    // An empty input still needs one (empty) member to be a valid gzip stream.
    if (pendingSize > 0 || members === 0) inFlight.push(compress(Buffer.concat(pending, pendingSize)))
    while (inFlight.length > 0) yield await inFlight.shift()!
  } finally {
    // Rejections of abandoned members (on an error above) must not surface as unhandled.
    for (const p of inFlight) p.catch(() => undefined)
  }
}

/** Effect-facing compressor, kept separate from the tar producer so another compressor can replace it. */
export const gzipMise = (input: Stream.Stream<Uint8Array, LayoutError>): Stream.Stream<Uint8Array, LayoutError> =>
  Stream.suspend(() => Stream.fromAsyncIterable(gzipChunks(Stream.toAsyncIterable(input)), asLayoutError("compressing layer")))
