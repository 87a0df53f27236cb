import {
  decodeImageConfig,
  decodeIndex,
  decodeManifest,
  type Descriptor,
  type Digest,
  digestHex,
  digestOf,
  type ImageConfig,
  type ImageIndex,
  isIndexMediaType,
  type Layout,
  type Manifest,
  MediaType,
  type Platform,
  toOciLayerMediaType
} from "@engine/layout"
import { Effect, Option, Schema } from "effect"
import { createHash, randomUUID } from "node:crypto"
import { createWriteStream } from "node:fs"
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises"
import { basename, dirname, join } from "node:path"
import { Transform } from "node:stream"
import { pipeline } from "node:stream/promises"
import { repositoryScope } from "./Auth"
import { BlobError, errorText, ManifestError, type RegistryFailure } from "./Errors"
import { formatReference, type Reference, referenceIdentifier, withIdentifier } from "./Reference"
import { RegistryClient } from "./RegistryClient"
import { formatPlatform, normalizeVariant, platformMatches } from "./Platform"

/** Every manifest type we read; an OCI manifest without an OCI Accept is a 404 on distribution. */
export const MANIFEST_ACCEPT = [
  MediaType.ImageManifest,
  MediaType.DockerManifest,
  MediaType.ImageIndex,
  MediaType.DockerManifestList
].join(", ")

const IMAGE_MANIFEST_ACCEPT = [MediaType.ImageManifest, MediaType.DockerManifest].join(", ")

const SCHEMA_V1_TYPES = new Set([
  "application/vnd.docker.distribution.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v1+prettyjws"
])

/** Just enough of any manifest to tell which kind it is before decoding it for real. */
const ManifestShapeSchema = Schema.parseJson(
  Schema.Struct({
    schemaVersion: Schema.optional(Schema.Unknown),
    mediaType: Schema.optional(Schema.String),
    manifests: Schema.optional(Schema.Unknown)
  })
)

export type FetchedManifest =
  | {
    readonly _tag: "Manifest"
    readonly manifest: Manifest
    readonly mediaType: string
    readonly bytes: Uint8Array
    readonly digest: Digest
  }
  | {
    readonly _tag: "Index"
    readonly index: ImageIndex
    readonly mediaType: string
    readonly bytes: Uint8Array
    readonly digest: Digest
  }

/** A manifest or index as a descriptor, e.g. to put it in an index or a layout. */
export const fetchedDescriptor = (m: FetchedManifest): Descriptor => ({
  mediaType: m.mediaType,
  size: m.bytes.length,
  digest: m.digest
})

const manifestError = (ref: Reference, reason: ManifestError["reason"], message: string, digest?: string) =>
  new ManifestError({
    reason,
    registry: ref.registry,
    repository: ref.repository,
    reference: referenceIdentifier(ref),
    ...(digest !== undefined ? { digest } : {}),
    message
  })

/** Classifies and decodes manifest bytes: an index by mediaType, Content-Type or a `manifests` array; schema v1 refused. */
export const parseManifest = (
  ref: Reference,
  bytes: Uint8Array,
  contentType: string | undefined
): Effect.Effect<FetchedManifest, ManifestError> =>
  Effect.gen(function*() {
    const digest = digestOf(bytes)
    const source = `${ref.registry}/${ref.repository}@${digest}`
    const shape = yield* Schema.decodeUnknown(ManifestShapeSchema)(new TextDecoder().decode(bytes)).pipe(
      Effect.mapError(() => manifestError(ref, "Decode", `${source} is not a JSON manifest`, digest))
    )
    const type = contentType?.split(";")[0]?.trim()
    if (shape.schemaVersion === 1 || (type !== undefined && SCHEMA_V1_TYPES.has(type))) {
      return yield* Effect.fail(
        manifestError(
          ref,
          "SchemaV1",
          `parsing OCI/Docker manifest; schema v1 manifests are not supported (${source}; push it again with a current docker, podman or skopeo)`,
          digest
        )
      )
    }
    const isIndex = isIndexMediaType(shape.mediaType) ||
      (shape.mediaType === undefined && (isIndexMediaType(type) || Array.isArray(shape.manifests)))
    const decodeFailed = (e: { readonly message: string }) => manifestError(ref, "Decode", e.message, digest)
    if (isIndex) {
      const index = yield* decodeIndex(bytes, source).pipe(Effect.mapError(decodeFailed))
      const mediaType = shape.mediaType ?? (isIndexMediaType(type) ? type! : MediaType.ImageIndex)
      return { _tag: "Index", index, mediaType, bytes, digest } as const
    }
    const manifest = yield* decodeManifest(bytes, source).pipe(Effect.mapError(decodeFailed))
    // image-spec 1.0 writers omit mediaType (a SHOULD); the Content-Type, else OCI, stands in.
    const mediaType = shape.mediaType ??
      (type === MediaType.DockerManifest || type === MediaType.ImageManifest ? type : MediaType.ImageManifest)
    return { _tag: "Manifest", manifest, mediaType, bytes, digest } as const
  })

