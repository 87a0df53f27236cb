import {
  decodeImageConfig,
  type Descriptor,
  type Digest,
  digestHex,
  digestOf,
  encodeIndex,
  type ImageIndex,
  isDigest,
  type LayoutError,
  MediaType,
  type Platform,
  readLayout
} from "@engine/layout"
import { Effect, Option } from "effect"
import { stat } from "node:fs/promises"
import { repositoryScope } from "./Auth"
import { BlobError, ManifestError, type RegistryFailure } from "./Errors"
import { fetchBlobBytes, fetchManifest, MANIFEST_ACCEPT } from "./Pull"
import { formatReference, isLoopback, type Reference, referenceIdentifier, withIdentifier } from "./Reference"
import { RegistryClient, type RegistryRequest } from "./RegistryClient"
import { retrying } from "./Retry"
import { platformIdentity } from "./Platform"
import type { RequestBody } from "./Transport"

/** An image to push: exact manifest bytes plus a way to read each blob. */
export interface PushImage {
  /** mediaType, digest and size of `manifestBytes`. */
  readonly manifest: Descriptor
  readonly manifestBytes: Uint8Array
  /** Config, then layers; a blob listed twice is pushed once. */
  readonly blobs: ReadonlyArray<Descriptor>
  /** Where a blob's bytes are; None for a blob expected to be in the registry already (remote layer reuse). */
  readonly blobSource: (descriptor: Descriptor) => Effect.Effect<Option.Option<RequestBody>>
  /** The image's platform (from its config), for `updateIndex`. */
  readonly platform?: Platform
}

export interface LayoutSource {
  readonly layoutDir: string
  /** Which manifest of index.json; needed only when it lists several and none is tagged with the reference. */
  readonly manifestDigest?: Digest
}

export type PushSource = PushImage | LayoutSource

export interface PushOptions {
  /** A repository on the same registry holding the base layers: they are mounted instead of uploaded. */
  readonly mountFrom?: string
  /** Blobs uploaded at once (default 4). */
  readonly concurrency?: number
  /** Blobs above this size go up as one streamed PATCH and an empty PUT (default 64 MiB). */
  readonly patchThreshold?: number
  /** Push the manifest by digest and upsert it into the tag's image index (mise's `--update-index`). */
  readonly updateIndex?: boolean
}

export interface PushResult {
  readonly manifestDigest: Digest
  readonly uploaded: number
  readonly present: number
  readonly mounted: number
  /** Set with `updateIndex`: the digest of the index now at the tag. */
  readonly indexDigest?: Digest
}

export const DEFAULT_PATCH_THRESHOLD = 64 * 1024 * 1024
const REF_NAME = "org.opencontainers.image.ref.name"

const invalid = (ref: Reference, message: string, digest?: string) =>
  new ManifestError({
    reason: "Invalid",
    registry: ref.registry,
    repository: ref.repository,
    reference: referenceIdentifier(ref),
    ...(digest !== undefined ? { digest } : {}),
    message
  })

const platformOf = (c: { readonly architecture: string; readonly os: string; readonly variant?: string | undefined; readonly "os.version"?: string | undefined }): Platform => ({
  architecture: c.architecture,
  os: c.os,
  ...(c["os.version"] !== undefined ? { "os.version": c["os.version"] } : {}),
  ...(c.variant !== undefined ? { variant: c.variant } : {})
})

/** Reads the image to push from an OCI layout: the one manifest, the given digest, or the one tagged with `ref`. */
export const imageFromLayout = (source: LayoutSource, ref: Reference): Effect.Effect<PushImage, LayoutError | ManifestError> =>
  Effect.gen(function*() {
    const { layout, images } = yield* readLayout(source.layoutDir)
    const tagged = (d: Descriptor) => {
      const name = d.annotations?.[REF_NAME]
      return name !== undefined && (name === formatReference(ref) || name === ref.tag)
    }
    const image = source.manifestDigest !== undefined
      ? images.find((i) => i.descriptor.digest === source.manifestDigest)
      : images.length === 1
      ? images[0]
      : images.find((i) => tagged(i.descriptor))
    if (image === undefined) {
      return yield* Effect.fail(
        invalid(
          ref,
          source.manifestDigest !== undefined
            ? `${source.layoutDir} has no image manifest ${source.manifestDigest}`
            : `${source.layoutDir} holds ${images.length} image manifests and none is tagged ${ref.tag ?? ""}; pass the manifest digest`
        )
      )
    }
    const manifestBytes = yield* layout.readBlob(image.descriptor.digest)
    return {
      manifest: { mediaType: image.descriptor.mediaType, digest: image.descriptor.digest, size: image.descriptor.size },
      manifestBytes,
      blobs: [image.manifest.config, ...image.manifest.layers],
      blobSource: (d) =>
        Effect.promise(() =>
          stat(layout.blobPath(d.digest)).then(
            (s) => (s.isFile() ? Option.some<RequestBody>({ _tag: "File", path: layout.blobPath(d.digest) }) : Option.none()),
            () => Option.none<RequestBody>()
          )
        ),
      platform: platformOf(image.config)
    }
  })

