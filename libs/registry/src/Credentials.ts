import { Effect, Option, ParseResult, Redacted, Schema } from "effect"
import { spawn } from "node:child_process"
import { readFile } from "node:fs/promises"
import { homedir } from "node:os"
import { join } from "node:path"
import { CredentialsError, errorText } from "./Errors"
import { DOCKER_HUB } from "./Reference"

/** What a registry login left behind. Secrets are Redacted so logging a credential prints `<redacted>`. */
export type Credential =
  | { readonly _tag: "Basic"; readonly username: string; readonly password: Redacted.Redacted<string> }
  /** An OAuth2 refresh token (`identitytoken`, or a helper's Username `<token>`), exchanged at the token realm. */
  | { readonly _tag: "IdentityToken"; readonly token: Redacted.Redacted<string> }
  /** A bearer token used as is (`registrytoken`). */
  | { readonly _tag: "RegistryToken"; readonly token: Redacted.Redacted<string> }

export const basicCredential = (username: string, password: string): Credential => ({
  _tag: "Basic",
  username,
  password: Redacted.make(password)
})

export interface CredentialStore {
  /** The credential for a registry name as references spell it (`docker.io`, `localhost:5000`), if any. */
  readonly lookup: (registry: string) => Effect.Effect<Option.Option<Credential>, CredentialsError>
}

/** Credentials given directly (tests, flags); keys are registry names. */
export const staticCredentials = (byRegistry: Readonly<Record<string, Credential>>): CredentialStore => ({
  lookup: (registry) => Effect.succeed(Option.fromNullable(byRegistry[registry]))
})

export const noCredentials: CredentialStore = staticCredentials({})

const AuthEntrySchema = Schema.Struct({
  auth: Schema.optional(Schema.String),
  username: Schema.optional(Schema.String),
  password: Schema.optional(Schema.String),
  identitytoken: Schema.optional(Schema.String),
  registrytoken: Schema.optional(Schema.String)
})

const AuthFileSchema = Schema.Struct({
  auths: Schema.optional(Schema.Record({ key: Schema.String, value: AuthEntrySchema })),
  credHelpers: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
  credsStore: Schema.optional(Schema.String)
})

type AuthFile = Schema.Schema.Type<typeof AuthFileSchema>
type AuthEntry = Schema.Schema.Type<typeof AuthEntrySchema>

const HelperOutputSchema = Schema.Struct({ Username: Schema.String, Secret: Schema.String })

const DOCKER_HUB_KEYS = new Set([DOCKER_HUB, "index.docker.io", "registry-1.docker.io"])

