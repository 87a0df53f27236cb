import { Stream } from "effect"
import { pipeline, Readable } from "node:stream"
import { availableParallelism } from "node:os"
import type { Worker } from "node:worker_threads"
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

/** Room for one compressed member: deflate's worst case (stored blocks) plus the gzip wrapper, with margin. */
const outputBound = (memberSize: number): number => memberSize + (memberSize >> 10) + 1024

/**
 * Member-sized buffers on SharedArrayBuffers, kept for reuse: workers read them without a copy, and fresh memory
 * is the dearest thing on a VM (first-touch page faults cost more than compressing the bytes' share of the text).
 */
const freeBuffers = new Map<number, Array<Buffer>>()
const pooled = new WeakSet<ArrayBufferLike>()
/**
 * Free buffers kept per size. Within a layer a released member's buffer is taken by the next at once, so two suffice;
 * more would stay behind after a big layer, and in a long-lived process (the daemon) that much external memory sets
 * V8 off on a full collection in every later build (measured: two per build of 40 small tools after a 150 MB layer).
 */
const KEEP_FREE = 2

/** A buffer of exactly `size` bytes from the pool; `giveBuffer` returns it once nothing reads or writes it. */
export const takeBuffer = (size: number): Buffer => {
  const reused = freeBuffers.get(size)?.pop()
  if (reused !== undefined) return reused
  const shared = new SharedArrayBuffer(size)
  pooled.add(shared)
  return Buffer.from(shared)
}

/** `b` starts a pooled buffer (it may be shorter than it); `isPooled`: it is the whole of one. */
const startsPooled = (b: Buffer): boolean => pooled.has(b.buffer) && b.byteOffset === 0
const isPooled = (b: Buffer): boolean => startsPooled(b) && b.length === b.buffer.byteLength

const giveBuffer = (b: Buffer): void => {
  if (!isPooled(b)) return
  const free = freeBuffers.get(b.length) ?? []
  if (free.length < KEEP_FREE) free.push(b)
  freeBuffers.set(b.length, free)
}

