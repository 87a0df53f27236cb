import { digestOf, MediaType } from "@engine/layout"
import { Effect, Either, Redacted } from "effect"
import { mkdtemp, readdir, rm } from "node:fs/promises"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import { type AddressInfo, connect, type Socket } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { basicCredential, staticCredentials } from "../src/Credentials"
import { directorySink, fetchBlobToFile, fetchManifest, pullImage } from "../src/Pull"
import { parseReference, type Reference } from "../src/Reference"
import { freePort } from "./support/Registry"
import { failWith, runWith } from "./support/Run"

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void

interface Fake {
  readonly host: string
  readonly seen: Array<{ method: string; url: string; authorization: string | undefined }>
  handler: Handler
}

const servers: Array<Server> = []
const startFake = async (hostname = "127.0.0.1"): Promise<Fake> => {
  const fake: Fake = { host: "", seen: [], handler: (_q, s) => s.writeHead(404).end() }
  const server = createServer((req, res) => {
    let body = ""
    req.setEncoding("utf8").on("data", (d: string) => (body += d)).on("end", () => {
      fake.seen.push({ method: req.method ?? "", url: req.url ?? "", authorization: req.headers.authorization })
      fake.handler(req, res, body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  servers.push(server)
  return Object.assign(fake, { host: `${hostname}:${(server.address() as AddressInfo).port}` })
}

let work: string
let registry: Fake
let other: Fake
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "engine-client-"))
  registry = await startFake()
  // Another origin on the same machine: `localhost` instead of `127.0.0.1`.
  other = await startFake("localhost")
})
afterEach(() => {
  registry.seen.length = 0
  other.seen.length = 0
})
afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections()
    await new Promise((r) => s.close(r))
  }
  await rm(work, { recursive: true, force: true })
})

const ref = (s: string, host = registry.host): Reference => {
  const r = parseReference(`${host}/${s}`)
  if (Either.isLeft(r)) throw r.left
  return r.right
}
const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  const text = JSON.stringify(body)
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers })
  res.end(text)
}
/** Answers 401 with a Basic challenge when no Authorization came; true when it did answer. */
const challengedBasic = (req: IncomingMessage, res: ServerResponse): boolean => {
  if (req.headers.authorization !== undefined) return false
  json(res, 401, { errors: [{ code: "UNAUTHORIZED" }] }, { "www-authenticate": "Basic realm=\"fake\"" })
  return true
}
const blob = new TextEncoder().encode("layer bytes that travel through a redirect")
const blobDigest = digestOf(blob)

