import { Context, Data, Effect, Layer, Option, Redacted, Schema, type Scope } from "effect"
import type { Readable } from "node:stream"
import { type Authenticator, makeAuthenticator, type PlainCall } from "./Auth"
import { type CredentialStore, makeCredentialStore } from "./Credentials"
import { type AuthError, type CredentialsError, type RegistryFailure, RegistryResponseError, TransportError } from "./Errors"
import { registryBaseUrl } from "./Reference"
import { defaultRetryPolicy, isRetryableStatus, parseRetryAfter, retrying, type RetryPolicy } from "./Retry"
import {
  describeNetworkError,
  discardBody,
  type HttpMethod,
  type HttpRequest,
  type HttpResponse,
  makeTransport,
  type RequestBody,
  type Transport,
  type TransportConfig
} from "./Transport"

export interface RegistryClientConfig extends TransportConfig {
  /** Registries reached over plain HTTP besides loopback: exact `host:port`, or a bare host for any port. */
  readonly insecureRegistries: ReadonlyArray<string>
  readonly retry: RetryPolicy
  readonly credentials: CredentialStore
  /** Sent as `client_id` when exchanging identity tokens. */
  readonly clientId: string
}

export const defaultRegistryClientConfig = (): RegistryClientConfig => ({
  connectTimeoutMs: 30_000,
  headersTimeoutMs: 120_000,
  idleTimeoutMs: 60_000,
  maxRedirects: 10,
  userAgent: "engine (mise-compatible image builder)",
  insecureRegistries: [],
  retry: defaultRetryPolicy,
  credentials: makeCredentialStore(),
  clientId: "engine"
})

export interface RegistryRequest {
  readonly registry: string
  /** The repository the request is about, for error messages. */
  readonly repository: string
  /** Token scopes, e.g. `repository:x:pull,push`. */
  readonly scopes: ReadonlyArray<string>
  /** Picks the 401/403 hint: pulls suggest a login, pushes also a missing push right. */
  readonly operation: "pull" | "push"
  readonly method: HttpMethod
  /** `/v2/…` on the registry, or an absolute URL such as an upload Location. */
  readonly url: string
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: RequestBody
  /** Statuses handed to `read`; any other fails with RegistryResponseError. */
  readonly expect: ReadonlyArray<number>
  /** Transient failures resend the request unless false (an upload is retried as a whole instead). */
  readonly retry?: boolean
}

export interface RegistryResponse {
  readonly status: number
  readonly url: string
  readonly header: (name: string) => string | undefined
  /** The whole body in memory; fails past `limit` bytes. */
  readonly bytes: (limit?: number) => Effect.Effect<Uint8Array, TransportError>
  /**
   * Hands the body stream to `consume`; network failures become a retryable TransportError, anything else
   * goes through `onError`.
   */
  readonly stream: <E>(
    consume: (body: Readable, signal: AbortSignal) => Promise<void>,
    onError: (cause: unknown) => E
  ) => Effect.Effect<void, TransportError | E>
}

export interface RegistryClientShape {
  readonly config: RegistryClientConfig
  /** `http://127.0.0.1:5000` or `https://registry-1.docker.io`. */
  readonly baseUrl: (registry: string) => string
  /**
   * One request with auth (probe, challenge, token, one re-answer on 401) and retries; `read` runs inside the
   * retried attempt, so a body that breaks half way is fetched again.
   */
  readonly send: <A, E = never>(
    request: RegistryRequest,
    read: (response: RegistryResponse) => Effect.Effect<A, E>
  ) => Effect.Effect<A, E | RegistryFailure>
  readonly hasCredential: (registry: string) => Effect.Effect<boolean, CredentialsError>
}

/** Registry access over undici: the one service Pull and Push need. */
export class RegistryClient extends Context.Tag("@engine/registry/RegistryClient")<RegistryClient, RegistryClientShape>() {}

const ErrorBodySchema = Schema.parseJson(
  Schema.Struct({ errors: Schema.Array(Schema.Struct({ code: Schema.String })) })
)
const ociErrorCode = (text: string): string | undefined =>
  Option.getOrUndefined(Schema.decodeUnknownOption(ErrorBodySchema)(text))?.errors[0]?.code

const DEFAULT_BODY_LIMIT = 8 * 1024 * 1024
const ERROR_BODY_LIMIT = 64 * 1024

const authHint = (status: number, operation: "pull" | "push", hasCredential: boolean): string => {
  if (status !== 401 && status !== 403) return ""
  if (operation === "pull") {
    return hasCredential
      ? " — the stored credentials were rejected or lack access to this image"
      : " — the image may be private; run `docker login` (or `podman login`) for this registry"
  }
  return hasCredential
    ? " — the stored credentials were rejected or lack push permission (for ghcr.io, the token needs the `write:packages` scope)"
    : " — no credentials were found; run `docker login` (or `podman login`) for this registry"
}