/**
 * The compressing workers: one per core, created with the first full member and kept (unref'd while idle) for the
 * rest of the process. A worker runs zlib's one-shot gzip on a shared input (no copy) and hands the member's buffer
 * over (no copy either). Same zlib, same level: the bytes equal `gzipMiseBytes`.
 */
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads")
const { gzipSync } = require("node:zlib")
parentPort.on("message", ({ id, input, length, level, bound }) => {
  try {
    const out = gzipSync(new Uint8Array(input, 0, length), { level, chunkSize: bound })
    // The member's own buffer moves to the caller: nothing stays behind here for a lazy GC to find.
    const own = out.byteOffset === 0 ? out.buffer : new Uint8Array(out).buffer
    parentPort.postMessage({ id, output: own, length: out.length }, [own])
  } catch (e) {
    parentPort.postMessage({ id, error: String(e && e.message || e) })
  }
})
`

interface Lane {
  readonly worker: Worker
  readonly jobs: Map<number, { readonly resolve: (member: Buffer) => void; readonly reject: (e: Error) => void }>
}

let lanes: Array<Lane> | undefined
let nextJob = 0

const dropLanes = (cause: Error) => {
  const gone = lanes ?? []
  lanes = undefined
  for (const lane of gone) {
    for (const job of lane.jobs.values()) job.reject(cause)
    lane.jobs.clear()
    void lane.worker.terminate()
  }
}

interface Reply {
  readonly id: number
  readonly output?: ArrayBuffer
  readonly length?: number
  readonly error?: string
}

const startLanes = (): Array<Lane> =>
  Array.from({ length: availableParallelism() }, () => {
    // worker_threads is loaded here, not at start-up: most commands never compress a big layer.
    const { Worker } = process.getBuiltinModule("node:worker_threads")
    const lane: Lane = { worker: new Worker(WORKER_SOURCE, { eval: true }), jobs: new Map() }
    lane.worker.unref()
    lane.worker.on("message", (m: Reply) => {
      const job = lane.jobs.get(m.id)
      lane.jobs.delete(m.id)
      if (lane.jobs.size === 0) lane.worker.unref()
      if (m.output === undefined || m.length === undefined) job?.reject(new Error(`compressing a gzip member: ${m.error ?? "no result"}`))
      else job?.resolve(Buffer.from(m.output, 0, m.length))
    })
    lane.worker.on("error", (e) => dropLanes(new Error(`a compression worker failed: ${e.message}`)))
    return lane
  })

/** Compresses the first `length` bytes of the shared `input` on the least busy worker; resolves to the member. */
const compressOnWorker = (input: Buffer, length: number, bound: number): Promise<Buffer> => {
  lanes ??= startLanes()
  const lane = lanes.reduce((a, b) => (b.jobs.size < a.jobs.size ? b : a))
  const id = nextJob++
  return new Promise<Buffer>((resolve, reject) => {
    lane.jobs.set(id, { resolve, reject })
    lane.worker.ref()
    lane.worker.postMessage({ id, input: input.buffer, length, level: GZIP_LEVEL, bound })
  })
}

export interface GzipMembersOptions {
  readonly memberSize?: number
  /** Members compressed at once (default: the core count). The bytes do not depend on it. */
  readonly parallel?: number
}

/**
 * A multi-member gzip (RFC 1952 allows any number of members; every runtime reads it): the input is cut into
 * `memberSize` pieces, each compressed on its own on a worker thread, up to `parallel` at a time, and written in
 * order. One big tool then uses every core; a layer under one member is byte-identical to `gzipChunks`'s output and
 * is compressed on libuv's thread pool, so small layers start no worker (nor use one). A source chunk that is a whole
 * member from `takeBuffer(memberSize)` is compressed in place and returned to the pool: the tar producer fills members
 * directly.
 * So is a chunk that starts such a buffer (the producer's last one): the producer hands it over and never touches it.
 */
export async function* gzipMembers(source: AsyncIterable<Uint8Array>, opts: GzipMembersOptions = {}): AsyncGenerator<Buffer> {
  const memberSize = opts.memberSize ?? GZIP_MEMBER_SIZE
  const parallel = Math.max(1, opts.parallel ?? availableParallelism())
  const bound = outputBound(memberSize)
  const inFlight: Array<{ readonly input: Buffer; readonly done: Promise<Buffer> }> = []
  let filling: Buffer | undefined
  let filled = 0
  let members = 0
  const submit = (input: Buffer, length: number) => {
    inFlight.push({ input, done: compressOnWorker(input, length, bound) })
    members++
  }
  const next = async (): Promise<Buffer> => {
    const job = inFlight.shift()!
    const out = await job.done
    giveBuffer(job.input)
    setInformationalFields(out, 0)
    return out
  }
  try {
    for await (const chunk of source) {
      const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length)
      if (filled === 0 && bytes.length === memberSize && isPooled(bytes)) {
        submit(bytes, memberSize)
        if (inFlight.length >= parallel) yield await next()
        continue
      }
      // The producer's last, partly filled member: it becomes the one being filled (a small layer is only that).
      if (filling === undefined && startsPooled(bytes) && bytes.buffer.byteLength === memberSize) {
        filling = Buffer.from(bytes.buffer, 0, memberSize)
        filled = bytes.length
        continue
      }
      for (let offset = 0; offset < bytes.length;) {
        filling ??= takeBuffer(memberSize)
        const n = bytes.copy(filling, filled, offset, Math.min(bytes.length, offset + memberSize - filled))
        filled += n
        offset += n
        if (filled === memberSize) {
          submit(filling, memberSize)
          filling = undefined
          filled = 0
          if (inFlight.length >= parallel) yield await next()
        }
      }
    }
    if (members === 0) {
      // One member: the thread pool does it, workers or not. On a worker, zlib's one-shot output buffer is a member's
      // bound (8 MB) for the few hundred KB of a small layer, and that much external memory per layer, in a process
      // that has once started the workers (the daemon after a big layer), brought on full collections.
      const out = await gzipAsync(filling === undefined ? Buffer.alloc(0) : filling.subarray(0, filled), { level: GZIP_LEVEL })
      if (filling !== undefined) giveBuffer(filling)
      filling = undefined
      setInformationalFields(out, 0)
      yield out
      return
    }
    // The last, partly filled member (an empty input was one empty member above).
    if (filling !== undefined && filled > 0) {
      submit(filling, filled)
      filling = undefined
    }
    while (inFlight.length > 0) yield await next()
  } finally {
    // Abandoned members: their inputs go back only once the worker is done with them; failures are already moot.
    for (const job of inFlight) job.done.then(() => giveBuffer(job.input), () => undefined)
    if (filling !== undefined) giveBuffer(filling)
  }
}

/** Effect-facing compressor, kept separate from the tar producer so another compressor can replace it. */
export const gzipMise = (input: Stream.Stream<Uint8Array, LayoutError>): Stream.Stream<Uint8Array, LayoutError> =>
  Stream.suspend(() => Stream.fromAsyncIterable(gzipChunks(Stream.toAsyncIterable(input)), asLayoutError("compressing layer")))