/** Fetches a manifest or index by tag or digest; a digest reference is verified against the bytes. */
export const fetchManifest = (
  ref: Reference,
  options: { readonly accept?: string; readonly operation?: "pull" | "push"; readonly scopes?: ReadonlyArray<string> } = {}
): Effect.Effect<FetchedManifest, RegistryFailure, RegistryClient> =>
  Effect.gen(function*() {
    const client = yield* RegistryClient
    const identifier = referenceIdentifier(ref)
    const { bytes, contentType } = yield* client.send(
      {
        registry: ref.registry,
        repository: ref.repository,
        scopes: options.scopes ?? [repositoryScope(ref.repository, "pull")],
        operation: options.operation ?? "pull",
        method: "GET",
        url: `/v2/${ref.repository}/manifests/${identifier}`,
        headers: { accept: options.accept ?? MANIFEST_ACCEPT },
        expect: [200]
      },
      (response) => response.bytes().pipe(Effect.map((bytes) => ({ bytes, contentType: response.header("content-type") })))
    )
    const fetched = yield* parseManifest(ref, bytes, contentType)
    if (ref.digest !== undefined && fetched.digest !== ref.digest) {
      return yield* Effect.fail(
        manifestError(
          ref,
          "DigestMismatch",
          `${ref.registry}/${ref.repository}@${ref.digest} returned a manifest whose digest is ${fetched.digest}`,
          ref.digest
        )
      )
    }
    return fetched
  })

/** The first index entry for the platform, as the image spec says to pick. */
export const selectPlatform = (
  ref: Reference,
  index: ImageIndex,
  platform: Platform
): Effect.Effect<Descriptor, ManifestError> => {
  const entry = index.manifests.find((d) => d.platform !== undefined && platformMatches(d.platform, platform))
  if (entry !== undefined) return Effect.succeed(entry)
  const variant = platform.variant !== undefined ? ` (variant ${normalizeVariant(platform.architecture, platform.variant)})` : ""
  const available = index.manifests.flatMap((d) => (d.platform !== undefined ? [formatPlatform(d.platform)] : []))
  return Effect.fail(
    manifestError(
      ref,
      "NoMatchingPlatform",
      `no matching platform ${platform.architecture}/${platform.os}${variant} in manifest index for ${ref.repository}${
        available.length > 0 ? ` (it has ${available.join(", ")})` : " (it lists no platforms)"
      }`
    )
  )
}

/** Resolves a tag or digest to one image manifest, descending an index by platform. */
export const resolveImageManifest = (
  ref: Reference,
  platform: Platform,
  options: { readonly operation?: "pull" | "push"; readonly scopes?: ReadonlyArray<string> } = {}
): Effect.Effect<Extract<FetchedManifest, { _tag: "Manifest" }>, RegistryFailure, RegistryClient> =>
  Effect.gen(function*() {
    const top = yield* fetchManifest(ref, options)
    if (top._tag === "Manifest") return top
    const entry = yield* selectPlatform(ref, top.index, platform)
    const child = yield* fetchManifest(withIdentifier(ref, entry.digest), { ...options, accept: IMAGE_MANIFEST_ACCEPT })
    if (child._tag === "Index") {
      return yield* Effect.fail(
        manifestError(ref, "UnsupportedMediaType", `the ${formatPlatform(platform)} entry of ${ref.repository} is itself an index`, entry.digest)
      )
    }
    return child
  })

