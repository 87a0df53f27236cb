import { Effect, Option, Redacted, Schema } from "effect"
import { type Credential, type CredentialStore } from "./Credentials"
import { AuthError, type CredentialsError, type TransportError } from "./Errors"
import type { HttpRequest } from "./Transport"

/** One challenge from a `WWW-Authenticate` header; scheme and parameter names are lowercased. */
export interface Challenge {
  readonly scheme: string
  readonly params: Readonly<Record<string, string>>
}

const TOKEN_CHAR = /[!#$%&'*+.^_`|~0-9A-Za-z-]/

/**
 * Parses RFC 7235 challenges: `Bearer realm="…",service="…",scope="a:b:pull,push"` (quoted commas and escapes
 * included) and several challenges in one header (`Basic realm="x", Bearer realm="y"`).
 */
export const parseChallenges = (header: string): ReadonlyArray<Challenge> => {
  const out: Array<Challenge> = []
  let i = 0
  const skip = (chars: RegExp) => {
    while (i < header.length && chars.test(header[i]!)) i++
  }
  const token = (): string => {
    const start = i
    while (i < header.length && TOKEN_CHAR.test(header[i]!)) i++
    return header.slice(start, i)
  }
  const quoted = (): string => {
    let value = ""
    i++ // opening quote
    while (i < header.length && header[i] !== "\"") {
      if (header[i] === "\\" && i + 1 < header.length) i++
      value += header[i]
      i++
    }
    i++ // closing quote
    return value
  }
  // Servers put URLs unquoted although `:` and `/` are not token characters; read up to the next separator.
  const bare = (): string => {
    const start = i
    while (i < header.length && !/[\s,]/.test(header[i]!)) i++
    return header.slice(start, i)
  }
  while (i < header.length) {
    skip(/[\s,]/)
    const scheme = token()
    if (scheme === "") {
      i++
      continue
    }
    const params: Record<string, string> = {}
    skip(/\s/)
    for (;;) {
      const mark = i
      const name = token()
      skip(/\s/)
      if (name === "" || header[i] !== "=") {
        // Not a parameter: the next challenge's scheme starts here.
        i = mark
        break
      }
      i++ // "="
      skip(/\s/)
      params[name.toLowerCase()] = header[i] === "\"" ? quoted() : bare()
      skip(/\s/)
      if (header[i] !== ",") break
      i++
      skip(/\s/)
    }
    out.push({ scheme: scheme.toLowerCase(), params })
  }
  return out
}

/** `repository:<repo>:pull` or `repository:<repo>:pull,push`. */
export const repositoryScope = (repository: string, actions: "pull" | "pull,push"): string =>
  `repository:${repository}:${actions}`

const TokenResponseSchema = Schema.Struct({
  token: Schema.optional(Schema.String),
  access_token: Schema.optional(Schema.String),
  expires_in: Schema.optional(Schema.Number),
  refresh_token: Schema.optional(Schema.String)
})
const decodeTokenResponse = Schema.decodeUnknown(Schema.parseJson(TokenResponseSchema))

/** The token spec's default lifetime, which is also the shortest a server may announce. */
const MIN_TOKEN_SECONDS = 60
/** Refresh this long before expiry so a token never dies in flight. */
const EXPIRY_MARGIN_MS = 10_000

export interface BearerToken {
  readonly token: Redacted.Redacted<string>
  readonly expiresAt: number
}

/** A plain (unauthenticated, retried) request the authenticator may make: the probe and token fetches. */
export type PlainCall = (
  registry: string,
  request: HttpRequest
) => Effect.Effect<{ readonly status: number; readonly text: string; readonly wwwAuthenticate: ReadonlyArray<string> }, TransportError>

const basicHeader = (username: string, password: string): string =>
  `Basic ${Buffer.from(`${username}:${password}`, "utf8").toString("base64")}`

/** Removes any secret a server might echo back before its text lands in an error message. */
const scrub = (text: string, credential: Option.Option<Credential>): string => {
  if (Option.isNone(credential)) return text
  const c = credential.value
  const secret = Redacted.value(c._tag === "Basic" ? c.password : c.token)
  return secret === "" ? text : text.split(secret).join("<redacted>")
}

/** Asks the realm for a bearer token: GET with Basic or no credentials, OAuth2 POST for identity tokens. */
export const fetchToken = (
  call: PlainCall,
  options: {
    readonly registry: string
    readonly realm: string
    readonly service: string | undefined
    readonly scopes: ReadonlyArray<string>
    readonly credential: Option.Option<Credential>
    readonly clientId: string
    readonly now: () => number
  }
): Effect.Effect<BearerToken, AuthError | TransportError> =>
  Effect.gen(function*() {
    const { registry, realm, service, scopes, credential } = options
    let url: URL
    try {
      url = new URL(realm)
    } catch {
      return yield* Effect.fail(
        new AuthError({ registry, url: realm, message: `${registry} announced an invalid token realm "${realm}"` })
      )
    }
    const identity = Option.isSome(credential) && credential.value._tag === "IdentityToken" ? credential.value : undefined
    let request: HttpRequest
    if (identity !== undefined) {
      const form = new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: Redacted.value(identity.token),
        client_id: options.clientId,
        ...(service !== undefined ? { service } : {}),
        ...(scopes.length > 0 ? { scope: scopes.join(" ") } : {})
      })
      request = {
        method: "POST",
        url: url.href,
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: { _tag: "Bytes", bytes: new TextEncoder().encode(form.toString()) },
        followRedirects: false
      }
    } else {
      if (service !== undefined) url.searchParams.set("service", service)
      for (const scope of scopes) url.searchParams.append("scope", scope)
      const basic = Option.isSome(credential) && credential.value._tag === "Basic" ? credential.value : undefined
      request = {
        method: "GET",
        url: url.href,
        headers: basic !== undefined ? { authorization: basicHeader(basic.username, Redacted.value(basic.password)) } : {},
        followRedirects: true
      }
    }
    const response = yield* call(registry, request)
    if (response.status !== 200) {
      const hint = response.status === 401 || response.status === 403
        ? Option.isSome(credential)
          ? " — the stored credentials were rejected"
          : ` — anonymous access was refused; run \`docker login ${registry}\` (or \`podman login\`)`
        : ""
      return yield* Effect.fail(
        new AuthError({
          registry,
          url: realm,
          status: response.status,
          message: `authenticating to ${registry} at ${realm} failed: ${response.status}${hint}\n${
            scrub(response.text, credential).slice(0, 1000)
          }`.trimEnd()
        })
      )
    }
    const body = yield* decodeTokenResponse(response.text).pipe(
      Effect.mapError(() =>
        new AuthError({ registry, url: realm, status: response.status, message: `the token endpoint ${realm} for ${registry} did not return JSON` })
      )
    )
    const token = body.token !== undefined && body.token !== "" ? body.token : body.access_token
    if (token === undefined || token === "") {
      return yield* Effect.fail(
        new AuthError({ registry, url: realm, status: response.status, message: `the token endpoint ${realm} for ${registry} returned no token` })
      )
    }
    const seconds = Math.max(body.expires_in ?? MIN_TOKEN_SECONDS, MIN_TOKEN_SECONDS)
    return { token: Redacted.make(token), expiresAt: options.now() + seconds * 1000 }
  })

