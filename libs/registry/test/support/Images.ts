import {
  type Descriptor,
  digestOf,
  encodeImageConfig,
  encodeManifest,
  type ImageConfig,
  type Manifest,
  MediaType,
  openLayout,
  type Platform
} from "@engine/layout"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { createHash } from "node:crypto"
import { promisify } from "node:util"
import { gzipSync } from "node:zlib"

export interface TestImage {
  readonly dir: string
  readonly manifest: Manifest
  readonly manifestBytes: Uint8Array
  readonly descriptor: Descriptor
  readonly config: ImageConfig
  readonly configBytes: Uint8Array
  /** Compressed layer bytes, in manifest order. */
  readonly layerBytes: ReadonlyArray<Uint8Array>
}

/** Deterministic pseudo-random bytes (sha256 in counter mode), so layers differ by seed and never compress away. */
export const pseudoRandom = (seed: string, size: number): Uint8Array => {
  const out = Buffer.alloc(size)
  for (let off = 0, i = 0; off < size; i++) {
    const block = createHash("sha256").update(`${seed}/${i}`).digest()
    block.copy(out, off, 0, Math.min(32, size - off))
    off += 32
  }
  return new Uint8Array(out)
}

/**
 * Writes a small OCI layout with one image: a gzip layer per entry of `layers` (given uncompressed), a config
 * naming `platform`, and index.json tagged `tag`.
 */
export const writeTestImage = (
  dir: string,
  options: { readonly layers: ReadonlyArray<Uint8Array>; readonly platform?: Platform; readonly tag?: string }
): Promise<TestImage> =>
  Effect.runPromise(
    Effect.gen(function*() {
      const layout = yield* openLayout(dir)
      const platform = options.platform ?? { os: "linux", architecture: "amd64" }
      const layerBytes = options.layers.map((raw) => new Uint8Array(gzipSync(raw, { level: 1 })))
      const layers: Array<Descriptor> = []
      for (const bytes of layerBytes) layers.push(yield* layout.putBlob(bytes, MediaType.LayerGzip))
      const config: ImageConfig = {
        created: "1970-01-01T00:00:00Z",
        architecture: platform.architecture,
        os: platform.os,
        ...(platform.variant !== undefined ? { variant: platform.variant } : {}),
        config: { Env: ["PATH=/usr/bin"], WorkingDir: "/workspace" },
        rootfs: { type: "layers", diff_ids: options.layers.map((raw) => digestOf(raw)) }
      }
      // encodeImageConfig drops `variant` (mise never writes it); tests need it for arm variants.
      const configBytes = platform.variant === undefined
        ? encodeImageConfig(config)
        : new TextEncoder().encode(
          JSON.stringify({ ...JSON.parse(new TextDecoder().decode(encodeImageConfig(config))), variant: platform.variant })
        )
      const configDescriptor = yield* layout.putBlob(configBytes, MediaType.ImageConfig)
      const manifest: Manifest = {
        schemaVersion: 2,
        mediaType: MediaType.ImageManifest,
        config: configDescriptor,
        layers
      }
      const manifestBytes = encodeManifest(manifest)
      const stored = yield* layout.putBlob(manifestBytes, MediaType.ImageManifest)
      const descriptor: Descriptor = {
        ...stored,
        ...(options.tag !== undefined ? { annotations: { "org.opencontainers.image.ref.name": options.tag } } : {})
      }
      yield* layout.writeIndex({ schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests: [descriptor] })
      return { dir, manifest, manifestBytes, descriptor: stored, config, configBytes, layerBytes }
    })
  )

const run = promisify(execFile)

/** skopeo against a plain-HTTP loopback registry, with no signature policy file needed. */
export const skopeo = async (...args: ReadonlyArray<string>): Promise<string> => {
  const { stdout } = await run("skopeo", ["--insecure-policy", ...args], { maxBuffer: 64 * 1024 * 1024 })
  return stdout
}