type BlobOutcome = "uploaded" | "present" | "mounted"

const appendQuery = (url: string, query: string) => `${url}${url.includes("?") ? "&" : "?"}${query}`

/** HEAD, then mount or POST, then one monolithic PUT (or one streamed PATCH and an empty PUT for big blobs). */
const pushBlob = (
  ref: Reference,
  descriptor: Descriptor,
  isConfig: boolean,
  image: PushImage,
  options: PushOptions,
  scopes: ReadonlyArray<string>
): Effect.Effect<BlobOutcome, RegistryFailure, RegistryClient> =>
  Effect.gen(function*() {
    const client = yield* RegistryClient
    const base = (method: RegistryRequest["method"], url: string, expect: ReadonlyArray<number>): RegistryRequest => ({
      registry: ref.registry,
      repository: ref.repository,
      scopes,
      operation: "push",
      method,
      url,
      expect
    })
    const short = digestHex(descriptor.digest).slice(0, 12)
    const exists = yield* client.send(
      base("HEAD", `/v2/${ref.repository}/blobs/${descriptor.digest}`, [200, 404]),
      (r) => Effect.succeed(r.status === 200)
    )
    if (exists) {
      yield* Effect.logDebug(`push ${short}: already present`)
      return "present"
    }
    const source = yield* image.blobSource(descriptor)
    if (Option.isNone(source)) {
      return yield* Effect.fail(
        new BlobError({
          reason: "Missing",
          registry: ref.registry,
          repository: ref.repository,
          digest: descriptor.digest,
          message: `blob ${descriptor.digest} is neither in ${ref.registry}/${ref.repository} nor available locally, so it cannot be pushed`
        })
      )
    }
    const body = source.value
    const patchThreshold = options.patchThreshold ?? DEFAULT_PATCH_THRESHOLD
    const upload = (n: number) =>
      Effect.gen(function*() {
        if (n > 1) yield* Effect.logDebug(`push ${short}: upload attempt ${n}`)
        const mount = options.mountFrom !== undefined && options.mountFrom !== ref.repository && !isConfig
          ? `?mount=${encodeURIComponent(descriptor.digest)}&from=${encodeURIComponent(options.mountFrom)}`
          : ""
        const started = yield* client.send(
          {
            ...base("POST", `/v2/${ref.repository}/blobs/uploads/${mount}`, [201, 202]),
            headers: { "content-length": "0" }
          },
          (r) => Effect.succeed({ status: r.status, location: r.header("location"), url: r.url })
        )
        if (started.status === 201) return "mounted" as const
        if (started.location === undefined) {
          return yield* Effect.fail(
            new BlobError({
              reason: "Io",
              registry: ref.registry,
              repository: ref.repository,
              digest: descriptor.digest,
              message: `${ref.registry} started an upload for ${descriptor.digest} without a Location header`
            })
          )
        }
        let location = new URL(started.location, started.url).href
        const octets = { "content-type": "application/octet-stream" }
        if (descriptor.size > patchThreshold) {
          location = yield* client.send(
            {
              ...base("PATCH", location, [202, 201, 204]),
              headers: { ...octets, "content-length": String(descriptor.size) },
              body,
              retry: false
            },
            (r) => Effect.succeed(new URL(r.header("location") ?? location, r.url).href)
          )
          yield* client.send(
            {
              ...base("PUT", appendQuery(location, `digest=${encodeURIComponent(descriptor.digest)}`), [201, 202, 204]),
              headers: { ...octets, "content-length": "0" },
              retry: false
            },
            () => Effect.void
          )
        } else {
          yield* client.send(
            {
              ...base("PUT", appendQuery(location, `digest=${encodeURIComponent(descriptor.digest)}`), [201, 202, 204]),
              headers: { ...octets, "content-length": String(descriptor.size) },
              body,
              retry: false
            },
            () => Effect.void
          )
        }
        return "uploaded" as const
      })
    // An upload that broke half way restarts from POST: the session's partial content cannot be trusted.
    const outcome = yield* retrying(client.config.retry, upload, (e) =>
      e._tag === "TransportError"
        ? { retryable: e.retryable }
        : e._tag === "RegistryResponseError" && (e.status === 408 || e.status === 429 || e.status >= 500)
        ? e.retryAfterMs !== undefined ? { retryable: true, retryAfterMs: e.retryAfterMs } : { retryable: true }
        : { retryable: false })
    yield* Effect.logDebug(`push ${short}: ${outcome}`)
    return outcome
  })