export interface Authenticator {
  /** The Authorization header for these scopes, probing the registry and fetching a token as needed. */
  readonly authorization: (
    registry: string,
    scopes: ReadonlyArray<string>
  ) => Effect.Effect<Option.Option<Redacted.Redacted<string>>, AuthError | CredentialsError | TransportError>
  /** A request got 401: learn its challenge and forget cached tokens, so the next `authorization` answers afresh. */
  readonly challenged: (registry: string, wwwAuthenticate: ReadonlyArray<string>) => Effect.Effect<void>
  readonly hasCredential: (registry: string) => Effect.Effect<boolean, CredentialsError>
}

interface RegistryAuthState {
  /** undefined until probed; null when `/v2/` needs no auth. */
  challenge: Challenge | null | undefined
  credential: Option.Option<Credential> | undefined
  readonly tokens: Map<string, BearerToken>
  /** Scopes a 401 asked for beyond ours; later token requests include them. */
  readonly extraScopes: Set<string>
  readonly lock: Effect.Semaphore
}

const pickChallenge = (headers: ReadonlyArray<string>): Challenge | undefined => {
  const all = headers.flatMap(parseChallenges)
  return all.find((c) => c.scheme === "bearer") ?? all.find((c) => c.scheme === "basic") ?? all[0]
}

