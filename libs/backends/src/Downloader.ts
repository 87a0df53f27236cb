import { Context, Data, Effect, Layer, Schedule, type Scope } from "effect"
import { createHash, type Hash, randomBytes } from "node:crypto"
import { createWriteStream } from "node:fs"
import * as fsp from "node:fs/promises"
import { STATUS_CODES } from "node:http"
import * as NodePath from "node:path"
import { type Readable, Transform } from "node:stream"
import { pipeline } from "node:stream/promises"
import { Progress, type ProgressShape } from "@engine/layout"
import { describeNetworkError, discardBody, type HttpResponse, makeTransport } from "@engine/registry"

export type ChecksumAlgorithm = "sha256" | "sha512" | "sha1" | "md5"

export interface Checksum {
  readonly algorithm: ChecksumAlgorithm
  /** Lowercase hex. */
  readonly hex: string
}

export class DownloadError extends Data.TaggedError("DownloadError")<{
  readonly url: string
  /** The HTTP status, when the server answered. */
  readonly status?: number
  /** The answer's headers (lowercase names), when the server answered: rate-limit and retry hints live there. */
  readonly headers?: Readonly<Record<string, string>>
  /** The start of the answer's body, when the server answered with an error (API errors explain themselves). */
  readonly body?: string
  /** Whether trying again could help (network failure, 5xx, 408, 429). */
  readonly retryable: boolean
  readonly attempts: number
  readonly message: string
  readonly cause?: unknown
}> {}

export class ChecksumMismatchError extends Data.TaggedError("ChecksumMismatchError")<{
  readonly url: string
  readonly algorithm: ChecksumAlgorithm
  readonly expected: string
  readonly actual: string
  readonly message: string
}> {}

/** What `saveHashed` wrote: its size, its sha256, and its digest in the checksum's own algorithm. */
export interface SavedBody {
  readonly size: number
  readonly sha256: string
  readonly actual: string
}

/** Streams `body` into a new file `temp`, hashing it on the way (sha256, and the checksum's algorithm if another). */
export const saveHashed = async (
  body: Readable,
  temp: string,
  checksum: Checksum | undefined,
  signal: AbortSignal,
  onBytes: (n: number) => void = () => {}
): Promise<SavedBody> => {
  const sha256 = createHash("sha256")
  const extra: Hash | undefined = checksum !== undefined && checksum.algorithm !== "sha256" ? createHash(checksum.algorithm) : undefined
  let size = 0
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      sha256.update(chunk)
      extra?.update(chunk)
      size += chunk.length
      onBytes(chunk.length)
      done(null, chunk)
    }
  })
  await pipeline(body, tap, createWriteStream(temp, { flags: "wx" }), { signal })
  const digest = sha256.digest("hex")
  return { size, sha256: digest, actual: extra === undefined ? digest : extra.digest("hex") }
}

/** The mismatch of a saved body against its checksum, if any; `where` names the source (a URL, `s3://b/k`). */
export const checksumMismatch = (where: string, checksum: Checksum | undefined, actual: string): ChecksumMismatchError | undefined =>
  checksum === undefined || actual === checksum.hex
    ? undefined
    : new ChecksumMismatchError({
      url: where,
      algorithm: checksum.algorithm,
      expected: checksum.hex,
      actual,
      message: `checksum mismatch for ${where}: expected ${checksum.algorithm}:${checksum.hex}, got ${checksum.algorithm}:${actual}`
    })

export interface DownloadRequest {
  readonly url: string
  /** Final path; the body is streamed to a temp file beside it and renamed into place once verified. */
  readonly dest: string
  /** Sent with the request. `Authorization` goes only to the URL's own host, never to a redirect target elsewhere. */
  readonly headers?: Readonly<Record<string, string>>
  readonly checksum?: Checksum
}

export interface DownloadResult {
  readonly path: string
  readonly size: number
  /** Hex sha256 of the bytes written, computed while streaming. */
  readonly sha256: string
  /** The URL that answered, after redirects. */
  readonly finalUrl: string
  /** The file name from Content-Disposition, when the server gave one. */
  readonly suggestedName?: string
}