/** PUTs manifest or index bytes to a tag or digest, checking the digest the registry reports. */
const putManifest = (
  ref: Reference,
  identifier: string,
  mediaType: string,
  bytes: Uint8Array,
  digest: Digest,
  scopes: ReadonlyArray<string>
): Effect.Effect<void, RegistryFailure, RegistryClient> =>
  Effect.gen(function*() {
    const client = yield* RegistryClient
    const reported = yield* client.send(
      {
        registry: ref.registry,
        repository: ref.repository,
        scopes,
        operation: "push",
        method: "PUT",
        url: `/v2/${ref.repository}/manifests/${identifier}`,
        headers: { "content-type": mediaType, "content-length": String(bytes.length) },
        body: { _tag: "Bytes", bytes },
        expect: [200, 201, 202]
      },
      (r) => Effect.succeed(r.header("docker-content-digest"))
    )
    if (reported !== undefined && reported !== digest) {
      return yield* Effect.fail(
        new ManifestError({
          reason: "DigestMismatch",
          registry: ref.registry,
          repository: ref.repository,
          reference: identifier,
          digest,
          message: `${ref.registry} stored the manifest for ${ref.repository}:${identifier} as ${reported}, but its digest is ${digest}`
        })
      )
    }
  })

const pushScopes = (ref: Reference, mountFrom: string | undefined): ReadonlyArray<string> => [
  repositoryScope(ref.repository, "pull,push"),
  ...(mountFrom !== undefined && mountFrom !== ref.repository ? [repositoryScope(mountFrom, "pull")] : [])
]

/**
 * Pushes an image: every blob the registry lacks (HEAD first; mounted from `mountFrom` when possible), in
 * parallel, then the manifest with its own media type. Re-running after a failure uploads only what is missing.
 */
export const pushLayout = (
  source: PushSource,
  ref: Reference,
  options: PushOptions = {}
): Effect.Effect<PushResult, RegistryFailure | LayoutError, RegistryClient> =>
  Effect.gen(function*() {
    const image = "layoutDir" in source ? yield* imageFromLayout(source, ref) : source
    if (ref.digest !== undefined && ref.digest !== image.manifest.digest) {
      return yield* Effect.fail(
        invalid(ref, `cannot push manifest ${image.manifest.digest} to ${formatReference(ref)}: the reference pins another digest`, image.manifest.digest)
      )
    }
    const scopes = pushScopes(ref, options.mountFrom)
    const client = yield* RegistryClient
    if (!isLoopback(ref.registry) && !(yield* client.hasCredential(ref.registry))) {
      yield* Effect.logWarning(
        `no registry credentials found for ${ref.registry} — pushing anonymously. Run \`docker login ${ref.registry}\` (or \`podman login\`) if the push is rejected.`
      )
    }
    const blobs = [...new Map(image.blobs.map((d) => [d.digest, d] as const)).values()]
    // The tag already holds this very manifest (a re-push): a registry keeps every blob a manifest it holds refers
    // to, so there is nothing to check or upload, and putting the same manifest again changes nothing. One HEAD,
    // where mise asks about every blob; a probe that fails just means the full push below.
    if (options.updateIndex !== true && ref.tag !== undefined) {
      const current = yield* Effect.option(manifestDigestAt(ref))
      if (Option.contains(Option.flatten(current), image.manifest.digest)) {
        return { manifestDigest: image.manifest.digest, uploaded: 0, present: blobs.length, mounted: 0 }
      }
    }
    const configDigest = image.blobs[0]?.digest
    const outcomes = yield* Effect.forEach(
      blobs,
      (d) => pushBlob(ref, d, d.digest === configDigest, image, options, scopes),
      { concurrency: options.concurrency ?? 4 }
    )
    const count = (o: BlobOutcome) => outcomes.filter((x) => x === o).length
    const tag = ref.tag ?? image.manifest.digest
    const identifier = options.updateIndex === true ? image.manifest.digest : tag
    yield* putManifest(ref, identifier, image.manifest.mediaType, image.manifestBytes, image.manifest.digest, scopes)
    const result: PushResult = {
      manifestDigest: image.manifest.digest,
      uploaded: count("uploaded"),
      present: count("present"),
      mounted: count("mounted")
    }
    if (options.updateIndex !== true) return result
    if (ref.tag === undefined) {
      return yield* Effect.fail(invalid(ref, `--update-index needs a tag to hold the index; ${formatReference(ref)} has none`))
    }
    if (image.platform === undefined) {
      return yield* Effect.fail(invalid(ref, "--update-index needs the image's platform, and none was given"))
    }
    const indexDigest = yield* updateIndex(ref, image.manifest, image.platform)
    return { ...result, indexDigest }
  })

