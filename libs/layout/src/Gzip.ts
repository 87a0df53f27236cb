import { Stream } from "effect"
import { pipeline } from "node:stream"
import { Readable } from "node:stream"
import { createGzip, gzipSync } from "node:zlib"
import { LayoutError } from "./Errors"
import { asLayoutError } from "./Tar"

/** mise (flate2) writes mtime 0, XFL 0 and OS 255 ("unknown"); Node writes OS 3, the only byte to patch. */
export const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff])

/** Level 6 is flate2's `Compression::new(6)` in mise; the deflate bytes still differ (zlib-rs vs zlib), diff_ids do not. */
export const GZIP_LEVEL = 6

const OS_BYTE = 9

/** Checks Node's header against mise's and sets the OS byte; anything else different means zlib changed under us. */
const patchHeader = (chunk: Buffer, offset: number): void => {
  for (let i = 0; i < chunk.length && offset + i < GZIP_HEADER.length; i++) {
    const at = offset + i
    if (at === OS_BYTE) chunk[i] = 0xff
    else if (chunk[i] !== GZIP_HEADER[at]) {
      throw new LayoutError({
        reason: "Io",
        message: `node:zlib wrote an unexpected gzip header byte ${chunk[i]} at offset ${at}; cannot produce mise's header`
      })
    }
  }
}

/** A whole gzip member in memory with mise's header: for small blobs, and for chunked parallel compression. */
export const gzipMiseBytes = (data: Uint8Array): Buffer => {
  const out = gzipSync(data, { level: GZIP_LEVEL })
  patchHeader(out, 0)
  return out
}

/** Streams `source` through one gzip member with mise's header; memory stays bounded by the stream buffers. */
export async function* gzipChunks(source: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  const gz = createGzip({ level: GZIP_LEVEL })
  // Failures on either side destroy `gz`, so they surface from the loop below; the callback has nothing left to report.
  pipeline(Readable.from(source, { objectMode: false }), gz, () => undefined)
  let offset = 0
  for await (const chunk of gz as AsyncIterable<Buffer>) {
    if (offset < GZIP_HEADER.length) patchHeader(chunk, offset)
    offset += chunk.length
    yield chunk
  }
}

/** Effect-facing compressor, kept separate from the tar producer so another compressor can replace it. */
export const gzipMise = (input: Stream.Stream<Uint8Array, LayoutError>): Stream.Stream<Uint8Array, LayoutError> =>
  Stream.fromAsyncIterable(gzipChunks(Stream.toAsyncIterable(input)), asLayoutError("compressing layer"))
