import type { FileSystem } from "@effect/platform"
import {
  type BlobSink,
  formatReference,
  layerRegistryClient,
  makeCredentialStore,
  parseReference,
  pullImage,
  type Reference,
  type RegistryClient,
  resolveImageManifest
} from "@engine/registry"
import { Effect, Either, type Layer, Schema } from "effect"
import { BuildError } from "./BuildError"
import type { CacheStore } from "./cache"
import { keyInputs, task, type Task } from "./graph"

const Digest = Schema.TemplateLiteral("sha256:", Schema.String)

/** What the image takes from its base: the layers (bytes in the cache store) and the config fields mise inherits. */
const BaseImage = Schema.Struct({
  /** The reference as the user typed it (`org.opencontainers.image.base.name`). */
  name: Schema.String,
  /** The platform's image manifest (`org.opencontainers.image.base.digest`). */
  manifestDigest: Digest,
  architecture: Schema.String,
  os: Schema.String,
  env: Schema.Array(Schema.String),
  cmd: Schema.optional(Schema.Array(Schema.String)),
  entrypoint: Schema.optional(Schema.Array(Schema.String)),
  workingDir: Schema.optional(Schema.String),
  user: Schema.optional(Schema.String),
  /** In order, Docker media types already mapped to OCI. */
  layers: Schema.Array(Schema.Struct({ mediaType: Schema.String, digest: Digest, size: Schema.NonNegativeInt })),
  diffIds: Schema.Array(Digest),
  config: Schema.Struct({ digest: Digest, size: Schema.NonNegativeInt })
})
export type BaseImage = typeof BaseImage.Type

/** `scratch` or empty means no base (mise's rule); anything else must parse as a reference. */
export const parseBase = (from: string): Either.Either<Reference | undefined, BuildError> =>
  from === "scratch" || from === ""
    ? Either.right(undefined)
    : Either.mapLeft(parseReference(from), (e) => new BuildError({ reason: "Usage", message: `base image: ${e.message}` }))

export interface RegistrySettings {
  readonly insecureRegistries: ReadonlyArray<string>
  readonly env: Readonly<Record<string, string | undefined>>
  readonly home: string
}

/** A registry client with the user's credentials (REGISTRY_AUTH_FILE, podman's auth.json, docker's config.json). */
export const registryLayer = (settings: RegistrySettings): Layer.Layer<RegistryClient> =>
  layerRegistryClient({
    insecureRegistries: settings.insecureRegistries,
    credentials: makeCredentialStore({ env: settings.env, homeDir: settings.home })
  })

export interface BaseImageSetup {
  readonly from: string
  readonly reference: Reference
  readonly architecture: string
  readonly store: CacheStore
  readonly registry: Layer.Layer<RegistryClient>
  readonly log: (message: string) => void
}

const failed = (from: string) => (e: { readonly message: string }) =>
  new BuildError({ reason: "Io", message: `pulling base image ${from}: ${e.message}`, cause: e })

/**
 * Pulls the base into the cache store (layers already there are not downloaded again). Keyed by the reference
 * and platform: a digest-pinned base is a plain hit with no network at all; a tag is asked again on every
 * build and the hit holds only while it still points at the same manifest.
 */
export const baseImageTask = (setup: BaseImageSetup): Task<BaseImage, BuildError, FileSystem.FileSystem> => {
  const { reference, from, store } = setup
  const platform = { os: "linux", architecture: setup.architecture }
  const sink: BlobSink = {
    pathFor: store.blobPath,
    has: (d) => Effect.map(store.checkBlob({ digest: d.digest, size: d.size }), (c) => c._tag === "Ok")
  }
  return task({
    id: "base-image",
    kind: "base-image",
    resource: "net",
    cacheable: true,
    label: () => from,
    output: BaseImage,
    blobs: (b) => [b.config, ...b.layers.map((l) => ({ digest: l.digest, size: l.size }))],
    inputs: () =>
      keyInputs("base-image", {
        reference: formatReference(reference),
        ...(reference.digest !== undefined ? { digest: reference.digest } : {}),
        platform: { os: platform.os, arch: platform.architecture }
      }),
    run: () =>
      Effect.gen(function*() {
        setup.log(`pulling base image ${from}`)
        const pulled = yield* pullImage(reference, platform, sink, { name: from }).pipe(
          Effect.provide(setup.registry),
          Effect.mapError(failed(from))
        )
        const c = pulled.config.config
        const base: BaseImage = {
          name: from,
          manifestDigest: pulled.manifestDigest,
          architecture: pulled.config.architecture,
          os: pulled.config.os,
          env: c?.Env ?? [],
          ...(c?.Cmd !== undefined ? { cmd: c.Cmd } : {}),
          ...(c?.Entrypoint !== undefined ? { entrypoint: c.Entrypoint } : {}),
          ...(c?.WorkingDir !== undefined && c.WorkingDir !== "" ? { workingDir: c.WorkingDir } : {}),
          ...(c?.User !== undefined && c.User !== "" ? { user: c.User } : {}),
          layers: pulled.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
          diffIds: pulled.config.rootfs.diff_ids,
          config: { digest: pulled.manifest.config.digest, size: pulled.manifest.config.size }
        }
        return base
      }),
    validate: (cached) =>
      reference.digest !== undefined
        ? Effect.succeed(true)
        : resolveImageManifest(reference, platform).pipe(
          Effect.map((m) => m.digest === cached.manifestDigest),
          Effect.provide(setup.registry),
          Effect.orElseSucceed(() => false)
        )
  })
}
