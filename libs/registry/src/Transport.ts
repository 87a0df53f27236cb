import { createReadStream } from "node:fs"
import type { Dispatcher } from "undici"
import { NETWORK_ERROR_CODES, networkErrorCode, trustedCertificates } from "./Network"
import { isLoopback } from "./Reference"

export interface TransportConfig {
  readonly connectTimeoutMs: number
  /** Longest wait for response headers once the request is sent. */
  readonly headersTimeoutMs: number
  /** Longest silence while reading a body, so a stalled socket fails instead of hanging. */
  readonly idleTimeoutMs: number
  readonly maxRedirects: number
  readonly userAgent: string
}

export type HttpMethod = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE"

/** Bodies are values, not streams, so a retry can send them again; a file is opened afresh per attempt. */
export type RequestBody =
  | { readonly _tag: "Bytes"; readonly bytes: Uint8Array }
  | { readonly _tag: "File"; readonly path: string }

export interface HttpRequest {
  readonly method: HttpMethod
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly body?: RequestBody
  /** Only GET and HEAD follow redirects; `Authorization` is dropped once a hop leaves the original origin. */
  readonly followRedirects: boolean
}

export interface HttpResponse {
  readonly status: number
  /** The URL that answered, after redirects. */
  readonly url: string
  readonly header: (name: string) => string | undefined
  /** Every value of a header that may repeat (WWW-Authenticate). */
  readonly headerAll: (name: string) => ReadonlyArray<string>
  readonly body: Dispatcher.ResponseData["body"]
}

export interface Transport {
  readonly send: (request: HttpRequest, signal?: AbortSignal) => Promise<HttpResponse>
  readonly close: () => Promise<void>
}

const withoutAuthorization = (headers: Readonly<Record<string, string>>): Record<string, string> =>
  Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== "authorization"))

const REDIRECTS = new Set([301, 302, 303, 307, 308])

/** An undici transport; undici itself and the CA bundle load on the first request (CLI start-up matters). */
export const makeTransport = (
  config: TransportConfig,
  env: Readonly<Record<string, string | undefined>> = process.env
): Transport => {
  let dispatchers: Promise<{ readonly direct: Dispatcher; readonly proxied: Dispatcher }> | undefined
  const load = () =>
    (dispatchers ??= import("node:v8").then((v8) => {
      // undici parses HTTP with llhttp in WebAssembly; V8's background TurboFan tier-up of it took 0.3 s and
      // Node waits for it before exiting. Baseline code parses registry responses just as well.
      v8.setFlagsFromString("--liftoff-only")
      return import("undici")
    }).then(({ Agent, EnvHttpProxyAgent }) => {
      const options = {
        connect: { timeout: config.connectTimeoutMs, ca: trustedCertificates(env) },
        headersTimeout: config.headersTimeoutMs,
        bodyTimeout: config.idleTimeoutMs
      }
      // Loopback registries never go through HTTP(S)_PROXY, whatever NO_PROXY says.
      return { direct: new Agent(options), proxied: new EnvHttpProxyAgent(options) }
    }))

  const send = async (request: HttpRequest, signal?: AbortSignal): Promise<HttpResponse> => {
    const { direct, proxied } = await load()
    const origin = new URL(request.url).origin
    let url = new URL(request.url)
    let method = request.method
    let headers: Readonly<Record<string, string>> = request.headers
    for (let hop = 0;; hop++) {
      if (url.origin !== origin) headers = withoutAuthorization(headers)
      const body = request.body === undefined || method === "GET" || method === "HEAD"
        ? undefined
        : request.body._tag === "Bytes"
        ? request.body.bytes
        : createReadStream(request.body.path)
      const response = await (isLoopback(url.host) ? direct : proxied).request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method,
        headers: { "user-agent": config.userAgent, ...headers },
        ...(body !== undefined ? { body } : {}),
        ...(signal !== undefined ? { signal } : {})
      })
      const location = response.headers["location"]
      const target = Array.isArray(location) ? location[0] : location
      if (request.followRedirects && REDIRECTS.has(response.statusCode) && target !== undefined) {
        await response.body.dump()
        if (hop >= config.maxRedirects) throw new Error(`more than ${config.maxRedirects} redirects from ${request.url}`)
        url = new URL(target, url)
        if (response.statusCode === 303 && method !== "HEAD") method = "GET"
        continue
      }
      const raw = response.headers
      const headerAll = (name: string): ReadonlyArray<string> => {
        const v = raw[name.toLowerCase()]
        return v === undefined ? [] : Array.isArray(v) ? v : [v]
      }
      return {
        status: response.statusCode,
        url: url.href,
        header: (name) => headerAll(name)[0],
        headerAll,
        body: response.body
      }
    }
  }

  const close = async () => {
    if (dispatchers === undefined) return
    const { direct, proxied } = await dispatchers
    await Promise.all([direct.destroy(), proxied.destroy()])
  }

  return { send, close }
}

const secs = (ms: number) => `${Math.round(ms / 100) / 10}s`

/** A readable reason for a network failure, and whether trying again could help. */
export const describeNetworkError = (
  e: unknown,
  config: TransportConfig
): { readonly detail: string; readonly retryable: boolean } => {
  const code = networkErrorCode(e)
  const text = e instanceof Error ? e.message : String(e)
  switch (code) {
    case "UND_ERR_CONNECT_TIMEOUT":
      return { detail: `could not connect within ${secs(config.connectTimeoutMs)}`, retryable: true }
    case "UND_ERR_HEADERS_TIMEOUT":
      return { detail: `no response within ${secs(config.headersTimeoutMs)}`, retryable: true }
    case "UND_ERR_BODY_TIMEOUT":
      return { detail: `the connection stalled (no data for ${secs(config.idleTimeoutMs)})`, retryable: true }
    case "ECONNREFUSED":
      return { detail: "connection refused", retryable: true }
    case "ENOTFOUND":
      return { detail: "host not found", retryable: false }
    default:
      return {
        detail: code !== undefined && !text.includes(code) ? `${text} (${code})` : text,
        retryable: code !== undefined && NETWORK_ERROR_CODES.has(code)
      }
  }
}
