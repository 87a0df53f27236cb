import type { S3Client } from "@aws-sdk/client-s3"
import { Effect, Either, Schema } from "effect"
import { randomBytes } from "node:crypto"
import * as fsp from "node:fs/promises"
import * as NodePath from "node:path"
import { Readable } from "node:stream"
import { downloadsOf, dropDownloads } from "./Artifact"
import type { Backend, BackendContext, ResolvedTool, ToolRequest } from "./Backend"
import { BackendError } from "./Backend"
import { type Checksum, ChecksumMismatchError, checksumMismatch, saveHashed } from "./Downloader"
import {
  binPathOf,
  binPathsOf,
  checksumOf,
  fail,
  formatOf,
  insidePath,
  label,
  option,
  template,
  unpackFile,
  urlOption,
  wholeNumber
} from "./FileOptions"
import { describeAvailable, matchVersion, sortVersions } from "./Versions"

export const s3Info = {
  id: "s3",
  specForm: "s3:<name>",
  options: [
    "url",
    "checksum",
    "bin_path",
    "strip_components",
    "bin",
    "format",
    "size",
    "endpoint",
    "region",
    "version_prefix",
    "version_regex",
    "version_list_url",
    "version_json_path",
    "platforms.<os>-<arch>.<option>"
  ],
  description:
    "Download one object from S3 or an S3-compatible store (endpoint; SigV4 with the AWS credential chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE and the shared files) and unpack it like http; versions from a bucket listing (version_prefix) or a manifest (version_list_url)"
} as const

interface S3Location {
  readonly bucket: string
  readonly key: string
}

const show = (loc: S3Location) => `s3://${loc.bucket}/${loc.key}`