/** Auth failures come out of their own retry loop (probe, token fetch); the request's loop must not repeat them. */
class AlreadyRetried extends Data.TaggedError("AlreadyRetried")<{
  readonly error: AuthError | CredentialsError | TransportError
}> {}

const verb = (method: HttpMethod) => (method === "GET" || method === "HEAD" ? "fetching" : `${method}`)

const gaveUp = <E extends TransportError | RegistryResponseError>(e: E, attempts: number): E => {
  if (attempts <= 1) return e
  const message = `${e.message.split("\n")[0]} (gave up after ${attempts} attempts)${
    e.message.includes("\n") ? e.message.slice(e.message.indexOf("\n")) : ""
  }`
  // Fields are listed because spreading an Error drops its message and cause.
  return (e._tag === "TransportError"
    ? new TransportError({
      registry: e.registry,
      method: e.method,
      url: e.url,
      retryable: e.retryable,
      attempts,
      message,
      cause: e.cause
    })
    : new RegistryResponseError({
      registry: e.registry,
      repository: e.repository,
      method: e.method,
      url: e.url,
      status: e.status,
      ...(e.code !== undefined ? { code: e.code } : {}),
      ...(e.retryAfterMs !== undefined ? { retryAfterMs: e.retryAfterMs } : {}),
      attempts,
      message
    })) as E
}

