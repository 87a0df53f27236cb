import { Downloader, layerDownloader } from "@engine/backends"
import { Effect } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { tempDir } from "./support/Context"
import { startServer, type TestServer } from "./support/Server"

let server: TestServer
let other: TestServer
let root: string

beforeAll(async () => {
  server = await startServer()
  other = await startServer()
  root = tempDir("download")
})
afterAll(async () => {
  await server.close()
  await other.close()
  fs.rmSync(root, { recursive: true, force: true })
})

const layer = layerDownloader({ retries: 2, retryBaseDelayMs: 10, idleTimeoutMs: 300, headersTimeoutMs: 2_000, connectTimeoutMs: 2_000 })
const run = <A, E>(f: (d: Downloader["Type"]) => Effect.Effect<A, E>) =>
  Effect.runPromise(Effect.flatMap(Downloader, f).pipe(Effect.provide(layer)))
const runFlip = <A, E>(f: (d: Downloader["Type"]) => Effect.Effect<A, E>) =>
  Effect.runPromise(Effect.flatMap(Downloader, (d) => Effect.flip(f(d))).pipe(Effect.provide(layer)))

const body = Buffer.from("x".repeat(200_000) + "end")
const sha = createHash("sha256").update(body).digest("hex")
const leftovers = (dir: string) => fs.readdirSync(dir).filter((n) => n.includes(".part-"))

describe("Downloader.download", () => {
  it("streams to the destination and reports size and sha256", async () => {
    server.route("/ok.bin", body)
    const dest = path.join(root, "a", "ok.bin")
    const result = await run((d) => d.download({ url: `${server.url}/ok.bin`, dest, checksum: { algorithm: "sha256", hex: sha } }))
    expect(result).toMatchObject({ path: dest, size: body.length, sha256: sha, finalUrl: `${server.url}/ok.bin` })
    expect(fs.readFileSync(dest).equals(body)).toBe(true)
    expect(leftovers(path.dirname(dest))).toEqual([])
  })

  it("verifies other algorithms too", async () => {
    server.route("/ok512.bin", body)
    const hex = createHash("sha512").update(body).digest("hex")
    const dest = path.join(root, "a", "ok512.bin")
    await run((d) => d.download({ url: `${server.url}/ok512.bin`, dest, checksum: { algorithm: "sha512", hex } }))
    expect(fs.existsSync(dest)).toBe(true)
  })

  it("refuses a checksum mismatch, naming url, expected and actual, and leaves no file", async () => {
    server.route("/bad.bin", body)
    const dest = path.join(root, "b", "bad.bin")
    const expected = "0".repeat(64)
    const e = await runFlip((d) => d.download({ url: `${server.url}/bad.bin`, dest, checksum: { algorithm: "sha256", hex: expected } }))
    expect(e._tag).toBe("ChecksumMismatchError")
    expect(e.message).toBe(`checksum mismatch for ${server.url}/bad.bin: expected sha256:${expected}, got sha256:${sha}`)
    expect(fs.existsSync(dest)).toBe(false)
    expect(leftovers(path.dirname(dest))).toEqual([])
    expect(server.hits("/bad.bin")).toBe(1)
  })

  it("fails a 404 at once with the status in the message", async () => {
    const e = await runFlip((d) => d.download({ url: `${server.url}/missing.tgz`, dest: path.join(root, "c", "m.tgz") }))
    expect(e._tag).toBe("DownloadError")
    expect(e.message).toBe(`download of ${server.url}/missing.tgz failed: HTTP 404 Not Found`)
    expect(e._tag === "DownloadError" && e.status).toBe(404)
    expect(server.hits("/missing.tgz")).toBe(1)
  })

  it("retries 5xx, 429 and 408, then succeeds", async () => {
    const statuses = [503, 429, 408]
    let n = 0
    server.route("/flaky.bin", (_req, res) => {
      const status = statuses[n++]
      if (status !== undefined) res.writeHead(status).end("later")
      else res.writeHead(200, { "content-length": body.length }).end(body)
    })
    const quick = layerDownloader({ retries: 3, retryBaseDelayMs: 5 })
    const dest = path.join(root, "d", "flaky.bin")
    await Effect.runPromise(
      Effect.flatMap(Downloader, (d) => d.download({ url: `${server.url}/flaky.bin`, dest })).pipe(Effect.provide(quick))
    )
    expect(server.hits("/flaky.bin")).toBe(4)
    expect(fs.readFileSync(dest).equals(body)).toBe(true)
  })

  it("gives up after the retries, saying how many attempts it made", async () => {
    server.route("/down.bin", (_req, res) => res.writeHead(502).end())
    const e = await runFlip((d) => d.download({ url: `${server.url}/down.bin`, dest: path.join(root, "e", "down.bin") }))
    expect(e.message).toBe(`download of ${server.url}/down.bin failed: HTTP 502 Bad Gateway (gave up after 3 attempts)`)
    expect(server.hits("/down.bin")).toBe(3)
  })

  it("does not hang on a stalled body: the idle timeout fails it and it is retried", async () => {
    server.route("/stall.bin", (_req, res) => {
      res.writeHead(200, { "content-length": 1000 })
      res.write("partial")
    })
    const started = Date.now()
    const dest = path.join(root, "f", "stall.bin")
    const e = await runFlip((d) => d.download({ url: `${server.url}/stall.bin`, dest }))
    expect(e.message).toBe(
      `download of ${server.url}/stall.bin failed: the connection stalled (no data for 0.3s) (gave up after 3 attempts)`
    )
    expect(server.hits("/stall.bin")).toBe(3)
    expect(Date.now() - started).toBeLessThan(10_000)
    expect(fs.existsSync(dest)).toBe(false)
    expect(leftovers(path.dirname(dest))).toEqual([])
  })

  it("retries a connection that is refused", async () => {
    const closed = await startServer()
    const url = `${closed.url}/x`
    await closed.close()
    const e = await runFlip((d) => d.download({ url, dest: path.join(root, "g", "x") }))
    expect(e.message).toBe(`download of ${url} failed: connection refused (gave up after 3 attempts)`)
  })

  it("follows redirects, sending Authorization only to the URL's own host", async () => {
    server.route("/redirect.bin", (_req, res) => res.writeHead(302, { location: `${other.url}/target.bin` }).end())
    server.route("/same.bin", (_req, res) => res.writeHead(301, { location: "/ok.bin" }).end())
    other.route("/target.bin", body)
    const headers = { authorization: "Bearer secret" }
    const result = await run((d) => d.download({ url: `${server.url}/redirect.bin`, dest: path.join(root, "h", "r.bin"), headers }))
    expect(result.finalUrl).toBe(`${other.url}/target.bin`)
    await run((d) => d.download({ url: `${server.url}/same.bin`, dest: path.join(root, "h", "s.bin"), headers }))
    const seen = (s: TestServer, p: string) => s.requests.filter((r) => r.path === p).map((r) => r.headers.authorization)
    expect(seen(server, "/redirect.bin")).toEqual(["Bearer secret"])
    expect(seen(other, "/target.bin")).toEqual([undefined])
    expect(seen(server, "/ok.bin").at(-1)).toBe("Bearer secret")
  })

  it("reports the server's suggested file name", async () => {
    server.route("/download", (_req, res) => {
      res.writeHead(200, { "content-disposition": `attachment; filename="tool-1.0.tar.gz"`, "content-length": 3 }).end("abc")
    })
    const result = await run((d) => d.download({ url: `${server.url}/download`, dest: path.join(root, "i", "download") }))
    expect(result.suggestedName).toBe("tool-1.0.tar.gz")
  })
})