/** `https://index.docker.io/v1/` → `index.docker.io`; `http://host:5000` → `host:5000`. */
const keyHost = (key: string): string => key.replace(/^[a-z]+:\/\//i, "").replace(/\/.*$/, "").toLowerCase()

/** Whether an `auths`/`credHelpers` key names this registry (scheme prefixes and Docker Hub aliases accepted). */
export const keyMatches = (key: string, registry: string): boolean => {
  const host = keyHost(key)
  return registry === DOCKER_HUB ? DOCKER_HUB_KEYS.has(host) : host === registry.toLowerCase()
}

/** An exact key first, then any alias, so `localhost:5000` beats `http://localhost:5000` when both are present. */
const findKey = <V>(record: Readonly<Record<string, V>> | undefined, registry: string): V | undefined => {
  if (record === undefined) return undefined
  if (Object.hasOwn(record, registry)) return record[registry]
  const key = Object.keys(record).find((k) => keyMatches(k, registry))
  return key === undefined ? undefined : record[key]
}

/** The server name a credential helper is asked about; Docker Hub's is its historical v1 URL. */
export const helperServer = (registry: string): string =>
  registry === DOCKER_HUB ? "https://index.docker.io/v1/" : registry

/** The auth files consulted, in order; the first one holding a credential for the registry wins. */
export const authFilePaths = (env: Readonly<Record<string, string | undefined>>, home: string): ReadonlyArray<string> => {
  const set = (v: string | undefined): v is string => v !== undefined && v !== ""
  return [
    ...(set(env.REGISTRY_AUTH_FILE) ? [env.REGISTRY_AUTH_FILE] : []),
    ...(set(env.XDG_RUNTIME_DIR) ? [join(env.XDG_RUNTIME_DIR, "containers", "auth.json")] : []),
    join(set(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : join(home, ".config"), "containers", "auth.json"),
    join(set(env.DOCKER_CONFIG) ? env.DOCKER_CONFIG : join(home, ".docker"), "config.json")
  ]
}

/** Runs `docker-credential-<helper> get` with the server on stdin. */
export type HelperRunner = (
  program: string,
  stdin: string
) => Promise<{ readonly exitCode: number; readonly stdout: string; readonly stderr: string }>

/** Runs the helper found on the PATH of `env`. */
const runHelperProcess = (env: Readonly<Record<string, string | undefined>>): HelperRunner => (program, stdin) =>
  new Promise((resolve, reject) => {
    const child = spawn(program, ["get"], { stdio: ["pipe", "pipe", "pipe"], env })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d))
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d))
    child.on("error", reject)
    child.on("close", (code) => resolve({ exitCode: code ?? 1, stdout, stderr }))
    child.stdin.on("error", () => {
      // A helper that exits before reading stdin reports through its exit code instead.
    })
    child.stdin.end(stdin)
  })

const isMissingFile = (cause: unknown): boolean =>
  typeof cause === "object" && cause !== null && "code" in cause && cause.code === "ENOENT"

const decodeAuthFile = Schema.decodeUnknown(Schema.parseJson(AuthFileSchema))
const decodeHelperOutput = Schema.decodeUnknown(Schema.parseJson(HelperOutputSchema))

const fromEntry = (entry: AuthEntry, registry: string, file: string): Effect.Effect<Option.Option<Credential>, CredentialsError> => {
  if (entry.identitytoken !== undefined && entry.identitytoken !== "") {
    return Effect.succeed(Option.some({ _tag: "IdentityToken", token: Redacted.make(entry.identitytoken) }))
  }
  if (entry.registrytoken !== undefined && entry.registrytoken !== "") {
    return Effect.succeed(Option.some({ _tag: "RegistryToken", token: Redacted.make(entry.registrytoken) }))
  }
  if (entry.auth !== undefined && entry.auth !== "") {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8")
    const colon = decoded.indexOf(":")
    if (colon < 0) {
      return Effect.fail(
        new CredentialsError({
          registry,
          source: file,
          message: `${file}: the "auth" entry for ${registry} is not base64 of "user:password"; run \`docker login ${registry}\` again`
        })
      )
    }
    return Effect.succeed(Option.some(basicCredential(decoded.slice(0, colon), decoded.slice(colon + 1))))
  }
  if (entry.username !== undefined && entry.password !== undefined) {
    return Effect.succeed(Option.some(basicCredential(entry.username, entry.password)))
  }
  return Effect.succeed(Option.none())
}

/** File errors are raised before the registry is known; fill it in (spreading an Error would drop its message). */
const withRegistry = (registry: string) => (e: CredentialsError): CredentialsError =>
  e.registry === "" ? new CredentialsError({ registry, source: e.source, message: e.message }) : e

export interface CredentialStoreOptions {
  readonly env?: Readonly<Record<string, string | undefined>>
  readonly homeDir?: string
  readonly runHelper?: HelperRunner
}

/**
 * Reads credentials the way docker, podman and mise do: `$REGISTRY_AUTH_FILE`, podman's auth.json files, then
 * Docker's config.json. Within a file: `credHelpers[registry]`, then `auths[registry]`, then `credsStore`.
 */
