import { CreateBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3"
import { type Backend, BackendRegistry, builtinBackends, makeBackendRegistry, type ResolvedTool, type ToolRequest } from "@engine/backends"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { createHash, createHmac } from "node:crypto"
import * as fs from "node:fs"
import * as http from "node:http"
import { createRequire } from "node:module"
import type { AddressInfo } from "node:net"
import * as path from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { engine, readLayout } from "../../../test/support/Cli"
import { skopeoInspect, umociUnpack } from "../../../test/support/Validate"
import { tempDir, testContext, toolsOf, tree } from "./support/Context"
import { tarGz } from "./support/Fixtures"

// s3rver (npm) is a real S3 server: buckets, keys, ListObjectsV2 pages, NoSuchKey/NoSuchBucket and
// InvalidAccessKeyId answers in S3's XML. It accepts any SigV4 signature from a known key, though (its v4 check is
// unimplemented), so the tests put a front before it that checks each signature as S3 does, and answers an
// OUTSIDER key with AccessDenied, the way a bucket policy would. Its ListObjectsV2 cannot page on node 20 (its
// continuation tokens are DES-encrypted, which OpenSSL 3 refuses), so listings here fit in one page.

const exec = promisify(execFile)

/** s3rver ships no types: the part used here, Koa's request handler over its filesystem store. */
interface S3rverServer {
  readonly callback: () => http.RequestListener
}
const S3rver = createRequire(import.meta.url)("s3rver") as new(options: {
  readonly silent: boolean
  readonly directory: string
  readonly vhostBuckets: boolean
}) => S3rverServer

const KEYS: Readonly<Record<string, string>> = { S3RVER: "S3RVER", OUTSIDER: "outsider-secret" }
const BUCKET = "tools"
const VERSIONS = ["1.0.0", "1.1.0", "1.2.0-rc.1"]

let front: http.Server
let endpoint = ""
let deadEndpoint = ""
let root: string
let backend: Backend
const sha: Record<string, string> = {}
let n = 0

const script = (version: string) => `#!/bin/sh\necho "hello ${version}"\n`

// ---- a SigV4 check written from AWS's spec, independent of the SDK that signs -----------------------------------

const rfc3986 = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)

const canonicalQuery = (search: string) =>
  search.replace(/^\?/, "").split("&").filter((p) => p !== "").map((p) => {
    const eq = p.indexOf("=")
    const [k, v] = eq < 0 ? [p, ""] : [p.slice(0, eq), p.slice(eq + 1)]
    return [rfc3986(decodeURIComponent(k)), rfc3986(decodeURIComponent(v.replace(/\+/g, "%20")))] as const
  }).sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0)).map(([k, v]) => `${k}=${v}`).join("&")

const hmac = (key: Buffer | string, data: string) => createHmac("sha256", key).update(data).digest()

/** Undefined when the signature is right, else the S3 error code to answer with. */
const checkSignature = (req: http.IncomingMessage): { code: string; status: number } | "unknown-key" | undefined => {
  const auth = req.headers.authorization ?? ""
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth)
  if (m === null) return { code: "AuthorizationHeaderMalformed", status: 400 }
  const [, keyId, day, region, signed, signature] = m as unknown as [string, string, string, string, string, string]
  const secret = KEYS[keyId]
  if (secret === undefined) return "unknown-key"
  const url = new URL(req.url ?? "/", "http://x")
  const names = signed.split(";")
  const canonical = [
    req.method,
    url.pathname,
    canonicalQuery(url.search),
    ...names.map((h) => `${h}:${String(req.headers[h] ?? "").trim().replace(/\s+/g, " ")}`),
    "",
    signed,
    String(req.headers["x-amz-content-sha256"] ?? "UNSIGNED-PAYLOAD")
  ].join("\n")
  const date = String(req.headers["x-amz-date"])
  const scope = `${day}/${region}/s3/aws4_request`
  const toSign = ["AWS4-HMAC-SHA256", date, scope, createHash("sha256").update(canonical).digest("hex")].join("\n")
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, day), region), "s3"), "aws4_request")
  if (hmac(key, toSign).toString("hex") !== signature) return { code: "SignatureDoesNotMatch", status: 403 }
  if (keyId === "OUTSIDER") return { code: "AccessDenied", status: 403 }
  return undefined
}