export const makeRegistryClient = (
  overrides: Partial<RegistryClientConfig> = {}
): Effect.Effect<RegistryClientShape, never, Scope.Scope> =>
  Effect.gen(function*() {
    const config: RegistryClientConfig = { ...defaultRegistryClientConfig(), ...overrides }
    const transport: Transport = makeTransport(config)
    yield* Effect.addFinalizer(() => Effect.promise(() => transport.close()))
    const baseUrl = (registry: string) => registryBaseUrl(registry, config.insecureRegistries)
    const absolute = (registry: string, url: string) => new URL(url, `${baseUrl(registry)}/`).href

    const networkError = (registry: string, method: HttpMethod, url: string, attempt: number) => (cause: unknown) => {
      const { detail, retryable } = describeNetworkError(cause, config)
      return new TransportError({
        registry,
        method,
        url,
        attempts: attempt,
        retryable,
        message: `${method} ${url} failed: ${detail}`,
        cause
      })
    }

    const wrapResponse = (registry: string, method: HttpMethod, response: HttpResponse, attempt: number): RegistryResponse => {
      const onNetwork = networkError(registry, method, response.url, attempt)
      return {
        status: response.status,
        url: response.url,
        header: response.header,
        bytes: (limit = DEFAULT_BODY_LIMIT) =>
          Effect.tryPromise({
            try: async () => {
              const chunks: Array<Buffer> = []
              let size = 0
              for await (const chunk of response.body) {
                const buf = chunk as Buffer
                size += buf.length
                if (size > limit) {
                  response.body.destroy()
                  throw new Error(`the response body is larger than ${limit} bytes`)
                }
                chunks.push(buf)
              }
              return new Uint8Array(Buffer.concat(chunks))
            },
            catch: onNetwork
          }),
        stream: <E>(consume: (body: Readable, signal: AbortSignal) => Promise<void>, onError: (cause: unknown) => E) =>
          Effect.tryPromise({
            try: (signal) => consume(response.body, signal),
            catch: (cause): TransportError | E => {
              const network = onNetwork(cause)
              return network.retryable ? network : onError(cause)
            }
          })
      }
    }

    const retryVerdict = (e: unknown) => {
      if (e instanceof TransportError) return { retryable: e.retryable }
      if (e instanceof RegistryResponseError && isRetryableStatus(e.status)) {
        return e.retryAfterMs !== undefined ? { retryable: true, retryAfterMs: e.retryAfterMs } : { retryable: true }
      }
      return { retryable: false }
    }

    const retried = <A, E>(
      enabled: boolean,
      attempt: (n: number) => Effect.Effect<A, E>
    ): Effect.Effect<A, E> => {
      let attempts = 0
      const counted = (n: number) => {
        attempts = n
        return attempt(n)
      }
      return retrying(
        enabled ? config.retry : { ...config.retry, retries: 0 },
        counted,
        retryVerdict,
        (e, n, delay) => Effect.logDebug(`attempt ${n} failed (${e instanceof Error ? e.message.split("\n")[0] : String(e)}); retrying in ${delay} ms`)
      ).pipe(
        Effect.mapError((e) =>
          e instanceof TransportError || e instanceof RegistryResponseError ? (gaveUp(e, attempts) as E) : e
        )
      )
    }

    const plainCall: PlainCall = (registry, request) =>
      retried(true, (n) =>
        Effect.gen(function*() {
          const response = yield* Effect.tryPromise({
            try: (signal) => transport.send(request, signal),
            catch: networkError(registry, request.method, request.url, n)
          })
          const text = new TextDecoder().decode(yield* wrapResponse(registry, request.method, response, n).bytes(ERROR_BODY_LIMIT))
          yield* Effect.logDebug(`${request.method} ${new URL(request.url).origin}${new URL(request.url).pathname} → ${response.status}`)
          if (isRetryableStatus(response.status)) {
            const retryAfterMs = parseRetryAfter(response.header("retry-after"))
            return yield* Effect.fail(
              new RegistryResponseError({
                registry,
                repository: "",
                method: request.method,
                url: request.url,
                status: response.status,
                attempts: n,
                ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
                message: `${verb(request.method)} ${request.url} failed: ${response.status}`
              })
            )
          }
          return { status: response.status, text, wwwAuthenticate: response.headerAll("www-authenticate") }
        })).pipe(
          Effect.catchTag("RegistryResponseError", (e) =>
            Effect.fail(
              new TransportError({
                registry,
                method: e.method,
                url: e.url,
                attempts: e.attempts,
                retryable: false,
                message: e.message
              })
            ))
        )

    const authenticator: Authenticator = makeAuthenticator({
      call: plainCall,
      credentials: config.credentials,
      baseUrl,
      clientId: config.clientId
    })

    const send = <A, E = never>(
      request: RegistryRequest,
      read: (response: RegistryResponse) => Effect.Effect<A, E>
    ): Effect.Effect<A, E | RegistryFailure> => {
      const url = absolute(request.registry, request.url)
      const attempt = (n: number): Effect.Effect<A, E | RegistryFailure | AlreadyRetried> =>
        Effect.gen(function*() {
          // A 401 to a request without Authorization is a first challenge; one with it gets one re-answer.
          let challengedBare = false
          let reanswered = false
          for (;;) {
            const authorization = yield* authenticator.authorization(request.registry, request.scopes).pipe(
              Effect.mapError((error) => new AlreadyRetried({ error }))
            )
            const response = yield* Effect.tryPromise({
              try: (signal) =>
                transport.send({
                  method: request.method,
                  url,
                  headers: {
                    ...request.headers,
                    ...(Option.isSome(authorization) ? { authorization: Redacted.value(authorization.value) } : {})
                  },
                  ...(request.body !== undefined ? { body: request.body } : {}),
                  followRedirects: request.method === "GET" || request.method === "HEAD"
                }, signal),
              catch: networkError(request.registry, request.method, url, n)
            })
            yield* Effect.logDebug(`${request.method} ${url} → ${response.status}`)
            const wrapped = wrapResponse(request.registry, request.method, response, n)
            const sentAuthorization = Option.isSome(authorization)
            if (response.status === 401 && (sentAuthorization ? !reanswered : !challengedBare)) {
              if (sentAuthorization) reanswered = true
              else challengedBare = true
              yield* Effect.promise(() => discardBody(response.body))
              yield* authenticator.challenged(request.registry, response.headerAll("www-authenticate"))
              continue
            }
            if (!request.expect.includes(response.status)) {
              const text = new TextDecoder().decode(
                yield* wrapped.bytes(ERROR_BODY_LIMIT).pipe(Effect.orElseSucceed(() => new Uint8Array()))
              ).trim()
              const hasCredential = yield* authenticator.hasCredential(request.registry).pipe(Effect.orElseSucceed(() => false))
              const retryAfterMs = parseRetryAfter(response.header("retry-after"))
              const code = ociErrorCode(text)
              return yield* Effect.fail(
                new RegistryResponseError({
                  registry: request.registry,
                  repository: request.repository,
                  method: request.method,
                  url,
                  status: response.status,
                  attempts: n,
                  ...(code !== undefined ? { code } : {}),
                  ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
                  message: `${verb(request.method)} ${url} failed: ${response.status}${
                    authHint(response.status, request.operation, hasCredential)
                  }${text !== "" ? `\n${text.slice(0, 2000)}` : ""}`
                })
              )
            }
            return yield* read(wrapped).pipe(
              Effect.ensuring(Effect.promise(() => discardBody(response.body)))
            )
          }
        })
      return retried(request.retry !== false, attempt).pipe(
        Effect.catchIf((e): e is AlreadyRetried => e instanceof AlreadyRetried, (e) => Effect.fail(e.error))
      )
    }

    return {
      config,
      baseUrl,
      send,
      hasCredential: authenticator.hasCredential
    }
  })

/** A RegistryClient with the given settings (tests use short timeouts and few retries). */
export const layerRegistryClient = (overrides: Partial<RegistryClientConfig> = {}): Layer.Layer<RegistryClient> =>
  Layer.scoped(RegistryClient, makeRegistryClient(overrides))

export const RegistryClientLive: Layer.Layer<RegistryClient> = Layer.suspend(() => layerRegistryClient())