describe("RegistryClient against a scripted registry", () => {
  it("drops Authorization when a blob redirect leaves the registry's origin", async () => {
    registry.handler = (req, res) => {
      if (challengedBasic(req, res)) return
      if (req.url === "/v2/") return json(res, 200, {})
      res.writeHead(307, { location: `http://${other.host}/storage/blob?sig=1` }).end()
    }
    other.handler = (_req, res) => res.writeHead(200, { "content-length": blob.length }).end(Buffer.from(blob))
    const credentials = staticCredentials({ [registry.host]: basicCredential("u", "redirect-pw") })
    await runWith(
      fetchBlobToFile(ref("r/x"), { mediaType: MediaType.LayerGzip, digest: blobDigest, size: blob.length }, join(work, "redirected")),
      { credentials }
    )
    const blobRequest = registry.seen.find((r) => r.url.includes("/blobs/"))
    expect(blobRequest?.authorization).toMatch(/^Basic /)
    expect(other.seen).toEqual([{ method: "GET", url: "/storage/blob?sig=1", authorization: undefined }])
  })

  it("goes through HTTP_PROXY (a CONNECT tunnel) for a registry that is not loopback, and straight to a loopback one", async () => {
    // A forward proxy that tunnels every CONNECT to the scripted registry, whatever host it names.
    const tunnels: Array<string> = []
    const proxy = createServer((_req, res) => res.writeHead(405).end())
    proxy.on("connect", (req: IncomingMessage, client: Socket) => {
      tunnels.push(req.url ?? "")
      const upstream = connect(Number(registry.host.split(":")[1]), "127.0.0.1", () => {
        client.write("HTTP/1.1 200 Connection Established\r\n\r\n")
        upstream.pipe(client)
        client.pipe(upstream)
      })
      upstream.on("error", () => client.destroy())
      client.on("error", () => upstream.destroy())
    })
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve))
    servers.push(proxy)
    registry.handler = (req, res) =>
      req.url === "/v2/" ? json(res, 200, {}) : res.writeHead(200, { "content-length": blob.length }).end(Buffer.from(blob))
    const saved = process.env.HTTP_PROXY
    process.env.HTTP_PROXY = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`
    try {
      const descriptor = { mediaType: MediaType.LayerGzip, digest: blobDigest, size: blob.length }
      await runWith(
        Effect.zipRight(
          fetchBlobToFile(ref("r/x", "registry.test:5000"), descriptor, join(work, "proxied")),
          fetchBlobToFile(ref("r/x"), descriptor, join(work, "direct"))
        ),
        { insecureRegistries: ["registry.test:5000"] }
      )
    } finally {
      if (saved === undefined) delete process.env.HTTP_PROXY
      else process.env.HTTP_PROXY = saved
    }
    expect(tunnels.length).toBeGreaterThan(0)
    expect(new Set(tunnels)).toEqual(new Set(["registry.test:5000"]))
    expect(registry.seen.map((r) => r.url)).toEqual(["/v2/", `/v2/r/x/blobs/${blobDigest}`, "/v2/", `/v2/r/x/blobs/${blobDigest}`])
    expect(await readdir(work)).toEqual(expect.arrayContaining(["proxied", "direct"]))
  })

  it("answers a Bearer challenge met on a repository after an open /v2/, and re-answers once when a token is refused", async () => {
    let issued = 0
    other.handler = (req, res) => {
      issued++
      const url = new URL(req.url ?? "/", "http://x")
      json(res, 200, { token: `t${issued}`, scope: url.searchParams.getAll("scope") })
    }
    registry.handler = (req, res) => {
      if (req.url === "/v2/") return json(res, 200, {})
      // The first token is treated as expired.
      if (req.headers.authorization !== "Bearer t2") {
        return json(res, 401, { errors: [{ code: "UNAUTHORIZED" }] }, {
          "www-authenticate": `Bearer realm="http://${other.host}/token",service="fake",scope="repository:r/x:pull"`
        })
      }
      json(res, 200, { schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests: [] }, { "content-type": MediaType.ImageIndex })
    }
    const fetched = await runWith(fetchManifest(ref("r/x:v1")))
    expect(fetched._tag).toBe("Index")
    expect(issued).toBe(2)
    // /v2/ is open; the manifest GET is challenged bare, then t1 is refused once and t2 accepted.
    expect(registry.seen.map((r) => r.authorization)).toEqual([undefined, undefined, "Bearer t1", "Bearer t2"])
  })

  it("uses a registry token as the bearer token directly", async () => {
    registry.handler = (req, res) => {
      if (req.url === "/v2/") return json(res, 401, {}, { "www-authenticate": "Bearer realm=\"http://127.0.0.1:1/unused\"" })
      json(res, 200, { schemaVersion: 2, manifests: [] })
    }
    const credentials = staticCredentials({ [registry.host]: { _tag: "RegistryToken", token: Redacted.make("direct") } })
    const fetched = await runWith(fetchManifest(ref("r/x:v1")), { credentials })
    expect(fetched._tag).toBe("Index")
    expect(registry.seen.at(-1)?.authorization).toBe("Bearer direct")
  })

  it("refuses an auth scheme it cannot answer", async () => {
    registry.handler = (_req, res) => json(res, 401, {}, { "www-authenticate": "Negotiate" })
    const error = await failWith(fetchManifest(ref("r/x:v1")))
    expect(error.message).toBe(`${registry.host} asks for "negotiate" authentication, which is not supported (only Bearer and Basic)`)
  })

  it("refuses schema v1 manifests with mise's message", async () => {
    registry.handler = (req, res) => {
      if (req.url === "/v2/") return json(res, 200, {})
      json(res, 200, { schemaVersion: 1, name: "r/x", tag: "v1", fsLayers: [] }, {
        "content-type": "application/vnd.docker.distribution.manifest.v1+prettyjws"
      })
    }
    const error = await failWith(fetchManifest(ref("r/x:v1")))
    expect(error).toMatchObject({ _tag: "ManifestError", reason: "SchemaV1", repository: "r/x" })
    expect(error.message).toMatch(/^parsing OCI\/Docker manifest; schema v1 manifests are not supported/)
  })

  it("refuses a manifest whose bytes do not match the digest it was asked for", async () => {
    registry.handler = (req, res) => {
      if (req.url === "/v2/") return json(res, 200, {})
      json(res, 200, { schemaVersion: 2, manifests: [] })
    }
    const asked = `sha256:${"b".repeat(64)}`
    const error = await failWith(fetchManifest(ref(`r/x@${asked}`)))
    expect(error).toMatchObject({ _tag: "ManifestError", reason: "DigestMismatch", digest: asked })
  })

  it.each([
    ["DigestMismatch", new TextEncoder().encode("same size, other bytes, not the ones..")],
    ["SizeMismatch", new TextEncoder().encode("a body longer than the descriptor says it is, by far")],
    ["SizeMismatch", new TextEncoder().encode("short")]
  ])("leaves no file behind on %s", async (reason, served) => {
    const expected = new TextEncoder().encode("the bytes the descriptor describes!!!!")
    registry.handler = (req, res) => {
      if (req.url === "/v2/") return json(res, 200, {})
      res.writeHead(200, { "content-length": served.length }).end(Buffer.from(served))
    }
    const dir = await mkdtemp(join(work, "mismatch-"))
    const error = await failWith(
      fetchBlobToFile(ref("r/x"), { mediaType: MediaType.LayerGzip, digest: digestOf(expected), size: expected.length }, join(dir, "blob"))
    )
    expect(error).toMatchObject({ _tag: "BlobError", reason, digest: digestOf(expected) })
    expect(await readdir(dir)).toEqual([])
  })

  it("fails a request the server never answers, after its retries", async () => {
    registry.handler = () => {
      // Never answers: only the headers timeout ends the wait.
    }
    const error = await failWith(fetchManifest(ref("r/x:v1")), {
      headersTimeoutMs: 200,
      retry: { retries: 1, baseDelayMs: 1, maxDelayMs: 1, maxRetryAfterMs: 1 }
    })
    expect(error).toMatchObject({ _tag: "TransportError", attempts: 2, retryable: true })
    expect(error.message).toBe(`GET http://${registry.host}/v2/ failed: no response within 0.2s (gave up after 2 attempts)`)
  })

  it("reports a registry that is not there", async () => {
    const host = `127.0.0.1:${await freePort()}`
    const error = await failWith(pullImage(ref("r/x:v1", host), { os: "linux", architecture: "amd64" }, directorySink(work)), {
      retry: { retries: 1, baseDelayMs: 1, maxDelayMs: 1, maxRetryAfterMs: 1 }
    })
    expect(error.message).toBe(`GET http://${host}/v2/ failed: connection refused (gave up after 2 attempts)`)
  })
})
