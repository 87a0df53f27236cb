import { Either } from "effect"
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { directorySink, pullImage } from "../src/Pull"
import { pushLayout } from "../src/Push"
import { parseReference, type Reference } from "../src/Reference"
import { type FaultProxy, startFaultProxy } from "./support/FaultProxy"
import { pseudoRandom, skopeo, type TestImage, writeTestImage } from "./support/Images"
import { type RunningRegistry, startRegistry } from "./support/Registry"
import { failWith, runWith } from "./support/Run"

let registry: RunningRegistry
let proxy: FaultProxy
let work: string
let image: TestImage

const viaProxy = (s: string): Reference => {
  const r = parseReference(`${proxy.host}/${s}`)
  if (Either.isLeft(r)) throw r.left
  return r.right
}
const linuxAmd64 = { os: "linux", architecture: "amd64" }
const isUploadBody = (method: string) => method === "PUT" || method === "PATCH"
const isBlobGet = (method: string, path: string) => method === "GET" && path.includes("/blobs/")

beforeAll(async () => {
  registry = await startRegistry()
  proxy = await startFaultProxy({ host: "127.0.0.1", port: registry.port })
  work = await mkdtemp(join(tmpdir(), "engine-faults-"))
  // config, then a 20 kB, a 300 kB and a 5 kB layer (incompressible, so the gzip blobs keep those sizes).
  image = await writeTestImage(join(work, "image"), {
    layers: [pseudoRandom("f-base", 20_000), pseudoRandom("f-big", 300_000), pseudoRandom("f-small", 5_000)]
  })
})

afterEach(() => {
  proxy.clearRules()
})

afterAll(async () => {
  await proxy?.close()
  await registry?.stop()
  if (work !== undefined) await rm(work, { recursive: true, force: true })
})

describe("through a fault-injecting proxy", () => {
  it("push completes despite 500s, 429 with Retry-After, and connections cut mid-upload", async () => {
    proxy.addRule({ fault: { kind: "status", status: 500, times: 2 }, match: (m) => m === "HEAD" })
    proxy.addRule({ fault: { kind: "status", status: 429, retryAfter: "1", times: 1 }, match: (m) => m === "POST" })
    proxy.addRule({ fault: { kind: "drop", direction: "request", bytes: 100_000, times: 1 }, match: isUploadBody })
    const started = Date.now()
    const result = await runWith(pushLayout({ layoutDir: image.dir }, viaProxy("faults/push:v1")))
    expect(result).toEqual({ manifestDigest: image.descriptor.digest, uploaded: 4, present: 0, mounted: 0 })
    expect(proxy.log.filter((r) => r.outcome === 500)).toHaveLength(2)
    expect(proxy.log.filter((r) => r.outcome === 429)).toHaveLength(1)
    expect(proxy.log.filter((r) => r.outcome === "dropped")).toHaveLength(1)
    // Retry-After: 1 was honoured.
    expect(Date.now() - started).toBeGreaterThanOrEqual(900)
    const raw = await skopeo("inspect", "--tls-verify=false", "--raw", `docker://${registry.host}/faults/push:v1`)
    expect(raw).toBe(new TextDecoder().decode(image.manifestBytes))
  })

  it("a push killed mid-upload can be re-run and uploads only what is missing", async () => {
    proxy.addRule({ fault: { kind: "drop", direction: "request", bytes: 100_000, times: 1 }, match: isUploadBody })
    const error = await failWith(
      pushLayout({ layoutDir: image.dir }, viaProxy("faults/resume:v1"), { concurrency: 1 }),
      { retry: { retries: 0, baseDelayMs: 1, maxDelayMs: 1, maxRetryAfterMs: 1 } }
    )
    expect(error._tag).toBe("TransportError")
    expect(error.message).toMatch(/^PUT http:\/\/127\.0\.0\.1:\d+\/v2\/faults\/resume\/blobs\/uploads\/.* failed: /)
    // config and the first layer made it; the big layer broke; the last never started.
    const result = await runWith(pushLayout({ layoutDir: image.dir }, viaProxy("faults/resume:v1"), { concurrency: 1 }))
    expect(result).toMatchObject({ uploaded: 2, present: 2, mounted: 0 })
    await skopeo("copy", "--src-tls-verify=false", `docker://${registry.host}/faults/resume:v1`, `oci:${join(work, "resumed")}:v1`)
  })

  it("pull completes despite 500s, a 429, a body cut half way and a stalled body", async () => {
    await runWith(pushLayout({ layoutDir: image.dir }, viaProxy("faults/pull:v1")))
    proxy.addRule({ fault: { kind: "status", status: 503, times: 2 }, match: (_m, p) => p.includes("/manifests/") })
    proxy.addRule({ fault: { kind: "status", status: 429, retryAfter: "0", times: 1 }, match: isBlobGet })
    proxy.addRule({
      fault: { kind: "drop", direction: "response", bytes: 50_000, times: 1 },
      match: (m, p) => isBlobGet(m, p) && p.endsWith(image.manifest.layers[1]!.digest)
    })
    proxy.addRule({
      fault: { kind: "stall", bytes: 1_000, times: 1 },
      match: (m, p) => isBlobGet(m, p) && p.endsWith(image.manifest.layers[0]!.digest)
    })
    const sink = join(work, "pulled")
    const pulled = await runWith(pullImage(viaProxy("faults/pull:v1"), linuxAmd64, directorySink(sink)), { idleTimeoutMs: 500 })
    expect(pulled.manifestDigest).toBe(image.descriptor.digest)
    for (const [i, layer] of image.manifest.layers.entries()) {
      expect(new Uint8Array(await readFile(join(sink, layer.digest.slice(7))))).toEqual(image.layerBytes[i])
    }
    expect(proxy.log.map((r) => r.outcome)).toEqual(expect.arrayContaining([503, 429, "dropped", "stalled"]))
    // No temp file is left behind by the broken attempts.
    expect((await readdir(sink)).sort()).toEqual([image.manifest.config, ...image.manifest.layers].map((d) => d.digest.slice(7)).sort())
  })

  it("gives up after the retry budget with the status and the attempt count", async () => {
    proxy.addRule({ fault: { kind: "status", status: 502, times: 10 }, match: (_m, p) => p.includes("/manifests/") })
    const error = await failWith(pullImage(viaProxy("faults/pull:v1"), linuxAmd64, directorySink(join(work, "never"))))
    expect(error).toMatchObject({ _tag: "RegistryResponseError", status: 502, attempts: 4 })
    expect(error.message.split("\n")[0]).toMatch(/manifests\/v1 failed: 502 \(gave up after 4 attempts\)$/)
  })
})