/** mise's `S3Url::parse`: `s3://bucket/key`, any `?query` ignored (region and endpoint are options). */
const parseS3Url = (tool: ToolRequest, url: string, what: string): Effect.Effect<S3Location, BackendError> => {
  const m = /^s3:\/\/([^/?#]*)\/?([^?#]*)/.exec(url)
  if (m === null) return Effect.fail(fail(tool, `${what} "${url}" is not an s3:// URL (s3://<bucket>/<key>)`))
  if (m[1] === "") return Effect.fail(fail(tool, `${what} "${url}" has no bucket name (s3://<bucket>/<key>)`))
  let key = m[2]!
  try {
    key = decodeURIComponent(key)
  } catch {
    // A key with a literal `%` that is not an escape is taken as written.
  }
  return Effect.succeed({ bucket: m[1]!, key })
}

const urlTemplate = (tool: ToolRequest, ctx: BackendContext) =>
  urlOption(tool, ctx, "s3", `s3://bucket/tools/${tool.name}-{{ version }}.tar.gz`)

const objectOf = (tool: ToolRequest, ctx: BackendContext) =>
  urlTemplate(tool, ctx).pipe(
    Effect.flatMap((raw) => template(tool, raw, "url", ctx)),
    Effect.flatMap((url) => parseS3Url(tool, url, "url"))
  )

// ---- the client: endpoint, region, credentials --------------------------------------------------------------------

interface ClientSettings {
  /** A custom endpoint (MinIO, Ceph, R2, a test server), else AWS's own for the region. */
  readonly endpoint: string | undefined
  readonly region: string
  /** Where the credentials come from, for messages: never the credentials themselves. */
  readonly credentialSource: string
  readonly staticCredentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined
  readonly profile: string | undefined
  readonly credentialsFile: string | undefined
  readonly configFile: string | undefined
}

const nonEmpty = (v: string | undefined) => (v === undefined || v.trim() === "" ? undefined : v.trim())

const clientSettings = (tool: ToolRequest, ctx: BackendContext): Effect.Effect<ClientSettings, BackendError> => {
  const env = ctx.env
  const endpoint = nonEmpty(option(tool, "endpoint", ctx)) ?? nonEmpty(env["AWS_ENDPOINT_URL_S3"]) ??
    nonEmpty(env["AWS_ENDPOINT_URL"])
  if (endpoint !== undefined && !/^https?:\/\/[^/]/.test(endpoint)) {
    return Effect.fail(fail(tool, `endpoint "${endpoint}" must be an http:// or https:// URL, e.g. https://minio.internal:9000`))
  }
  const accessKeyId = nonEmpty(env["AWS_ACCESS_KEY_ID"])
  const secretAccessKey = nonEmpty(env["AWS_SECRET_ACCESS_KEY"])
  const sessionToken = nonEmpty(env["AWS_SESSION_TOKEN"])
  const profile = nonEmpty(env["AWS_PROFILE"])
  const credentialsFile = nonEmpty(env["AWS_SHARED_CREDENTIALS_FILE"])
  const configFile = nonEmpty(env["AWS_CONFIG_FILE"])
  // mise's Rust SDK chain puts the env pair first; the JS SDK would prefer AWS_PROFILE when both are set.
  const staticCredentials = accessKeyId !== undefined && secretAccessKey !== undefined
    ? { accessKeyId, secretAccessKey, ...(sessionToken !== undefined ? { sessionToken } : {}) }
    : undefined
  return Effect.succeed({
    endpoint,
    region: nonEmpty(option(tool, "region", ctx)) ?? nonEmpty(env["AWS_REGION"]) ?? nonEmpty(env["AWS_DEFAULT_REGION"]) ??
      "us-east-1",
    credentialSource: staticCredentials !== undefined
      ? "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
      : `profile "${profile ?? "default"}" (${credentialsFile ?? "~/.aws/credentials"}, ${configFile ?? "~/.aws/config"})`,
    staticCredentials,
    profile,
    credentialsFile,
    configFile
  })
}

/** The AWS SDK is large: it is loaded on the first s3 request only, never at start-up. */
const makeClient = (settings: ClientSettings): Effect.Effect<S3Client> =>
  Effect.promise(async () => {
    // The SDK warns on stderr that its 2027 releases will need node 22; that says nothing to a user of a build.
    process.env["AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED"] ??= "true"
    const [{ S3Client }, { defaultProvider }] = await Promise.all([
      import("@aws-sdk/client-s3"),
      import("@aws-sdk/credential-provider-node")
    ])
    return new S3Client({
      region: settings.region,
      // A bucket in another region than the one configured is followed, as the AWS CLI does.
      followRegionRedirects: true,
      ...(settings.endpoint !== undefined ? { endpoint: settings.endpoint, forcePathStyle: true } : {}),
      ...(settings.staticCredentials !== undefined
        ? { credentials: settings.staticCredentials }
        : {
          // The SDK's chain (shared files, SSO, credential_process, web identity, ECS/EC2), fed the build's env.
          credentialDefaultProvider: (input: object) =>
            defaultProvider({
              ...input,
              ...(settings.profile !== undefined ? { profile: settings.profile } : {}),
              ...(settings.credentialsFile !== undefined ? { filepath: settings.credentialsFile } : {}),
              ...(settings.configFile !== undefined ? { configFilepath: settings.configFile } : {})
            })
        }),
      requestHandler: { connectionTimeout: 30_000, requestTimeout: 60_000 }
    })
  })

const withClient = <A>(
  tool: ToolRequest,
  ctx: BackendContext,
  use: (client: S3Client, settings: ClientSettings) => Effect.Effect<A, BackendError>
): Effect.Effect<A, BackendError> =>
  Effect.flatMap(clientSettings(tool, ctx), (settings) =>
    Effect.acquireUseRelease(makeClient(settings), (client) => use(client, settings), (client) => Effect.sync(() => client.destroy())))

// ---- errors a user can act on ---------------------------------------------------------------------------------------

interface SdkFailure {
  readonly name?: string
  readonly code?: string
  readonly message?: string
  readonly $metadata?: { readonly httpStatusCode?: number; readonly attempts?: number }
}

/** S3's and AWS's throttling error codes: the request rate is over the limit, not a fault of the request. */
const THROTTLING = ["SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException"]

const NETWORK_CODES: Readonly<Record<string, string>> = {
  ECONNREFUSED: "connection refused",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host not found",
  ETIMEDOUT: "timed out",
  ECONNRESET: "connection reset",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable"
}

const where = (settings: ClientSettings) =>
  settings.endpoint !== undefined ? `the S3 endpoint ${settings.endpoint}` : `AWS S3 (region ${settings.region})`

/** What went wrong with one S3 request, in words naming the object and what to set. Never prints a credential. */
const describeFailure = (e: unknown, what: string, settings: ClientSettings): string => {
  const f = (typeof e === "object" && e !== null ? e : {}) as SdkFailure
  const status = f.$metadata?.httpStatusCode
  const name = f.name ?? ""
  if (name === "CredentialsProviderError") {
    const detail = f.message !== undefined && !/from any providers/.test(f.message) ? ` (${f.message})` : ""
    return settings.profile !== undefined
      ? `no AWS credentials found for ${what}: the profile "${settings.profile}" (AWS_PROFILE) has none in ` +
        `${settings.credentialsFile ?? "~/.aws/credentials"} or ${settings.configFile ?? "~/.aws/config"}; add it there ` +
        `(files: AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY${detail}`
      : `no AWS credentials found for ${what}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for ` +
        `temporary ones), or AWS_PROFILE naming a profile in ~/.aws/credentials (another file: AWS_SHARED_CREDENTIALS_FILE, ` +
        `AWS_CONFIG_FILE)${detail}`
  }
  if (name === "NoSuchKey" || (name === "NotFound" && status === 404)) {
    return `${what} does not exist (NoSuchKey) at ${where(settings)}: check the url and the version`
  }
  if (name === "NoSuchBucket") return `the bucket of ${what} does not exist (NoSuchBucket) at ${where(settings)}: check the url`
  if (name === "InvalidAccessKeyId") {
    return `${where(settings)} does not know the access key from ${settings.credentialSource} (InvalidAccessKeyId): ` +
      `check AWS_ACCESS_KEY_ID or the profile's aws_access_key_id, and the endpoint`
  }
  if (name === "SignatureDoesNotMatch") {
    return `${where(settings)} rejected the request signature for ${what} (SignatureDoesNotMatch): the secret key from ` +
      `${settings.credentialSource} is wrong; check AWS_SECRET_ACCESS_KEY or the profile's aws_secret_access_key`
  }
  if (name === "AccessDenied" || name === "Forbidden" || status === 403) {
    return `access denied to ${what} at ${where(settings)} (${name || "HTTP 403"}): the credentials from ${settings.credentialSource} ` +
      `lack s3:GetObject/s3:ListBucket on it; check the bucket policy or IAM permissions`
  }
  if (THROTTLING.includes(name) || status === 429) {
    const attempts = f.$metadata?.attempts
    return `${where(settings)} is throttling requests for ${what} (${name || "Throttling"}, HTTP ${status ?? "?"})` +
      `${attempts !== undefined ? ` after ${attempts} attempts` : ""}: the request rate is over what the bucket allows; ` +
      "wait a moment and run the build again"
  }
  const code = f.code ?? (name in NETWORK_CODES ? name : undefined)
  if (code !== undefined && NETWORK_CODES[code] !== undefined) {
    return `cannot reach ${where(settings)} for ${what}: ${NETWORK_CODES[code]} (${code}); check the endpoint option or AWS_ENDPOINT_URL_S3`
  }
  if (name === "TimeoutError" || name === "RequestTimeout") {
    return `${where(settings)} did not answer in time for ${what}; check the endpoint option or AWS_ENDPOINT_URL_S3`
  }
  return `S3 request for ${what} at ${where(settings)} failed: ${name !== "" ? `${name}: ` : ""}${f.message ?? String(e)}` +
    (status !== undefined ? ` (HTTP ${status})` : "")
}

// ---- downloads ------------------------------------------------------------------------------------------------------

const asReadable = (body: unknown): Readable | undefined => (body instanceof Readable ? body : undefined)

/** Streams one object to `dest` through a temp file beside it, hashing on the way; renamed only once verified. */
const downloadObject = (
  tool: ToolRequest,
  client: S3Client,
  settings: ClientSettings,
  loc: S3Location,
  dest: string,
  checksum: Checksum | undefined
) =>
  Effect.tryPromise({
    try: async (signal) => {
      const { GetObjectCommand } = await import("@aws-sdk/client-s3")
      await fsp.mkdir(NodePath.dirname(dest), { recursive: true })
      const temp = `${dest}.part-${process.pid}-${randomBytes(4).toString("hex")}`
      try {
        const answer = await client.send(new GetObjectCommand({ Bucket: loc.bucket, Key: loc.key }), { abortSignal: signal })
        const body = asReadable(answer.Body)
        if (body === undefined) throw new Error(`the answer for ${show(loc)} has no body`)
        const { size, actual } = await saveHashed(body, temp, checksum, signal)
        if (answer.ContentLength !== undefined && answer.ContentLength !== size) {
          throw new Error(`the body of ${show(loc)} ended after ${size} of ${answer.ContentLength} bytes`)
        }
        const mismatch = checksumMismatch(show(loc), checksum, actual)
        if (mismatch !== undefined) return mismatch
        await fsp.rename(temp, dest)
        return size
      } finally {
        await fsp.rm(temp, { force: true })
      }
    },
    catch: (e) => fail(tool, describeFailure(e, show(loc), settings), e)
  }).pipe(
    Effect.flatMap((r) => (r instanceof ChecksumMismatchError ? Effect.fail(fail(tool, r.message, r)) : Effect.succeed(r)))
  )

const install = (tool: ResolvedTool, dir: string, ctx: BackendContext) =>
  Effect.gen(function*() {
    const request: ToolRequest = { ...tool, version: tool.resolved }
    const loc = yield* objectOf(request, ctx)
    const checksum = yield* checksumOf(request, ctx)
    const strip = yield* wholeNumber(request, "strip_components", option(request, "strip_components", ctx))
    const size = yield* wholeNumber(request, "size", option(request, "size", ctx))
    const binPath = yield* binPathOf(request, ctx)
    const bin = option(request, "bin", ctx)
    if (bin !== undefined) yield* insidePath(request, "bin", bin)
    const fileName = NodePath.posix.basename(loc.key)
    if (fileName === "") return yield* fail(request, `cannot tell a file name from ${show(loc)}`)
    const format = yield* formatOf(request, ctx, fileName)
    const dest = NodePath.join(downloadsOf(tool, ctx), fileName)

    ctx.log(`${label(request)}: download ${show(loc)}`)
    const got = yield* withClient(request, ctx, (client, settings) => downloadObject(request, client, settings, loc, dest, checksum))
    if (size !== undefined && size !== got) {
      return yield* fail(request, `size mismatch for ${show(loc)}: expected ${size} bytes, got ${got}`)
    }
    yield* unpackFile(request, dest, dir, { fileName, format, strip, binPath, bin }, ctx)
    yield* dropDownloads(tool, ctx)
  })

// ---- versions -------------------------------------------------------------------------------------------------------

const DEFAULT_VERSION_REGEX = "([0-9]+\\.[0-9]+\\.[0-9]+)"

const regexOf = (tool: ToolRequest, raw: string) =>
  Effect.try({
    try: () => new RegExp(raw, "g"),
    catch: (e) => fail(tool, `version_regex "${raw}" is not a valid regular expression: ${e instanceof Error ? e.message : String(e)}`)
  })

/** The first capture group of each match, else the whole match (mise's rule), trimmed, empty ones dropped. */
const captures = (regex: RegExp, text: string): ReadonlyArray<string> =>
  Array.from(text.matchAll(regex), (m) => (m[1] ?? m[0]).trim()).filter((v) => v !== "")

const normalize = (v: string) => v.trim().replace(/^v+/, "")

const VERSION_FIELDS = ["version", "tag_name", "name", "tag", "v"] as const

const fieldVersion = (o: Readonly<Record<string, unknown>>): string | undefined => {
  for (const field of VERSION_FIELDS) {
    const v = o[field]
    if (typeof v === "string" && normalize(v) !== "") return normalize(v)
  }
  return undefined
}

const recordVersion = (o: Readonly<Record<string, unknown>>): ReadonlyArray<string> => {
  const v = fieldVersion(o)
  return v === undefined ? [] : [v]
}

const isRecord = (v: unknown): v is Readonly<Record<string, unknown>> => typeof v === "object" && v !== null && !Array.isArray(v)

/** mise's `jq::extract_values`: a string, the strings of an array, a number, or an object's version field. */
const values = (json: unknown): ReadonlyArray<string> => {
  if (typeof json === "string") return normalize(json) === "" ? [] : [normalize(json)]
  if (typeof json === "number") return [String(json)]
  if (Array.isArray(json)) return json.filter((v): v is string => typeof v === "string").map(normalize).filter((v) => v !== "")
  return isRecord(json) ? recordVersion(json) : []
}

/** mise's jq subset for `version_json_path`: `.`, `.a.b`, `.[]`, `.[].field`, `.[?field=value].x`. */
const extractPath = (json: unknown, path: string): ReadonlyArray<string> => {
  if (path === "") return values(json)
  if (path === "[]") return Array.isArray(json) ? json.flatMap(values) : []
  if (path.startsWith("[].")) return Array.isArray(json) ? json.flatMap((v) => extractPath(v, path.slice(3))) : []
  if (path.startsWith("[?")) {
    const end = path.indexOf("]")
    const eq = path.slice(2, end).indexOf("=")
    if (end < 0 || eq < 0 || !Array.isArray(json)) return []
    const [field, value] = [path.slice(2, 2 + eq), path.slice(3 + eq, end)]
    const rest = path.slice(end + 1).replace(/^\./, "")
    return json.filter((v) => isRecord(v) && v[field] === value).flatMap((v) => extractPath(v, rest))
  }
  const cut = path.search(/[.[]/)
  const field = cut < 0 ? path : path.slice(0, cut)
  const rest = cut < 0 ? "" : path.slice(cut).replace(/^\./, "")
  return isRecord(json) && field in json ? extractPath(json[field], rest) : []
}

/** mise's `jq::extract_auto`: strings, objects' version fields, or the first of versions/releases/tags/... that has any. */
const extractAuto = (json: unknown): ReadonlyArray<string> => {
  if (typeof json === "string") return values(json)
  if (Array.isArray(json)) {
    return json.flatMap((v) => (typeof v === "string" ? values(v) : isRecord(v) ? recordVersion(v) : []))
  }
  if (isRecord(json)) {
    for (const field of ["versions", "releases", "tags", "version", "release"]) {
      const found = field in json ? extractAuto(json[field]) : []
      if (found.length > 0) return found
    }
  }
  return []
}

const parseJson = Schema.decodeUnknownEither(Schema.parseJson())

/** mise's `parse_version_list`: version_json_path, else version_regex, else JSON autodetected, else one version a line. */
const parseVersionList = (
  tool: ToolRequest,
  content: string,
  regex: string | undefined,
  jsonPath: string | undefined
): Effect.Effect<ReadonlyArray<string>, BackendError> =>
  Effect.gen(function*() {
    const trimmed = content.trim()
    let versions: ReadonlyArray<string> = []
    let explicit = regex !== undefined
    if (jsonPath !== undefined) {
      const json = parseJson(trimmed)
      if (Either.isRight(json)) {
        explicit = true
        versions = extractPath(json.right, jsonPath.trim().replace(/^\./, ""))
      }
    } else if (regex !== undefined) {
      versions = captures(yield* regexOf(tool, regex), content)
    } else if (/^[[{]/.test(trimmed)) {
      const json = parseJson(trimmed)
      if (Either.isRight(json)) versions = extractAuto(json.right)
    }
    if (versions.length === 0 && !explicit) {
      versions = trimmed.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#")).map((l) => l.replace(/^v+/, ""))
    }
    return Array.from(new Set(versions))
  })

const readObject = (tool: ToolRequest, client: S3Client, settings: ClientSettings, loc: S3Location) =>
  Effect.tryPromise({
    try: async (signal) => {
      const { GetObjectCommand } = await import("@aws-sdk/client-s3")
      const answer = await client.send(new GetObjectCommand({ Bucket: loc.bucket, Key: loc.key }), { abortSignal: signal })
      if (answer.Body === undefined) throw new Error(`the answer for ${show(loc)} has no body`)
      return answer.Body.transformToString("utf8")
    },
    catch: (e) => fail(tool, describeFailure(e, show(loc), settings), e)
  })

/** Every key under `prefix` in the bucket, all pages followed (ListObjectsV2 continuation tokens). */
const listKeys = (tool: ToolRequest, client: S3Client, settings: ClientSettings, bucket: string, prefix: string) =>
  Effect.tryPromise({
    try: async () => {
      const { paginateListObjectsV2 } = await import("@aws-sdk/client-s3")
      const keys: Array<string> = []
      for await (const page of paginateListObjectsV2({ client }, { Bucket: bucket, Prefix: prefix })) {
        for (const o of page.Contents ?? []) if (o.Key !== undefined) keys.push(o.Key)
      }
      return keys
    },
    catch: (e) => fail(tool, describeFailure(e, `the listing of s3://${bucket}/${prefix}`, settings), e)
  })

/** Whether versions can be listed at all: mise lists only with version_list_url or version_prefix. */
const discovery = (tool: ToolRequest, ctx: BackendContext) =>
  option(tool, "version_list_url", ctx) !== undefined || option(tool, "version_prefix", ctx) !== undefined

const listVersions = (tool: ToolRequest, ctx: BackendContext): Effect.Effect<ReadonlyArray<string>, BackendError> =>
  Effect.gen(function*() {
    const regex = option(tool, "version_regex", ctx)
    if (option(tool, "version_expr", ctx) !== undefined) {
      return yield* fail(tool, "version_expr (expr-lang) is not supported by engine; use version_regex or version_json_path")
    }
    const manifest = option(tool, "version_list_url", ctx)
    if (manifest !== undefined) {
      const loc = yield* parseS3Url(tool, manifest, "version_list_url")
      const text = yield* withClient(tool, ctx, (client, settings) => readObject(tool, client, settings, loc))
      return sortVersions(yield* parseVersionList(tool, text, regex, option(tool, "version_json_path", ctx)))
    }
    const prefix = option(tool, "version_prefix", ctx)
    if (prefix === undefined) return []
    const { bucket } = yield* Effect.flatMap(urlTemplate(tool, ctx), (raw) => parseS3Url(tool, raw, "url"))
    const pattern = yield* regexOf(tool, regex ?? DEFAULT_VERSION_REGEX)
    const keys = yield* withClient(tool, ctx, (client, settings) => listKeys(tool, client, settings, bucket, prefix))
    // mise takes one version per key: the first match in it.
    return sortVersions(keys.flatMap((key) => captures(pattern, key).slice(0, 1)))
  })

/**
 * Without version_prefix or version_list_url the version is taken as written (mise lists nothing then); with them,
 * `latest` and prefixes resolve against the listing, and a full version not listed is still tried as written.
 */
const resolveVersion = (tool: ToolRequest, ctx: BackendContext): Effect.Effect<string, BackendError> =>
  Effect.gen(function*() {
    if (!discovery(tool, ctx)) {
      if (tool.version !== "latest") return tool.version
      return yield* fail(tool, "cannot resolve latest without a version listing: set version_prefix (lists the bucket) or version_list_url (a manifest), or give a version")
    }
    const versions = yield* listVersions(tool, ctx)
    const match = matchVersion(tool.version, versions)
    if (match._tag === "Some") return match.value
    if (tool.version !== "latest" && tool.version.split(".").length >= 3) return tool.version
    return yield* fail(
      tool,
      versions.length === 0
        ? "the version listing found no versions: check version_prefix / version_list_url and version_regex"
        : `no version matches (available: ${describeAvailable(versions)})`
    )
  })

/** mise's s3 bin paths: `bin_path` if set, else `bin/`, else `*\/bin`, else the install dir. */
const binPaths = (tool: ResolvedTool, dir: string, ctx: BackendContext) => binPathsOf({ ...tool, version: tool.resolved }, dir, ctx)

/** The `s3` backend: one object per version from a bucket, signed with SigV4 by the AWS SDK, unpacked like http. */
export const makeS3Backend = (): Backend => ({
  ...s3Info,
  listVersions,
  resolveVersion,
  install,
  binPaths,
  execEnv: () => Effect.succeed([])
})