const MESSAGES: Readonly<Record<string, string>> = {
  SignatureDoesNotMatch: "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
  AccessDenied: "Access Denied",
  AuthorizationHeaderMalformed: "The authorization header is malformed",
  SlowDown: "Please reduce your request rate."
}

/** Requests the front answered with S3's throttling error (keys under `throttled/`, as a prefix over its request rate). */
let throttled = 0

const startFront = async (handler: http.RequestListener) => {
  const server = http.createServer((req, res) => {
    const signature = req.headers.authorization === undefined ? undefined : checkSignature(req)
    const slowDown = signature === undefined && (req.url ?? "").startsWith(`/${BUCKET}/throttled/`)
    if (slowDown) throttled++
    const verdict = slowDown ? { code: "SlowDown", status: 503 } : signature
    if (verdict === undefined || verdict === "unknown-key") return handler(req, res)
    const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${verdict.code}</Code><Message>${MESSAGES[verdict.code]}</Message>` +
      `<RequestId>test</RequestId></Error>`
    req.resume()
    res.writeHead(verdict.status, { "content-type": "application/xml", "content-length": Buffer.byteLength(body) }).end(body)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return server
}

// ---- fixtures -------------------------------------------------------------------------------------------------------

const upload = async (objects: Record<string, Buffer | string>) => {
  const client = new S3Client({
    region: "us-east-1",
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    requestChecksumCalculation: "WHEN_REQUIRED"
  })
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }))
  for (const [Key, Body] of Object.entries(objects)) await client.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body }))
  client.destroy()
}

beforeAll(async () => {
  root = tempDir("s3")
  // The SDK's first link reads this worker's own env, and its last asks EC2's metadata service: a developer's own
  // AWS settings (or instance role) must not answer for the build env a test gives.
  for (const name of Object.keys(process.env)) if (name.startsWith("AWS_")) delete process.env[name]
  process.env["AWS_EC2_METADATA_DISABLED"] = "true"
  process.env["AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED"] = "true"
  const s3rver = new S3rver({ silent: true, directory: path.join(root, "s3rver"), vhostBuckets: false })
  front = await startFront(s3rver.callback())
  endpoint = `http://127.0.0.1:${(front.address() as AddressInfo).port}`
  // A port that was just free and is closed again: connection refused.
  const closed = http.createServer()
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve))
  deadEndpoint = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`
  await new Promise((resolve) => closed.close(resolve))

  const objects: Record<string, Buffer | string> = {}
  for (const v of VERSIONS) {
    const tgz = await tarGz([
      { name: `hello-${v}/`, type: "directory" },
      { name: `hello-${v}/bin/`, type: "directory" },
      { name: `hello-${v}/bin/hello`, content: script(v), mode: 0o755 },
      { name: `hello-${v}/README`, content: `hello ${v}\n` }
    ])
    sha[v] = createHash("sha256").update(tgz).digest("hex")
    objects[`hello/hello-${v}.tar.gz`] = tgz
    objects[`blobs/hello-${v}`] = tgz
  }
  objects["hello/notes.txt"] = "not a release"
  objects["other/other-9.9.9.tar.gz"] = "x"
  objects["hello/versions.json"] = JSON.stringify([{ version: "v1.0.0" }, { version: "v1.1.0" }])
  objects["hello/versions.txt"] = "# released\n1.0.0\nv1.1.0\n"
  objects["bare/tiny-linux-x64"] = "#!/bin/sh\necho tiny\n"
  await upload(objects)

  backend = await Effect.runPromise(
    Effect.flatMap(BackendRegistry, (r) => r.get({ short: "s3:hello", backend: "s3", name: "hello", version: "1.0.0", options: {} })).pipe(
      Effect.provide(makeBackendRegistry())
    )
  )
})

afterAll(async () => {
  await new Promise((resolve) => front?.close(resolve))
  if (root !== undefined) fs.rmSync(root, { recursive: true, force: true })
})

// ---- helpers --------------------------------------------------------------------------------------------------------

const { request, resolved } = toolsOf("s3")
const URL_TEMPLATE = `s3://${BUCKET}/hello/hello-{{ version }}.tar.gz`

/** The build's env: only what a test gives, so a developer's own AWS settings never leak in. */
const awsEnv = (env: Record<string, string> = { AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER" }) => {
  const empty = path.join(root, "empty")
  fs.writeFileSync(empty, "")
  return {
    PATH: process.env.PATH,
    HOME: path.join(root, "home"),
    AWS_SHARED_CREDENTIALS_FILE: empty,
    AWS_CONFIG_FILE: empty,
    ...env
  }
}
const ctxWith = (env?: Record<string, string>) => testContext(root, { env: awsEnv(env) })

const opts = (extra: ToolRequest["options"] = {}): ToolRequest["options"] => ({ url: URL_TEMPLATE, endpoint, ...extra })

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)

const install = async (tool: ResolvedTool, ctx = ctxWith()) => {
  const dir = path.join(root, `install-${n++}`)
  fs.mkdirSync(dir)
  await run(backend.install(tool, dir, ctx))
  const bins = await run(backend.binPaths(tool, dir, ctx))
  return { dir, tree: tree(dir), bins: bins.map((p) => path.relative(dir, p) || ".") }
}

const installError = async (tool: ResolvedTool, ctx = ctxWith()) => {
  const dir = path.join(root, `install-${n++}`)
  fs.mkdirSync(dir)
  const e = await run(Effect.flip(backend.install(tool, dir, ctx)))
  return { message: e.message, tree: tree(dir) }
}

// ---- tests ----------------------------------------------------------------------------------------------------------

describe("s3 backend: listing", () => {
  it("is a built-in backend with mise's options", () => {
    const info = builtinBackends.find((b) => b.id === "s3")
    expect(info?.specForm).toBe("s3:<name>")
    expect(info?.options).toEqual(expect.arrayContaining(["url", "endpoint", "region", "version_prefix", "version_regex", "version_list_url", "checksum"]))
  })

  it("lists versions from the keys under version_prefix with mise's default regex (x.y.z: an rc's key counts as x.y.z)", async () => {
    const tool = request("hello", "latest", opts({ version_prefix: "hello/" }))
    expect(await run(backend.listVersions(tool, ctxWith()))).toEqual(["1.0.0", "1.1.0", "1.2.0"])
    // mise 2026.9.15 does the same, resolves latest to 1.2.0 and then finds no hello-1.2.0.tar.gz: a version_regex fixes it.
    expect(await run(backend.resolveVersion!(tool, ctxWith()))).toBe("1.2.0")
  })

  it("version_regex picks the version out of each key; latest skips the pre-release, prefixes resolve", async () => {
    const options = opts({ version_prefix: "hello/hello-", version_regex: "hello-([0-9][^/]*)\\.tar\\.gz$" })
    expect(await run(backend.listVersions(request("hello", "latest", options), ctxWith()))).toEqual(VERSIONS.slice().sort())
    expect(await run(backend.resolveVersion!(request("hello", "latest", options), ctxWith()))).toBe("1.1.0")
    expect(await run(backend.resolveVersion!(request("hello", "1.0", options), ctxWith()))).toBe("1.0.0")
    expect((await run(Effect.flip(backend.resolveVersion!(request("hello", "2", options), ctxWith())))).message).toBe(
      "s3:hello@2: no version matches (available: 1.0.0, 1.1.0, 1.2.0-rc.1)"
    )
  })

  it("reads a version_list_url manifest: JSON with version_json_path, or one version a line", async () => {
    const json = opts({ version_list_url: `s3://${BUCKET}/hello/versions.json`, version_json_path: ".[].version" })
    expect(await run(backend.listVersions(request("hello", "latest", json), ctxWith()))).toEqual(["1.0.0", "1.1.0"])
    const auto = opts({ version_list_url: `s3://${BUCKET}/hello/versions.json` })
    expect(await run(backend.listVersions(request("hello", "latest", auto), ctxWith()))).toEqual(["1.0.0", "1.1.0"])
    const lines = opts({ version_list_url: `s3://${BUCKET}/hello/versions.txt` })
    expect(await run(backend.resolveVersion!(request("hello", "latest", lines), ctxWith()))).toBe("1.1.0")
  })

  it("takes the version as written without a listing, and says what to set for latest", async () => {
    expect(await run(backend.listVersions(request("hello", "1.0.0", opts()), ctxWith()))).toEqual([])
    expect(await run(backend.resolveVersion!(request("hello", "3.0.0", opts()), ctxWith()))).toBe("3.0.0")
    expect((await run(Effect.flip(backend.resolveVersion!(request("hello", "latest", opts()), ctxWith())))).message).toBe(
      "s3:hello@latest: cannot resolve latest without a version listing: set version_prefix (lists the bucket) or version_list_url (a manifest), or give a version"
    )
  })

  it("refuses version_expr (expr-lang) and a bad version_regex with what to use instead", async () => {
    const expr = request("hello", "latest", opts({ version_list_url: `s3://${BUCKET}/hello/versions.json`, version_expr: "versions" }))
    expect((await run(Effect.flip(backend.listVersions(expr, ctxWith())))).message).toContain("version_expr (expr-lang) is not supported")
    const bad = request("hello", "latest", opts({ version_prefix: "hello/", version_regex: "(" }))
    expect((await run(Effect.flip(backend.listVersions(bad, ctxWith())))).message).toContain(`version_regex "(" is not a valid regular expression`)
  })
})

describe("s3 backend: install", () => {
  it("downloads the object with credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, verifies the checksum and unpacks it", async () => {
    const ctx = ctxWith()
    const out = await install(resolved("hello", "1.1.0", opts({ checksum: `sha256:${sha["1.1.0"]}` })), ctx)
    expect(out.tree).toEqual(["f README 644", "d bin", "f bin/hello 755"])
    expect(out.bins).toEqual(["bin"])
    expect((await exec(path.join(out.dir, "bin", "hello"))).stdout).toBe("hello 1.1.0\n")
    // The download went through the download dir and is gone once installed, as in mise.
    expect(fs.existsSync(path.join(ctx.downloadDir, "s3-hello", "1.1.0"))).toBe(false)
  })

  it("takes the endpoint from AWS_ENDPOINT_URL_S3, and honours bin_path and strip_components", async () => {
    const ctx = ctxWith({ AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER", AWS_ENDPOINT_URL_S3: endpoint })
    const out = await install(resolved("hello", "1.0.0", { url: URL_TEMPLATE, strip_components: 0, bin_path: "hello-{{ version }}/bin" }), ctx)
    expect(out.bins).toEqual(["hello-1.0.0/bin"])
    expect(out.tree).toContain("f hello-1.0.0/bin/hello 755")
  })

  it("keeps the download with always_keep_download; a bare binary lands at the root under its cleaned name", async () => {
    const ctx = testContext(root, { env: awsEnv(), downloadDir: path.join(root, "kept"), settings: { always_keep_download: true } })
    const out = await install(resolved("tiny", "1.0.0", { url: `s3://${BUCKET}/bare/tiny-linux-x64`, endpoint }), ctx)
    expect(out.tree).toEqual(["f tiny 755"])
    expect(fs.readdirSync(path.join(root, "kept", "s3-tiny", "1.0.0"))).toEqual(["tiny-linux-x64"])
  })

  it("unpacks a key without an extension by the format option", async () => {
    const out = await install(resolved("hello", "1.0.0", opts({ url: `s3://${BUCKET}/blobs/hello-{{ version }}`, format: "tar.gz" })))
    expect(out.tree).toEqual(["f README 644", "d bin", "f bin/hello 755"])
  })

  it("reads a profile's credentials from AWS_CONFIG_FILE too", async () => {
    const config = path.join(root, "config")
    fs.writeFileSync(config, "[profile tools]\nregion = us-east-1\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n")
    const out = await install(resolved("hello", "1.0.0", opts()), ctxWith({ AWS_CONFIG_FILE: config, AWS_PROFILE: "tools" }))
    expect(out.bins).toEqual(["bin"])
  })

  it("reads credentials from a shared credentials file and AWS_PROFILE; a wrong secret or a missing profile is refused", async () => {
    const file = path.join(root, "credentials")
    fs.writeFileSync(
      file,
      "[default]\naws_access_key_id = NOBODY\naws_secret_access_key = nothing\n\n" +
        "[ci]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n\n" +
        "[stale]\naws_access_key_id = S3RVER\naws_secret_access_key = rotated-away\n"
    )
    const out = await install(resolved("hello", "1.0.0", opts()), ctxWith({ AWS_SHARED_CREDENTIALS_FILE: file, AWS_PROFILE: "ci" }))
    expect(fs.readFileSync(path.join(out.dir, "bin", "hello"), "utf8")).toBe(script("1.0.0"))
    const stale = await installError(resolved("hello", "1.0.0", opts()), ctxWith({ AWS_SHARED_CREDENTIALS_FILE: file, AWS_PROFILE: "stale" }))
    expect(stale.message).toBe(
      `s3:hello@1.0.0: the S3 endpoint ${endpoint} rejected the request signature for s3://tools/hello/hello-1.0.0.tar.gz ` +
        `(SignatureDoesNotMatch): the secret key from profile "stale" (${file}, ${path.join(root, "empty")}) is wrong; ` +
        "check AWS_SECRET_ACCESS_KEY or the profile's aws_secret_access_key"
    )
    const missing = await installError(resolved("hello", "1.0.0", opts()), ctxWith({ AWS_SHARED_CREDENTIALS_FILE: file, AWS_PROFILE: "gone" }))
    expect(missing.message).toBe(
      `s3:hello@1.0.0: no AWS credentials found for s3://tools/hello/hello-1.0.0.tar.gz: the profile "gone" (AWS_PROFILE) has none in ` +
        `${file} or ${path.join(root, "empty")}; add it there (files: AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE), ` +
        "or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )
  })
})

describe("s3 backend: errors a user can act on", () => {
  // A function: the endpoint is known only once beforeAll has started the server.
  const tool = () => resolved("hello", "1.0.0", opts())

  it("no credentials anywhere: says what to set", async () => {
    const e = await installError(tool(), ctxWith({}))
    expect(e.message).toBe(
      "s3:hello@1.0.0: no AWS credentials found for s3://tools/hello/hello-1.0.0.tar.gz: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY " +
        "(and AWS_SESSION_TOKEN for temporary ones), or AWS_PROFILE naming a profile in ~/.aws/credentials (another file: AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE)"
    )
    expect(e.tree).toEqual([])
  })

  it("a wrong secret: SignatureDoesNotMatch, naming where the key came from and never the key", async () => {
    const e = await installError(tool(), ctxWith({ AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "not-the-secret-42" }))
    expect(e.message).toBe(
      `s3:hello@1.0.0: the S3 endpoint ${endpoint} rejected the request signature for s3://tools/hello/hello-1.0.0.tar.gz (SignatureDoesNotMatch): ` +
        "the secret key from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY is wrong; check AWS_SECRET_ACCESS_KEY or the profile's aws_secret_access_key"
    )
    expect(e.message).not.toContain("not-the-secret-42")
  })

  it("an access key the server does not know (s3rver's own InvalidAccessKeyId)", async () => {
    const e = await installError(tool(), ctxWith({ AWS_ACCESS_KEY_ID: "AKIANOBODY", AWS_SECRET_ACCESS_KEY: "x" }))
    expect(e.message).toBe(
      `s3:hello@1.0.0: the S3 endpoint ${endpoint} does not know the access key from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (InvalidAccessKeyId): ` +
        "check AWS_ACCESS_KEY_ID or the profile's aws_access_key_id, and the endpoint"
    )
    expect(e.message).not.toContain("AKIANOBODY")
  })

  it("access denied", async () => {
    const e = await installError(tool(), ctxWith({ AWS_ACCESS_KEY_ID: "OUTSIDER", AWS_SECRET_ACCESS_KEY: "outsider-secret" }))
    expect(e.message).toBe(
      `s3:hello@1.0.0: access denied to s3://tools/hello/hello-1.0.0.tar.gz at the S3 endpoint ${endpoint} (AccessDenied): the credentials from ` +
        "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY lack s3:GetObject/s3:ListBucket on it; check the bucket policy or IAM permissions"
    )
  })

  it("no such key names the bucket and key; no such bucket names the URL", async () => {
    expect((await installError(resolved("hello", "9.9.9", opts()))).message).toBe(
      `s3:hello@9.9.9: s3://tools/hello/hello-9.9.9.tar.gz does not exist (NoSuchKey) at the S3 endpoint ${endpoint}: check the url and the version`
    )
    expect((await installError(resolved("hello", "1.0.0", opts({ url: "s3://nope/hello.tar.gz" })))).message).toBe(
      `s3:hello@1.0.0: the bucket of s3://nope/hello.tar.gz does not exist (NoSuchBucket) at the S3 endpoint ${endpoint}: check the url`
    )
  })

  it("S3's rate limit (503 SlowDown): retried as AWS asks, then said as throttling with what to do", async () => {
    const e = await installError(resolved("hello", "1.0.0", opts({ url: `s3://${BUCKET}/throttled/hello-{{ version }}.tar.gz` })))
    expect(e.message).toBe(
      `s3:hello@1.0.0: the S3 endpoint ${endpoint} is throttling requests for s3://tools/throttled/hello-1.0.0.tar.gz (SlowDown, HTTP 503) ` +
        "after 3 attempts: the request rate is over what the bucket allows; wait a moment and run the build again"
    )
    expect(throttled).toBe(3)
    expect(e.tree).toEqual([])
  })

  it("a bad checksum: expected and actual, nothing installed, nothing left in the download dir", async () => {
    const ctx = ctxWith()
    const wrong = "0".repeat(64)
    const e = await installError(resolved("hello", "1.0.0", opts({ checksum: `sha256:${wrong}` })), ctx)
    expect(e.message).toBe(
      `s3:hello@1.0.0: checksum mismatch for s3://tools/hello/hello-1.0.0.tar.gz: expected sha256:${wrong}, got sha256:${sha["1.0.0"]}`
    )
    expect(e.tree).toEqual([])
    expect(fs.readdirSync(path.join(ctx.downloadDir, "s3-hello", "1.0.0"))).toEqual([])
  })

  it("an unreachable endpoint", async () => {
    const e = await installError(resolved("hello", "1.0.0", opts({ endpoint: deadEndpoint })))
    expect(e.message).toBe(
      `s3:hello@1.0.0: cannot reach the S3 endpoint ${deadEndpoint} for s3://tools/hello/hello-1.0.0.tar.gz: connection refused (ECONNREFUSED); ` +
        "check the endpoint option or AWS_ENDPOINT_URL_S3"
    )
  })

  it("a url that is not s3://, or none", async () => {
    expect((await installError(resolved("hello", "1.0.0", opts({ url: "https://example.com/x.tar.gz" })))).message).toBe(
      `s3:hello@1.0.0: url "https://example.com/x.tar.gz" is not an s3:// URL (s3://<bucket>/<key>)`
    )
    expect((await installError(resolved("hello", "1.0.0", { endpoint }))).message).toBe(
      `s3:hello@1.0.0: the s3 backend needs a 'url' option, e.g. "s3:hello" = { version = "1.0.0", url = "s3://bucket/tools/hello-{{ version }}.tar.gz" }`
    )
  })
})

describe("engine build with an s3 tool", () => {
  it("resolves latest from the bucket listing with a profile's credentials, builds a layer skopeo and umoci read, and the tool runs", async () => {
    const project = path.join(root, "project")
    fs.mkdirSync(project, { recursive: true })
    fs.writeFileSync(
      path.join(project, "mise.toml"),
      `[tools]
"s3:hello" = { version = "latest", url = "${URL_TEMPLATE}", endpoint = "${endpoint}", region = "eu-west-1", version_prefix = "hello/hello-", version_regex = "hello-([0-9][^/]*)\\\\.tar\\\\.gz$", checksum = "sha256:${sha["1.1.0"]}" }
`
    )
    const credentials = path.join(root, "e2e-credentials")
    fs.writeFileSync(credentials, "[builder]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n")
    const out = path.join(root, "out")
    const result = await engine(["build", "--from", "scratch", "--no-mise", "-o", out, "-t", "e2e"], {
      cwd: project,
      env: {
        ...awsEnv({ AWS_SHARED_CREDENTIALS_FILE: credentials, AWS_PROFILE: "builder" }),
        ENGINE_DATA_DIR: path.join(root, "data"),
        ENGINE_CACHE_DIR: path.join(root, "cache"),
        SOURCE_DATE_EPOCH: "1700000000"
      } as Record<string, string>
    })
    expect(result.code, result.stderr).toBe(0)
    expect(result.stderr).not.toMatch(/warning|error/i)
    expect(result.stdout).toContain("s3:hello@1.1.0")

    expect(skopeoInspect(out)).toMatchObject({ Os: "linux" })
    const env = readLayout(out).config.config.Env
    expect(env.find((e) => e.startsWith("PATH="))).toContain("/mise/installs/s3-hello/1.1.0/bin")
    const rootfs = umociUnpack(out, "e2e")
    const hello = path.join(rootfs, "mise", "installs", "s3-hello", "1.1.0", "bin", "hello")
    expect(fs.statSync(hello).mode & 0o777).toBe(0o755)
    expect((await exec(hello)).stdout).toBe("hello 1.1.0\n")
  })

  it("`engine backends` lists s3 with its spec form and options", async () => {
    const result = await engine(["backends"], { cwd: root })
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/^s3 +s3:<name> +Download one object from S3/m)
    expect(result.stdout).toContain("endpoint, region, version_prefix, version_regex, version_list_url")
  })
})