interface BlobLocation {
  readonly registry: string
  readonly repository: string
}

const blobRequest = (at: BlobLocation, digest: Digest) => ({
  registry: at.registry,
  repository: at.repository,
  scopes: [repositoryScope(at.repository, "pull")],
  operation: "pull" as const,
  method: "GET" as const,
  url: `/v2/${at.repository}/blobs/${digest}`,
  expect: [200]
})

const blobError = (at: BlobLocation, digest: string, reason: BlobError["reason"], message: string, extra: { path?: string; cause?: unknown } = {}) =>
  new BlobError({ reason, registry: at.registry, repository: at.repository, digest, message, ...extra })

/** A small blob (a config) in memory, with its size and digest checked. */
export const fetchBlobBytes = (
  at: BlobLocation,
  descriptor: Descriptor
): Effect.Effect<Uint8Array, RegistryFailure, RegistryClient> =>
  Effect.gen(function*() {
    const client = yield* RegistryClient
    const bytes = yield* client.send(blobRequest(at, descriptor.digest), (r) => r.bytes(descriptor.size))
    if (bytes.length !== descriptor.size) {
      return yield* Effect.fail(
        blobError(at, descriptor.digest, "SizeMismatch", `blob ${descriptor.digest} from ${at.registry}/${at.repository} has ${bytes.length} bytes, expected ${descriptor.size}`)
      )
    }
    const actual = digestOf(bytes)
    if (actual !== descriptor.digest) {
      return yield* Effect.fail(
        blobError(at, descriptor.digest, "DigestMismatch", `blob digest mismatch: got ${actual}, expected ${descriptor.digest} (from ${at.registry}/${at.repository})`)
      )
    }
    return bytes
  })

/** Thrown inside the stream pipeline only, and turned into a BlobError at the Effect boundary. */
class Mismatch extends Error {
  constructor(readonly reason: "DigestMismatch" | "SizeMismatch", message: string) {
    super(message)
  }
}

/**
 * Streams a blob to `path`: written to a temp file beside it, hashed and counted on the way, renamed only when
 * both digest and size match. A failed or interrupted download leaves nothing behind.
 */
export const fetchBlobToFile = (
  at: BlobLocation,
  descriptor: Descriptor,
  path: string
): Effect.Effect<void, RegistryFailure, RegistryClient> =>
  Effect.gen(function*() {
    const client = yield* RegistryClient
    const where = `${at.registry}/${at.repository}`
    yield* client.send(blobRequest(at, descriptor.digest), (response) =>
      response.stream(
        async (body, signal) => {
          await mkdir(dirname(path), { recursive: true })
          const temp = join(dirname(path), `.${basename(path)}.part-${randomUUID()}`)
          try {
            const hash = createHash("sha256")
            let size = 0
            const tap = new Transform({
              transform(chunk: Buffer, _encoding, done) {
                size += chunk.length
                if (size > descriptor.size) {
                  done(new Mismatch("SizeMismatch", `blob ${descriptor.digest} from ${where} is larger than its ${descriptor.size} bytes`))
                  return
                }
                hash.update(chunk)
                done(null, chunk)
              }
            })
            await pipeline(body, tap, createWriteStream(temp, { flags: "wx" }), { signal })
            if (size !== descriptor.size) {
              throw new Mismatch("SizeMismatch", `blob ${descriptor.digest} from ${where} has ${size} bytes, expected ${descriptor.size}`)
            }
            const actual = `sha256:${hash.digest("hex")}`
            if (actual !== descriptor.digest) {
              throw new Mismatch("DigestMismatch", `blob digest mismatch: got ${actual}, expected ${descriptor.digest} (from ${where})`)
            }
            await rename(temp, path)
          } finally {
            await rm(temp, { force: true })
          }
        },
        (cause) =>
          cause instanceof Mismatch
            ? blobError(at, descriptor.digest, cause.reason, cause.message, { path })
            : blobError(at, descriptor.digest, "Io", `cannot store blob ${descriptor.digest} at ${path}: ${errorText(cause)}`, { path, cause })
      ))
  })