export const makeAuthenticator = (deps: {
  readonly call: PlainCall
  readonly credentials: CredentialStore
  readonly baseUrl: (registry: string) => string
  readonly clientId: string
  readonly now?: () => number
}): Authenticator => {
  const now = deps.now ?? Date.now
  const states = new Map<string, RegistryAuthState>()
  const stateOf = (registry: string): RegistryAuthState => {
    let s = states.get(registry)
    if (s === undefined) {
      s = {
        challenge: undefined,
        credential: undefined,
        tokens: new Map(),
        extraScopes: new Set(),
        lock: Effect.unsafeMakeSemaphore(1)
      }
      states.set(registry, s)
    }
    return s
  }

  const credentialOf = (registry: string, state: RegistryAuthState) =>
    state.credential !== undefined
      ? Effect.succeed(state.credential)
      : deps.credentials.lookup(registry).pipe(Effect.tap((c) => Effect.sync(() => (state.credential = c))))

  const probe = (registry: string, state: RegistryAuthState) =>
    state.challenge !== undefined
      ? Effect.succeed(state.challenge)
      : deps.call(registry, { method: "GET", url: `${deps.baseUrl(registry)}/v2/`, headers: {}, followRedirects: true }).pipe(
        Effect.map((r) => (r.status === 401 ? pickChallenge(r.wwwAuthenticate) ?? null : null)),
        Effect.tap((c) =>
          Effect.sync(() => (state.challenge = c)).pipe(
            Effect.zipRight(Effect.logDebug(`${registry}: /v2/ asks for ${c === null ? "no" : c.scheme} authentication`))
          )
        )
      )

  const authorization: Authenticator["authorization"] = (registry, scopes) => {
    const state = stateOf(registry)
    return state.lock.withPermits(1)(
      Effect.gen(function*() {
        const challenge = yield* probe(registry, state)
        if (challenge === null) return Option.none()
        const credential = yield* credentialOf(registry, state)
        if (challenge.scheme === "basic") {
          if (Option.isNone(credential)) return Option.none()
          const c = credential.value
          return Option.some(
            Redacted.make(c._tag === "Basic" ? basicHeader(c.username, Redacted.value(c.password)) : `Bearer ${Redacted.value(c.token)}`)
          )
        }
        if (challenge.scheme !== "bearer") {
          return yield* Effect.fail(
            new AuthError({
              registry,
              url: `${deps.baseUrl(registry)}/v2/`,
              status: 401,
              message: `${registry} asks for "${challenge.scheme}" authentication, which is not supported (only Bearer and Basic)`
            })
          )
        }
        if (Option.isSome(credential) && credential.value._tag === "RegistryToken") {
          return Option.some(Redacted.make(`Bearer ${Redacted.value(credential.value.token)}`))
        }
        const realm = challenge.params.realm
        if (realm === undefined || realm === "") {
          return yield* Effect.fail(
            new AuthError({
              registry,
              url: `${deps.baseUrl(registry)}/v2/`,
              status: 401,
              message: `${registry} sent a Bearer challenge without a realm, so no token can be requested`
            })
          )
        }
        // Challenged scopes go first: some registries read only the first scope.
        const wanted = [...new Set([...state.extraScopes, ...scopes])]
        const key = [...wanted].sort().join(" ")
        const cached = state.tokens.get(key)
        if (cached !== undefined && cached.expiresAt - EXPIRY_MARGIN_MS > now()) {
          return Option.some(Redacted.make(`Bearer ${Redacted.value(cached.token)}`))
        }
        const token = yield* fetchToken(deps.call, {
          registry,
          realm,
          service: challenge.params.service,
          scopes: wanted,
          credential,
          clientId: deps.clientId,
          now
        })
        state.tokens.set(key, token)
        yield* Effect.logDebug(`${registry}: got a bearer token for ${wanted.join(" ")}`)
        return Option.some(Redacted.make(`Bearer ${Redacted.value(token.token)}`))
      })
    )
  }

  const challenged: Authenticator["challenged"] = (registry, wwwAuthenticate) => {
    const state = stateOf(registry)
    return state.lock.withPermits(1)(
      Effect.sync(() => {
        const challenge = pickChallenge(wwwAuthenticate)
        if (challenge !== undefined) {
          state.challenge = challenge
          for (const scope of (challenge.params.scope ?? "").split(" ")) if (scope !== "") state.extraScopes.add(scope)
        }
        state.tokens.clear()
      })
    )
  }

  const hasCredential: Authenticator["hasCredential"] = (registry) => {
    const state = stateOf(registry)
    return credentialOf(registry, state).pipe(Effect.map(Option.isSome))
  }

  return { authorization, challenged, hasCredential }
}
