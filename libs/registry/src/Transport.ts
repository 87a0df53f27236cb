import { createReadStream } from "node:fs"
import type { Agent as HttpAgent, IncomingMessage, request as httpRequest, RequestOptions } from "node:http"
import type { Agent as HttpsAgent, request as httpsRequest } from "node:https"
import type { Socket } from "node:net"
import type { Readable } from "node:stream"
import { pipeline } from "node:stream"
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
  /** Every header, by lowercase name. */
  readonly headers: Readonly<Record<string, ReadonlyArray<string> | undefined>>
  readonly body: Readable
}

export interface Transport {
  readonly send: (request: HttpRequest, signal?: AbortSignal) => Promise<HttpResponse>
  readonly close: () => Promise<void>
}

const withoutAuthorization = (headers: Readonly<Record<string, string>>): Record<string, string> =>
  Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== "authorization"))

const REDIRECTS = new Set([301, 302, 303, 307, 308])
/** A body nobody reads is drained up to this size, so its connection is reused; a bigger one is cut. */
const DISCARD_LIMIT = 256 * 1024

/** Reads away the rest of a body nobody wants (an error page, a redirect, what `read` left). */
export const discardBody = (body: Readable): Promise<void> =>
  new Promise((resolve) => {
    if (body.readableEnded || body.destroyed) return resolve()
    let seen = 0
    body.on("data", (chunk: Buffer) => {
      seen += chunk.length
      if (seen > DISCARD_LIMIT) body.destroy()
    })
    body.once("end", () => resolve())
    body.once("close", () => resolve())
    body.once("error", () => resolve())
  })

interface Answer {
  readonly status: number
  readonly headers: Readonly<Record<string, ReadonlyArray<string> | undefined>>
  readonly body: Readable
}

/** One way of sending a request (Node's client, or undici behind a proxy); redirects are followed above it. */
interface Client {
  readonly exchange: (
    url: URL,
    method: HttpMethod,
    headers: Readonly<Record<string, string>>,
    body: RequestBody | undefined,
    signal: AbortSignal | undefined
  ) => Promise<Answer>
  readonly close: () => Promise<void>
}

/** Codes as undici names them, so one table (Network.ts) classifies both transports' failures. */
const timedOut = (code: string, message: string) => Object.assign(new Error(message), { code })

/**
 * Node's own HTTP client: its parser is native and already in the binary, where undici costs 0.1-0.3 s of module
 * loading and WebAssembly compilation before the first request. Keep-alive, with a connect timeout, an idle
 * timeout while sending, a headers timeout once sent, and an idle timeout while the body is read.
 */
const makeNodeClient = (config: TransportConfig, env: Readonly<Record<string, string | undefined>>): Client => {
  let agents: Promise<{ readonly http: HttpAgent; readonly https: () => HttpsAgent; readonly request: typeof httpRequest; readonly secureRequest: typeof httpsRequest }> | undefined
  let httpsAgent: HttpsAgent | undefined
  // node:https pulls in TLS; a loopback registry never needs it, so both load on the first request, and the CA
  // bundle is read (and the TLS agent made) on the first https request only.
  const load = () =>
    (agents ??= Promise.all([import("node:http"), import("node:https")]).then(([http, https]) => ({
      http: new http.Agent({ keepAlive: true }),
      https: () => (httpsAgent ??= new https.Agent({ keepAlive: true, ca: trustedCertificates(env) })),
      request: http.request,
      secureRequest: https.request
    })))

  const exchange: Client["exchange"] = async (url, method, headers, body, signal) => {
    const loaded = await load()
    const secure = url.protocol === "https:"
    return new Promise<Answer>((resolve, reject) => {
      const options: RequestOptions = {
        hostname: url.hostname.replace(/^\[|\]$/g, ""),
        port: url.port === "" ? (secure ? 443 : 80) : Number(url.port),
        path: `${url.pathname}${url.search}`,
        method,
        headers,
        agent: secure ? loaded.https() : loaded.http,
        ...(signal !== undefined ? { signal } : {})
      }
      const req = secure ? loaded.secureRequest(options) : loaded.request(options)
      let timer: NodeJS.Timeout | undefined
      let socket: Socket | undefined
      let watching = false
      let answered = false
      const onIdle = () => req.destroy(timedOut("UND_ERR_BODY_TIMEOUT", `no data for ${config.idleTimeoutMs} ms`))
      const idle = (on: boolean) => {
        if (socket === undefined || watching === on) return
        watching = on
        socket.setTimeout(on ? config.idleTimeoutMs : 0)
        if (on) socket.on("timeout", onIdle)
        else socket.removeListener("timeout", onIdle)
      }
      const stop = () => {
        clearTimeout(timer)
        idle(false)
      }
      req.once("socket", (s: Socket) => {
        socket = s
        if (!s.connecting) return idle(true)
        timer = setTimeout(() => req.destroy(timedOut("UND_ERR_CONNECT_TIMEOUT", "connect timeout")), config.connectTimeoutMs)
        s.once(secure ? "secureConnect" : "connect", () => {
          clearTimeout(timer)
          idle(true)
        })
      })
      // Sent: the registry may now take long (it hashes an upload) without a byte on the wire.
      req.once("finish", () => {
        if (answered) return
        idle(false)
        timer = setTimeout(() => req.destroy(timedOut("UND_ERR_HEADERS_TIMEOUT", "headers timeout")), config.headersTimeoutMs)
      })
      req.once("error", (e) => {
        stop()
        reject(e)
      })
      req.once("response", (res: IncomingMessage) => {
        answered = true
        clearTimeout(timer)
        idle(true)
        req.removeAllListeners("error")
        // A failure while the body is read reaches its reader through the body stream.
        req.on("error", (e) => res.destroy(e))
        res.once("close", stop)
        resolve({ status: res.statusCode ?? 0, headers: res.headersDistinct, body: res })
      })
      if (body === undefined) {
        req.end()
      } else if (body._tag === "Bytes") {
        req.end(body.bytes)
      } else {
        // Large reads keep the syscalls and socket writes per blob few.
        pipeline(createReadStream(body.path, { highWaterMark: 1024 * 1024 }), req, (e) => {
          if (e) req.destroy(e)
        })
      }
    })
  }

  const close = async () => {
    if (agents === undefined) return
    const loaded = await agents
    loaded.http.destroy()
    httpsAgent?.destroy()
  }
  return { exchange, close }
}