export interface TextResponse {
  readonly url: string
  readonly status: number
  /** Lowercase names; repeated headers joined with `, ` (pagination `Link`s and the like). */
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

/** What a HEAD request learnt about a URL that answered 2xx. */
export interface ProbeResult {
  /** The URL that answered, after redirects. */
  readonly url: string
  readonly contentType?: string
}

export interface DownloaderShape {
  readonly download: (request: DownloadRequest) => Effect.Effect<DownloadResult, DownloadError | ChecksumMismatchError>
  /** A small GET whose body is wanted in memory (API JSON). Non-2xx answers fail with their status. */
  readonly fetchText: (
    url: string,
    headers?: Readonly<Record<string, string>>
  ) => Effect.Effect<TextResponse, DownloadError>
  /** One HEAD, following redirects and not retried: whether a URL serves something, and what. Non-2xx fails. */
  readonly probe: (url: string, headers?: Readonly<Record<string, string>>) => Effect.Effect<ProbeResult, DownloadError>
}

/** HTTP downloads and small API GETs, with timeouts, retries and host-scoped credentials. */
export class Downloader extends Context.Tag("@engine/backends/Downloader")<Downloader, DownloaderShape>() {}

export interface DownloaderConfig {
  readonly connectTimeoutMs: number
  /** Longest wait for response headers. */
  readonly headersTimeoutMs: number
  /** Longest silence while reading a body, so a stalled socket fails instead of hanging. */
  readonly idleTimeoutMs: number
  /** Extra attempts after the first, for transient failures only. */
  readonly retries: number
  readonly retryBaseDelayMs: number
  readonly maxRedirects: number
  readonly userAgent: string
}

export const defaultDownloaderConfig: DownloaderConfig = {
  connectTimeoutMs: 30_000,
  headersTimeoutMs: 60_000,
  idleTimeoutMs: 60_000,
  retries: 3,
  retryBaseDelayMs: 500,
  maxRedirects: 10,
  userAgent: "engine (mise-compatible image builder)"
}

/** Internal: one attempt's outcome before retries decide. */
class Failure extends Error {
  constructor(
    readonly detail: string,
    readonly retryable: boolean,
    readonly status?: number,
    readonly original?: unknown,
    readonly answer?: { readonly headers: Readonly<Record<string, string>>; readonly body: string }
  ) {
    super(detail)
  }
}

const RETRYABLE_STATUS = new Set([408, 429])

const describe = (e: unknown, config: DownloaderConfig): Failure => {
  if (e instanceof Failure) return e
  const { detail, retryable } = describeNetworkError(e, config)
  return new Failure(detail, retryable, undefined, e)
}

/** An exhausted rate limit resets in minutes or hours: retrying within seconds only spends more requests. */
const rateLimitExhausted = (headers: Readonly<Record<string, string>>) =>
  headers["x-ratelimit-remaining"] === "0" || headers["ratelimit-remaining"] === "0"

const statusFailure = (status: number, headers: Readonly<Record<string, string>>, body: string) =>
  new Failure(
    `HTTP ${status} ${STATUS_CODES[status] ?? ""}`.trimEnd(),
    (status >= 500 || RETRYABLE_STATUS.has(status)) && !rateLimitExhausted(headers),
    status,
    undefined,
    { headers, body }
  )

/** Lowercase names; repeated headers joined with `, `. */
const headerRecord = (response: HttpResponse): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [name, values] of Object.entries(response.headers)) if (values !== undefined) out[name.toLowerCase()] = values.join(", ")
  return out
}

const ERROR_BODY_CHARS = 2000

/** The start of an error answer's body; the rest is dropped unread. */
const errorBody = async (body: Readable): Promise<string> => {
  let text = ""
  const decoder = new TextDecoder()
  for await (const chunk of body) {
    text += decoder.decode(chunk as Uint8Array, { stream: true })
    if (text.length >= ERROR_BODY_CHARS) break
  }
  await discardBody(body)
  return text.slice(0, ERROR_BODY_CHARS)
}