/**
 * The digest of what `ref`'s tag (or digest) points at, from one HEAD (Docker-Content-Digest); None when it is
 * missing or the registry does not say.
 */
export const manifestDigestAt = (ref: Reference): Effect.Effect<Option.Option<Digest>, RegistryFailure, RegistryClient> =>
  Effect.flatMap(RegistryClient, (client) =>
    client.send(
      {
        registry: ref.registry,
        repository: ref.repository,
        scopes: pushScopes(ref, undefined),
        operation: "push",
        method: "HEAD",
        url: `/v2/${ref.repository}/manifests/${referenceIdentifier(ref)}`,
        headers: { accept: MANIFEST_ACCEPT },
        expect: [200, 404]
      },
      (r) => {
        const digest = r.header("docker-content-digest")
        return Effect.succeed(
          r.status === 200 && digest !== undefined && isDigest(digest) ? Option.some(digest) : Option.none<Digest>()
        )
      }
    ))

const compareIdentity = (a: Descriptor, b: Descriptor): number => {
  if (a.platform === undefined || b.platform === undefined) {
    return a.platform === undefined ? (b.platform === undefined ? 0 : 1) : -1
  }
  const x = platformIdentity(a.platform).join("\u0000")
  const y = platformIdentity(b.platform).join("\u0000")
  return x < y ? -1 : x > y ? 1 : 0
}

/**
 * mise's `--update-index`: reads the index at `ref`'s tag (a single manifest there becomes its first entry, its
 * platform read from its config), replaces or adds the entry for `platform`, sorts entries by platform identity,
 * and PUTs the compact OCI index back to the tag. The manifest must already be in the repository.
 */
export const updateIndex = (
  ref: Reference,
  manifest: Descriptor,
  platform: Platform
): Effect.Effect<Digest, RegistryFailure, RegistryClient> =>
  Effect.gen(function*() {
    const tag = ref.tag
    if (tag === undefined) {
      return yield* Effect.fail(invalid(ref, `updating an image index needs a tag; ${formatReference(ref)} has none`))
    }
    const tagRef = withIdentifier(ref, tag)
    const scopes = pushScopes(ref, undefined)
    const current = yield* fetchManifest(tagRef, { operation: "push", scopes }).pipe(
      Effect.map(Option.some),
      Effect.catchIf((e) => e._tag === "RegistryResponseError" && e.status === 404, () => Effect.succeed(Option.none()))
    )
    let entries: ReadonlyArray<Descriptor> = []
    if (Option.isSome(current)) {
      const found = current.value
      if (found._tag === "Index") {
        entries = found.index.manifests
      } else {
        const configBytes = yield* fetchBlobBytes(ref, found.manifest.config)
        const config = yield* decodeImageConfig(configBytes, `${ref.registry}/${ref.repository}@${found.manifest.config.digest}`).pipe(
          Effect.mapError((e) => invalid(ref, e.message, found.manifest.config.digest))
        )
        entries = [{ mediaType: found.mediaType, size: found.bytes.length, digest: found.digest, platform: platformOf(config) }]
      }
    }
    const entry: Descriptor = { mediaType: manifest.mediaType, size: manifest.size, digest: manifest.digest, platform }
    const manifests = [...entries.filter((d) => d.platform === undefined || compareIdentity(d, entry) !== 0), entry]
      .sort(compareIdentity)
    const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests }
    const bytes = encodeIndex(index, { compact: true })
    const digest = digestOf(bytes)
    yield* putManifest(tagRef, tag, MediaType.ImageIndex, bytes, digest, scopes)
    yield* Effect.logDebug(`updated image index: ${digest}`)
    return digest
  })