/** Where pulled blobs go. */
export interface BlobSink {
  /** The final file for a blob. */
  readonly pathFor: (digest: Digest) => string
  /** True when the blob is already stored, so it is not downloaded again. */
  readonly has: (descriptor: Descriptor) => Effect.Effect<boolean>
}

const hasFileOfSize = (path: string, size: number): Effect.Effect<boolean> =>
  Effect.promise(() => stat(path).then((s) => s.isFile() && s.size === size, () => false))

/** Blobs as `<dir>/<hex>`. */
export const directorySink = (dir: string): BlobSink => {
  const pathFor = (digest: Digest) => join(dir, digestHex(digest))
  return { pathFor, has: (d) => hasFileOfSize(pathFor(d.digest), d.size) }
}

/** Blobs straight into an OCI layout's `blobs/sha256/`. */
export const layoutSink = (layout: Layout): BlobSink => ({
  pathFor: layout.blobPath,
  has: (d) => hasFileOfSize(layout.blobPath(d.digest), d.size)
})

export interface PulledImage {
  readonly reference: Reference
  readonly manifest: Manifest
  readonly manifestBytes: Uint8Array
  readonly manifestDigest: Digest
  /** The manifest's own media type (Docker v2 or OCI), as served. */
  readonly manifestMediaType: string
  readonly config: ImageConfig
  readonly configBytes: Uint8Array
  /** In order, with Docker layer media types mapped to their OCI names; the bytes are in the sink. */
  readonly layers: ReadonlyArray<Descriptor>
}

/** Just enough of a config to check its diff_ids before decoding it for real. */
const RootfsShapeSchema = Schema.parseJson(
  Schema.Struct({ rootfs: Schema.optional(Schema.Struct({ diff_ids: Schema.optional(Schema.Unknown) })) })
)

/** A stored blob whose bytes still hash to its digest, else None (then it is fetched again). */
const storedBlob = (sink: BlobSink, descriptor: Descriptor): Effect.Effect<Option.Option<Uint8Array>> =>
  sink.has(descriptor).pipe(
    Effect.flatMap((present) =>
      present
        ? Effect.promise(() =>
          readFile(sink.pathFor(descriptor.digest)).then(
            (bytes) => (digestOf(bytes) === descriptor.digest ? Option.some(new Uint8Array(bytes)) : Option.none()),
            () => Option.none<Uint8Array>()
          )
        )
        : Effect.succeed(Option.none<Uint8Array>())
    )
  )

const storeBytes = (at: BlobLocation, descriptor: Descriptor, path: string, bytes: Uint8Array) =>
  Effect.tryPromise({
    try: async () => {
      await mkdir(dirname(path), { recursive: true })
      const temp = join(dirname(path), `.${basename(path)}.part-${randomUUID()}`)
      try {
        await writeFile(temp, bytes, { flag: "wx" })
        await rename(temp, path)
      } finally {
        await rm(temp, { force: true })
      }
    },
    catch: (cause) => blobError(at, descriptor.digest, "Io", `cannot store blob ${descriptor.digest} at ${path}: ${errorText(cause)}`, { path, cause })
  })

/**
 * Pulls one platform's image: manifest (descending an index), config (read from the sink when it is already
 * there, else fetched and stored), and every layer the sink lacks, streamed and verified. A config without
 * `rootfs.diff_ids`, or with another count than the manifest has layers, is refused with mise's messages;
 * `name` is how those messages call the image (default: the canonical reference).
 */