/** HTTP(S)_PROXY and NO_PROXY go to undici's EnvHttpProxyAgent, loaded only when a proxy is configured. */
const makeProxyClient = (config: TransportConfig, env: Readonly<Record<string, string | undefined>>): Client => {
  let agent: Promise<Dispatcher> | undefined
  const load = () =>
    (agent ??= import("node:v8").then((v8) => {
      // undici parses HTTP with llhttp in WebAssembly; V8's background TurboFan tier-up of it took 0.3 s and
      // Node waits for it before exiting. Baseline code parses registry responses just as well.
      v8.setFlagsFromString("--liftoff-only")
      return import("undici")
    }).then(({ EnvHttpProxyAgent }) =>
      new EnvHttpProxyAgent({
        httpProxy: env.HTTP_PROXY ?? env.http_proxy ?? "",
        httpsProxy: env.HTTPS_PROXY ?? env.https_proxy ?? "",
        noProxy: env.NO_PROXY ?? env.no_proxy ?? "",
        connect: { timeout: config.connectTimeoutMs, ca: trustedCertificates(env) },
        headersTimeout: config.headersTimeoutMs,
        bodyTimeout: config.idleTimeoutMs
      })
    ))
  const exchange: Client["exchange"] = async (url, method, headers, body, signal) => {
    const response = await (await load()).request({
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      method,
      headers,
      ...(body !== undefined ? { body: body._tag === "Bytes" ? body.bytes : createReadStream(body.path, { highWaterMark: 1024 * 1024 }) } : {}),
      ...(signal !== undefined ? { signal } : {})
    })
    const all: Record<string, ReadonlyArray<string>> = {}
    for (const [k, v] of Object.entries(response.headers)) if (v !== undefined) all[k] = Array.isArray(v) ? v : [v]
    return { status: response.statusCode, headers: all, body: response.body }
  }
  const close = async () => {
    if (agent !== undefined) await (await agent).destroy()
  }
  return { exchange, close }
}

const PROXY_VARIABLES = ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"] as const

/** Registry HTTP: Node's client, or undici's proxy agent when a proxy is configured (never for loopback). */
export const makeTransport = (
  config: TransportConfig,
  env: Readonly<Record<string, string | undefined>> = process.env
): Transport => {
  const direct = makeNodeClient(config, env)
  const proxied = makeProxyClient(config, env)
  const hasProxy = PROXY_VARIABLES.some((k) => (env[k] ?? "") !== "")

  const send = async (request: HttpRequest, signal?: AbortSignal): Promise<HttpResponse> => {
    const origin = new URL(request.url).origin
    let url = new URL(request.url)
    let method = request.method
    let headers: Readonly<Record<string, string>> = request.headers
    for (let hop = 0;; hop++) {
      if (url.origin !== origin) headers = withoutAuthorization(headers)
      const body = method === "GET" || method === "HEAD" ? undefined : request.body
      const client = hasProxy && !isLoopback(url.host) ? proxied : direct
      const answer = await client.exchange(url, method, { "user-agent": config.userAgent, ...headers }, body, signal)
      const headerAll = (name: string): ReadonlyArray<string> => answer.headers[name.toLowerCase()] ?? []
      const target = headerAll("location")[0]
      if (request.followRedirects && REDIRECTS.has(answer.status) && target !== undefined) {
        await discardBody(answer.body)
        if (hop >= config.maxRedirects) throw new Error(`more than ${config.maxRedirects} redirects from ${request.url}`)
        url = new URL(target, url)
        if (answer.status === 303 && method !== "HEAD") method = "GET"
        continue
      }
      return { status: answer.status, url: url.href, header: (name) => headerAll(name)[0], headerAll, headers: answer.headers, body: answer.body }
    }
  }

  const close = async () => {
    await Promise.all([direct.close(), proxied.close()])
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