describe("Downloader.fetchText", () => {
  it("returns the body and fails non-2xx with the status", async () => {
    server.route("/api.json", `{"a":1}`)
    const text = await run((d) => d.fetchText(`${server.url}/api.json`, { accept: "application/json" }))
    expect(text).toMatchObject({ url: `${server.url}/api.json`, status: 200, body: `{"a":1}` })
    expect(text.headers["content-length"]).toBe("7")
    expect(server.requests.filter((r) => r.path === "/api.json")[0]?.headers.accept).toBe("application/json")
    const e = await runFlip((d) => d.fetchText(`${server.url}/nope.json`))
    expect(e.message).toBe(`request to ${server.url}/nope.json failed: HTTP 404 Not Found`)
  })

  it("keeps an error answer's headers and body, and does not retry an exhausted rate limit", async () => {
    server.route("/limited.json", (_req, res) => {
      res.writeHead(429, { "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1700000000" }).end(`{"message":"API rate limit exceeded"}`)
    })
    const e = await runFlip((d) => d.fetchText(`${server.url}/limited.json`))
    expect(e._tag).toBe("DownloadError")
    if (e._tag !== "DownloadError") return
    expect(e.status).toBe(429)
    expect(e.headers?.["x-ratelimit-reset"]).toBe("1700000000")
    expect(e.body).toBe(`{"message":"API rate limit exceeded"}`)
    expect(e.attempts).toBe(1)
    expect(server.hits("/limited.json")).toBe(1)
  })
})