const readText = async (body: Readable): Promise<string> => {
  const chunks: Array<Buffer> = []
  for await (const chunk of body) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString("utf8")
}

const filenameFromDisposition = (disposition: string | undefined): string | undefined => {
  if (disposition === undefined) return undefined
  const extended = /filename\*\s*=\s*[^']*''([^;]+)/i.exec(disposition)
  if (extended !== null) {
    try {
      return NodePath.basename(decodeURIComponent(extended[1]!.trim()))
    } catch {
      return undefined
    }
  }
  const plain = /filename\s*=\s*(?:"([^"]*)"|([^;]+))/i.exec(disposition)
  const name = plain?.[1] ?? plain?.[2]?.trim()
  return name === undefined || name === "" ? undefined : NodePath.basename(name)
}

const HASHES: ReadonlyArray<ChecksumAlgorithm> = ["sha256", "sha512", "sha1", "md5"]

/** Parse `sha256:<hex>` (also sha512/sha1/md5, and a bare 64-hex sha256). Returns an error text otherwise. */
export const parseChecksum = (value: string): Checksum | string => {
  const trimmed = value.trim()
  const colon = trimmed.indexOf(":")
  const algorithm = colon < 0 ? (/^[0-9a-fA-F]{64}$/.test(trimmed) ? "sha256" : "") : trimmed.slice(0, colon).toLowerCase()
  const hex = (colon < 0 ? trimmed : trimmed.slice(colon + 1)).toLowerCase()
  if (algorithm === "blake3") {
    return `checksum "${value}": blake3 checksums are not supported yet; give a sha256 one instead (sha256:<hex>, e.g. from \`sha256sum <file>\`)`
  }
  if (!(HASHES as ReadonlyArray<string>).includes(algorithm)) {
    return `checksum "${value}" is not in the form <algorithm>:<hex> with algorithm sha256, sha512, sha1 or md5`
  }
  const length = { sha256: 64, sha512: 128, sha1: 40, md5: 32 }[algorithm as ChecksumAlgorithm]
  if (!new RegExp(`^[0-9a-f]{${length}}$`).test(hex)) {
    return `checksum "${value}": a ${algorithm} checksum is ${length} hex characters`
  }
  return { algorithm: algorithm as ChecksumAlgorithm, hex }
}

/**
 * Build a Downloader over the registry's transport: Node's own HTTP client (undici's WebAssembly parser kept Node
 * alive ~0.3 s at exit for its background tier-up), and undici's proxy agent only when HTTP(S)_PROXY applies.
 */