export const pullImage = (
  ref: Reference,
  platform: Platform,
  sink: BlobSink,
  options: { readonly concurrency?: number; readonly name?: string } = {}
): Effect.Effect<PulledImage, RegistryFailure, RegistryClient> =>
  Effect.gen(function*() {
    const fetched = yield* resolveImageManifest(ref, platform)
    const { manifest } = fetched
    const at = { registry: ref.registry, repository: ref.repository }
    const name = options.name ?? formatReference(ref)
    const stored = yield* storedBlob(sink, manifest.config)
    const configBytes = Option.isSome(stored) ? stored.value : yield* fetchBlobBytes(at, manifest.config)
    if (Option.isNone(stored)) yield* storeBytes(at, manifest.config, sink.pathFor(manifest.config.digest), configBytes)
    const shape = yield* Schema.decodeUnknown(RootfsShapeSchema)(new TextDecoder().decode(configBytes)).pipe(
      Effect.mapError(() => manifestError(ref, "Decode", `the config of ${name} is not JSON`, manifest.config.digest))
    )
    const diffIds = shape.rootfs?.diff_ids
    if (!Array.isArray(diffIds)) {
      return yield* Effect.fail(
        manifestError(
          ref,
          "Invalid",
          `pulled base image ${name} has no rootfs.diff_ids in its config — cannot produce a valid OCI image on top of it`,
          manifest.config.digest
        )
      )
    }
    if (diffIds.length !== manifest.layers.length) {
      return yield* Effect.fail(
        manifestError(
          ref,
          "Invalid",
          `base image ${name} has ${manifest.layers.length} layers in its manifest but ${diffIds.length} diff_ids in its config — refusing to emit an OCI-spec-violating image`,
          manifest.config.digest
        )
      )
    }
    const config = yield* decodeImageConfig(configBytes, `${ref.registry}/${ref.repository}@${manifest.config.digest}`).pipe(
      Effect.mapError((e) => manifestError(ref, "Decode", e.message, manifest.config.digest))
    )
    yield* Effect.forEach(
      manifest.layers,
      (layer) =>
        sink.has(layer).pipe(
          Effect.flatMap((present) =>
            present
              ? Effect.logDebug(`pull ${digestHex(layer.digest).slice(0, 12)}: already present`)
              : Effect.logDebug(`pull ${digestHex(layer.digest).slice(0, 12)}`).pipe(
                Effect.zipRight(fetchBlobToFile(at, layer, sink.pathFor(layer.digest)))
              )
          )
        ),
      { concurrency: options.concurrency ?? 4, discard: true }
    )
    return {
      reference: ref,
      manifest,
      manifestBytes: fetched.bytes,
      manifestDigest: fetched.digest,
      manifestMediaType: fetched.mediaType,
      config,
      configBytes,
      layers: manifest.layers.map((d) => ({ ...d, mediaType: toOciLayerMediaType(d.mediaType) }))
    }
  })

export interface RemoteImage {
  readonly manifest: Manifest
  readonly manifestBytes: Uint8Array
  readonly manifestDigest: Digest
  readonly config: ImageConfig
  readonly configBytes: Uint8Array
}

/**
 * The image currently at `ref` for remote layer reuse (manifest and config only). A missing image, or one we may
 * not read (404, 401, 403), or an index without the platform, is `None`; anything else fails.
 */
export const fetchRemoteImage = (
  ref: Reference,
  platform: Platform
): Effect.Effect<Option.Option<RemoteImage>, RegistryFailure, RegistryClient> =>
  Effect.gen(function*() {
    const fetched = yield* resolveImageManifest(ref, platform, {
      operation: "push",
      // The same scopes as the push that follows, so both share one token.
      scopes: [repositoryScope(ref.repository, "pull,push")]
    })
    const at = { registry: ref.registry, repository: ref.repository }
    const configBytes = yield* fetchBlobBytes(at, fetched.manifest.config)
    const config = yield* decodeImageConfig(configBytes, `${ref.registry}/${ref.repository}@${fetched.manifest.config.digest}`).pipe(
      Effect.mapError((e) => manifestError(ref, "Decode", e.message, fetched.manifest.config.digest))
    )
    return Option.some<RemoteImage>({
      manifest: fetched.manifest,
      manifestBytes: fetched.bytes,
      manifestDigest: fetched.digest,
      config,
      configBytes
    })
  }).pipe(
    Effect.catchIf(
      (e): boolean =>
        (e._tag === "RegistryResponseError" && [401, 403, 404].includes(e.status)) ||
        (e._tag === "AuthError" && (e.status === 401 || e.status === 403)) ||
        (e._tag === "ManifestError" && e.reason === "NoMatchingPlatform"),
      () => Effect.succeed(Option.none<RemoteImage>())
    )
  )
