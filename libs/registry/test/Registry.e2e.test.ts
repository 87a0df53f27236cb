import { MediaType } from "@engine/layout"
import { Effect, Option } from "effect"
import { mkdtemp, readFile, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { directorySink, fetchRemoteImage, pullImage } from "../src/Pull"
import { pushLayout, updateIndex } from "../src/Push"
import type { Reference } from "../src/Reference"
import type { RequestBody } from "../src/Transport"
import { pseudoRandom, skopeo, type TestImage, writeTestImage } from "./support/Images"
import { type RunningRegistry, referenceOn, startRegistry } from "./support/Registry"
import { failWith, runWith } from "./support/Run"

let registry: RunningRegistry
let work: string
let amd64: TestImage
let arm64: TestImage

const ref = (s: string): Reference => referenceOn(registry, s)
const linuxAmd64 = { os: "linux", architecture: "amd64" }
const linuxArm64 = { os: "linux", architecture: "arm64" }

beforeAll(async () => {
  registry = await startRegistry()
  work = await mkdtemp(join(tmpdir(), "engine-registry-e2e-"))
  amd64 = await writeTestImage(join(work, "amd64"), {
    layers: [pseudoRandom("base", 20_000), pseudoRandom("tool-a", 300_000), pseudoRandom("tool-b", 5_000)],
    tag: "v1"
  })
  arm64 = await writeTestImage(join(work, "arm64"), {
    layers: [pseudoRandom("base", 20_000), pseudoRandom("arm-tool", 40_000)],
    platform: { os: "linux", architecture: "arm64", variant: "v8" }
  })
})

afterAll(async () => {
  await registry?.stop()
  if (work !== undefined) await rm(work, { recursive: true, force: true })
})

describe("push to distribution (anonymous)", () => {
  it("uploads config and layers, then the manifest; skopeo reads back the same bytes", async () => {
    const result = await runWith(pushLayout({ layoutDir: amd64.dir }, ref("apps/one:v1")))
    expect(result).toEqual({ manifestDigest: amd64.descriptor.digest, uploaded: 4, present: 0, mounted: 0 })
    const raw = await skopeo("inspect", "--tls-verify=false", "--raw", `docker://${registry.host}/apps/one:v1`)
    expect(raw).toBe(new TextDecoder().decode(amd64.manifestBytes))
    const copy = join(work, "skopeo-one")
    await skopeo("copy", "--src-tls-verify=false", `docker://${registry.host}/apps/one:v1`, `oci:${copy}:v1`)
    const layer = await readFile(join(copy, "blobs", "sha256", amd64.manifest.layers[1]!.digest.slice(7)))
    expect(new Uint8Array(layer)).toEqual(amd64.layerBytes[1])
  })

  it("uploads nothing the second time", async () => {
    const result = await runWith(pushLayout({ layoutDir: amd64.dir }, ref("apps/one:v1")))
    expect(result).toMatchObject({ uploaded: 0, present: 4, mounted: 0 })
  })

  it("mounts layers from another repository and uploads only the config", async () => {
    const result = await runWith(pushLayout({ layoutDir: amd64.dir }, ref("apps/two:v1"), { mountFrom: "apps/one" }))
    expect(result).toMatchObject({ uploaded: 1, present: 0, mounted: 3 })
    const digest = await skopeo("inspect", "--tls-verify=false", "--format", "{{.Digest}}", `docker://${registry.host}/apps/two:v1`)
    expect(digest.trim()).toBe(amd64.descriptor.digest)
  })

  it("sends big blobs as one streamed PATCH and an empty PUT", async () => {
    const result = await runWith(pushLayout({ layoutDir: amd64.dir }, ref("apps/patched:v1"), { patchThreshold: 10_000 }))
    expect(result).toMatchObject({ uploaded: 4, present: 0 })
    await skopeo("copy", "--src-tls-verify=false", `docker://${registry.host}/apps/patched:v1`, `oci:${join(work, "skopeo-patched")}:v1`)
  })

  it("pushes image descriptors with a blob reader; a blob neither local nor in the registry is an error", async () => {
    const missing = amd64.manifest.layers[2]!
    const source = (skip: string | undefined) => ({
      manifest: amd64.descriptor,
      manifestBytes: amd64.manifestBytes,
      blobs: [amd64.manifest.config, ...amd64.manifest.layers],
      blobSource: (d: { readonly digest: string }) =>
        Effect.succeed(
          d.digest === skip
            ? Option.none<RequestBody>()
            : Option.some<RequestBody>({ _tag: "File", path: join(amd64.dir, "blobs", "sha256", d.digest.slice(7)) })
        )
    })
    const error = await failWith(pushLayout(source(missing.digest), ref("apps/readers:v1")))
    expect(error).toMatchObject({ _tag: "BlobError", reason: "Missing", digest: missing.digest })
    expect(error.message).toContain(`blob ${missing.digest} is neither in ${registry.host}/apps/readers nor available locally`)
    // A re-run with the blob available finishes, uploading only what the failed run left out.
    const result = await runWith(pushLayout(source(undefined), ref("apps/readers:v1")))
    expect(result.uploaded + result.present).toBe(4)
    expect(result.uploaded).toBeGreaterThanOrEqual(1)
  })
})

describe("pull from distribution", () => {
  it("pulls manifest, config and layers, verified, into a sink", async () => {
    const sink = join(work, "pulled-one")
    const pulled = await runWith(pullImage(ref("apps/one:v1"), linuxAmd64, directorySink(sink)))
    expect(pulled.manifestDigest).toBe(amd64.descriptor.digest)
    expect(pulled.manifestMediaType).toBe(MediaType.ImageManifest)
    expect(pulled.configBytes).toEqual(amd64.configBytes)
    expect(pulled.config.rootfs.diff_ids).toEqual(amd64.config.rootfs.diff_ids)
    expect(pulled.layers).toEqual(amd64.manifest.layers)
    for (const [i, layer] of amd64.manifest.layers.entries()) {
      expect(new Uint8Array(await readFile(join(sink, layer.digest.slice(7))))).toEqual(amd64.layerBytes[i])
    }
    expect(new Uint8Array(await readFile(join(sink, amd64.manifest.config.digest.slice(7))))).toEqual(amd64.configBytes)
  })

  it("pulls by digest and by name:tag@digest", async () => {
    const byDigest = await runWith(pullImage(ref(`apps/one@${amd64.descriptor.digest}`), linuxAmd64, directorySink(join(work, "pd"))))
    expect(byDigest.manifestDigest).toBe(amd64.descriptor.digest)
    const both = await runWith(pullImage(ref(`apps/two:nope@${amd64.descriptor.digest}`), linuxAmd64, directorySink(join(work, "pd"))))
    expect(both.manifestDigest).toBe(amd64.descriptor.digest)
  })

  it("maps Docker v2s2 layer types to OCI when skopeo pushed the image as Docker", async () => {
    await skopeo("copy", "--dest-tls-verify=false", "--format", "v2s2", `oci:${amd64.dir}:v1`, `docker://${registry.host}/apps/docker:v1`)
    const pulled = await runWith(pullImage(ref("apps/docker:v1"), linuxAmd64, directorySink(join(work, "pulled-docker"))))
    expect(pulled.manifestMediaType).toBe(MediaType.DockerManifest)
    expect(pulled.manifest.layers.map((l) => l.mediaType)).toEqual(Array(3).fill(MediaType.DockerLayerGzip))
    expect(pulled.layers.map((l) => l.mediaType)).toEqual(Array(3).fill(MediaType.LayerGzip))
    expect(pulled.layers.map((l) => l.digest)).toEqual(amd64.manifest.layers.map((l) => l.digest))
  })

  it("accepts a manifest without mediaType (image-spec 1.0 style, which mise rejects)", async () => {
    const { mediaType: _, ...bare } = amd64.manifest
    const bytes = JSON.stringify(bare)
    const put = await fetch(`${registry.url}/v2/apps/one/manifests/bare`, {
      method: "PUT",
      headers: { "content-type": MediaType.ImageManifest },
      body: bytes
    })
    expect(put.status).toBe(201)
    const pulled = await runWith(pullImage(ref("apps/one:bare"), linuxAmd64, directorySink(join(work, "pulled-bare"))))
    expect(pulled.manifest.mediaType).toBeUndefined()
    expect(pulled.manifestMediaType).toBe(MediaType.ImageManifest)
    expect(pulled.layers).toHaveLength(3)
  })

  it("says the tag is unknown, with the registry's error code", async () => {
    const error = await failWith(pullImage(ref("apps/one:missing"), linuxAmd64, directorySink(join(work, "x"))))
    expect(error).toMatchObject({ _tag: "RegistryResponseError", status: 404, code: "MANIFEST_UNKNOWN", repository: "apps/one" })
    expect(error.message).toMatch(/^fetching http:\/\/127\.0\.0\.1:\d+\/v2\/apps\/one\/manifests\/missing failed: 404\n/)
  })
})

describe("image index (--update-index)", () => {
  it("builds a sorted index across pushes, replaces an entry of the same platform, and pulls each platform", async () => {
    const amd = await runWith(pushLayout({ layoutDir: amd64.dir }, ref("apps/multi:latest"), { updateIndex: true }))
    const arm = await runWith(pushLayout({ layoutDir: arm64.dir }, ref("apps/multi:latest"), { updateIndex: true }))
    expect(amd.indexDigest).toBeDefined()
    expect(arm.indexDigest).toBeDefined()
    const raw = await skopeo("inspect", "--tls-verify=false", "--raw", `docker://${registry.host}/apps/multi:latest`)
    const index = JSON.parse(raw) as { manifests: Array<{ digest: string; platform: unknown }>; mediaType: string }
    expect(index.mediaType).toBe(MediaType.ImageIndex)
    expect(index.manifests.map((m) => [m.digest, m.platform])).toEqual([
      [amd64.descriptor.digest, { architecture: "amd64", os: "linux" }],
      [arm64.descriptor.digest, { architecture: "arm64", os: "linux", variant: "v8" }]
    ])
    // Pushing the arm64 image again leaves one arm64 entry.
    const again = await runWith(pushLayout({ layoutDir: arm64.dir }, ref("apps/multi:latest"), { updateIndex: true }))
    expect(again.indexDigest).toBe(arm.indexDigest)
    const pulledArm = await runWith(pullImage(ref("apps/multi:latest"), linuxArm64, directorySink(join(work, "pulled-arm"))))
    expect(pulledArm.manifestDigest).toBe(arm64.descriptor.digest)
    const skopeoArm = await skopeo(
      "inspect",
      "--tls-verify=false",
      "--override-arch",
      "arm64",
      `docker://${registry.host}/apps/multi:latest`
    )
    expect(JSON.parse(skopeoArm)).toMatchObject({
      Architecture: "arm64",
      Layers: arm64.manifest.layers.map((l) => l.digest)
    })
  })

  it("wraps a single manifest at the tag as the first entry, its platform read from its config", async () => {
    await runWith(pushLayout({ layoutDir: arm64.dir }, ref("apps/single:latest")))
    await runWith(pushLayout({ layoutDir: amd64.dir }, ref(`apps/single@${amd64.descriptor.digest}`)))
    const digest = await runWith(updateIndex(ref("apps/single:latest"), amd64.descriptor, linuxAmd64))
    const raw = await skopeo("inspect", "--tls-verify=false", "--raw", `docker://${registry.host}/apps/single:latest`)
    expect(raw).toBe(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ImageIndex,
        manifests: [
          { ...amd64.descriptor, platform: { architecture: "amd64", os: "linux" } },
          { ...arm64.descriptor, platform: { architecture: "arm64", os: "linux", variant: "v8" } }
        ]
      })
    )
    expect(digest).toMatch(/^sha256:/)
  })

  it("names the missing platform and lists the ones there are", async () => {
    const error = await failWith(pullImage(ref("apps/multi:latest"), { os: "linux", architecture: "s390x" }, directorySink(work)))
    expect(error.message).toBe("no matching platform s390x/linux in manifest index for apps/multi (it has linux/amd64, linux/arm64/v8)")
  })
})

describe("fetchRemoteImage (remote layer reuse)", () => {
  it("returns manifest and config of the image at the tag, descending an index by platform", async () => {
    const single = await runWith(fetchRemoteImage(ref("apps/one:v1"), linuxAmd64))
    expect(Option.getOrThrow(single).manifestDigest).toBe(amd64.descriptor.digest)
    expect(Option.getOrThrow(single).configBytes).toEqual(amd64.configBytes)
    const fromIndex = await runWith(fetchRemoteImage(ref("apps/multi:latest"), linuxArm64))
    expect(Option.getOrThrow(fromIndex).manifestDigest).toBe(arm64.descriptor.digest)
  })

  it("is None for a missing tag, a missing repository, or an index without the platform", async () => {
    expect(Option.isNone(await runWith(fetchRemoteImage(ref("apps/one:nope"), linuxAmd64)))).toBe(true)
    expect(Option.isNone(await runWith(fetchRemoteImage(ref("nobody/here:v1"), linuxAmd64)))).toBe(true)
    expect(Option.isNone(await runWith(fetchRemoteImage(ref("apps/multi:latest"), { os: "linux", architecture: "ppc64le" })))).toBe(true)
  })
})