export const makeDownloader = (
  overrides: Partial<DownloaderConfig> = {}
): Effect.Effect<DownloaderShape, never, Scope.Scope> =>
  Effect.gen(function*() {
    const config: DownloaderConfig = { ...defaultDownloaderConfig, ...overrides }
    const transport = makeTransport(config, process.env)
    yield* Effect.addFinalizer(() => Effect.promise(() => transport.close()))

    /** GET (or HEAD) following redirects, `Authorization` kept to the first origin; the answer is a 2xx. */
    const open = async (url: string, headers: Readonly<Record<string, string>>, signal: AbortSignal, method: "GET" | "HEAD" = "GET") => {
      const response = await transport.send({ method, url, headers, followRedirects: true }, signal)
      if (response.status < 200 || response.status >= 300) {
        const body = method === "GET" ? await errorBody(response.body).catch(() => "") : await discardBody(response.body).then(() => "")
        throw statusFailure(response.status, headerRecord(response), body)
      }
      return { response, finalUrl: response.url }
    }

    const toDownloadError = (url: string, what: string) => (e: unknown) => {
      const failure = describe(e, config)
      return new DownloadError({
        url,
        ...(failure.status !== undefined ? { status: failure.status } : {}),
        ...(failure.answer !== undefined ? failure.answer : {}),
        retryable: failure.retryable,
        attempts: 1,
        message: `${what} ${url} failed: ${failure.detail}`,
        cause: failure.original ?? e
      })
    }

    /** Retry transient failures with jittered exponential backoff; say how many attempts were made when giving up. */
    const retrying = <A, E extends DownloadError | ChecksumMismatchError>(attempt: Effect.Effect<A, E>) => {
      let attempts = 0
      return Effect.suspend(() => {
        attempts++
        return attempt
      }).pipe(
        Effect.retry({
          schedule: Schedule.jittered(Schedule.exponential(config.retryBaseDelayMs)),
          times: config.retries,
          while: (e: E) => e._tag === "DownloadError" && e.retryable
        }),
        Effect.mapError((e: E): E | DownloadError =>
          e._tag === "DownloadError" && attempts > 1
            ? new DownloadError({ ...e, attempts, message: `${e.message} (gave up after ${attempts} attempts)` })
            : e
        )
      )
    }

    const downloadOnce = (request: DownloadRequest, progress: ProgressShape) =>
      Effect.tryPromise({
        try: async (signal) => {
          await fsp.mkdir(NodePath.dirname(request.dest), { recursive: true })
          const temp = `${request.dest}.part-${process.pid}-${randomBytes(4).toString("hex")}`
          try {
            const { response, finalUrl } = await open(request.url, request.headers ?? {}, signal)
            const { size, sha256: digest, actual } = await saveHashed(response.body, temp, request.checksum, signal, (n) => progress.advance(n))
            const declared = Number(response.header("content-length"))
            if (Number.isFinite(declared) && response.header("content-encoding") === undefined && declared !== size) {
              throw new Failure(`the body ended after ${size} of ${declared} bytes`, true)
            }
            const mismatch = checksumMismatch(request.url, request.checksum, actual)
            if (mismatch !== undefined) return mismatch
            await fsp.rename(temp, request.dest)
            const suggestedName = filenameFromDisposition(response.header("content-disposition"))
            const result: DownloadResult = {
              path: request.dest,
              size,
              sha256: digest,
              finalUrl,
              ...(suggestedName !== undefined ? { suggestedName } : {})
            }
            return result
          } finally {
            await fsp.rm(temp, { force: true })
          }
        },
        catch: toDownloadError(request.url, "download of")
      }).pipe(Effect.flatMap((r) => (r instanceof ChecksumMismatchError ? Effect.fail(r) : Effect.succeed(r))))

    const fetchTextOnce = (url: string, headers: Readonly<Record<string, string>>) =>
      Effect.tryPromise({
        try: async (signal) => {
          const { response, finalUrl } = await open(url, headers, signal)
          const body = await readText(response.body)
          const result: TextResponse = { url: finalUrl, status: response.status, headers: headerRecord(response), body }
          return result
        },
        catch: toDownloadError(url, "request to")
      })

    const probe = (url: string, headers: Readonly<Record<string, string>>) =>
      Effect.tryPromise({
        try: async (signal) => {
          const { response, finalUrl } = await open(url, headers, signal, "HEAD")
          await discardBody(response.body)
          const contentType = response.header("content-type")
          const result: ProbeResult = { url: finalUrl, ...(contentType !== undefined ? { contentType } : {}) }
          return result
        },
        catch: toDownloadError(url, "HEAD request to")
      })

    return {
      download: (request) => Effect.flatMap(Progress, (progress) => retrying(downloadOnce(request, progress))),
      fetchText: (url, headers = {}) => retrying(fetchTextOnce(url, headers)),
      probe: (url, headers = {}) => probe(url, headers)
    }
  })

/** A Downloader layer with the given settings (tests use short timeouts). */
export const layerDownloader = (overrides: Partial<DownloaderConfig> = {}): Layer.Layer<Downloader> =>
  Layer.scoped(Downloader, makeDownloader(overrides))

export const DownloaderLive: Layer.Layer<Downloader> = layerDownloader()