export const makeCredentialStore = (options: CredentialStoreOptions = {}): CredentialStore => {
  const env = options.env ?? process.env
  const home = options.homeDir ?? homedir()
  const runHelper = options.runHelper ?? runHelperProcess(env)

  const readAuthFile = (file: string): Effect.Effect<Option.Option<AuthFile>, CredentialsError> =>
    Effect.tryPromise({
      try: () => readFile(file, "utf8").catch((cause: unknown) => (isMissingFile(cause) ? undefined : Promise.reject(cause))),
      catch: (cause) => new CredentialsError({ registry: "", source: file, message: `cannot read ${file}: ${errorText(cause)}` })
    }).pipe(
      Effect.flatMap((text) =>
        text === undefined
          ? Effect.succeed(Option.none())
          : decodeAuthFile(text).pipe(
            Effect.map(Option.some),
            Effect.mapError((e) =>
              new CredentialsError({
                registry: "",
                source: file,
                message: `${file} is not a valid auth file: ${ParseResult.TreeFormatter.formatErrorSync(e)}`
              })
            )
          )
      )
    )

  const fromHelper = (helper: string, registry: string): Effect.Effect<Option.Option<Credential>, CredentialsError> => {
    const program = `docker-credential-${helper}`
    const failure = (message: string) => new CredentialsError({ registry, source: program, message })
    return Effect.tryPromise({
      try: () => runHelper(program, helperServer(registry)),
      catch: (cause) => cause
    }).pipe(
      Effect.catchAll((cause) =>
        isMissingFile(cause)
          ? Effect.logWarning(`credential helper ${program} is not installed; using no credentials for ${registry}`).pipe(
            Effect.as(undefined)
          )
          : Effect.fail(failure(`running ${program} get for ${registry} failed: ${errorText(cause)}`))
      ),
      Effect.flatMap((result): Effect.Effect<Option.Option<Credential>, CredentialsError> => {
        if (result === undefined) return Effect.succeed(Option.none())
        if (result.exitCode !== 0) {
          // The helper protocol's "not found" answer, printed on stdout with exit 1.
          if (/credentials not found/i.test(result.stdout)) return Effect.succeed(Option.none())
          return Effect.fail(
            failure(`${program} get for ${registry} exited with ${result.exitCode}: ${result.stderr.trim().slice(0, 500)}`)
          )
        }
        return decodeHelperOutput(result.stdout).pipe(
          Effect.mapError(() => failure(`${program} get for ${registry} printed something other than {"Username","Secret"} JSON`)),
          Effect.map((out) =>
            Option.some<Credential>(
              out.Username === "<token>"
                ? { _tag: "IdentityToken", token: Redacted.make(out.Secret) }
                : basicCredential(out.Username, out.Secret)
            )
          )
        )
      })
    )
  }

  const fromFile = (file: string, auth: AuthFile, registry: string): Effect.Effect<Option.Option<Credential>, CredentialsError> =>
    Effect.gen(function*() {
      const helper = findKey(auth.credHelpers, registry)
      if (helper !== undefined && helper !== "") {
        const found = yield* fromHelper(helper, registry)
        if (Option.isSome(found)) return found
      }
      const entry = findKey(auth.auths, registry)
      if (entry !== undefined) {
        const found = yield* fromEntry(entry, registry, file)
        if (Option.isSome(found)) return found
      }
      if (auth.credsStore !== undefined && auth.credsStore !== "") return yield* fromHelper(auth.credsStore, registry)
      return Option.none()
    })

  return {
    lookup: (registry) =>
      Effect.gen(function*() {
        for (const file of authFilePaths(env, home)) {
          const auth = yield* readAuthFile(file)
          if (Option.isNone(auth)) continue
          const found = yield* fromFile(file, auth.value, registry).pipe(
            Effect.mapError(withRegistry(registry))
          )
          if (Option.isSome(found)) {
            yield* Effect.logDebug(`using ${found.value._tag} credentials for ${registry} from ${file}`)
            return found
          }
        }
        return Option.none<Credential>()
      }).pipe(Effect.mapError(withRegistry(registry)))
  }
}
