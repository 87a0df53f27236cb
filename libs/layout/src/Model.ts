import { Effect, ParseResult, Schema } from "effect"
import { type Digest, isDigest } from "./Digest"
import { LayoutError } from "./Errors"

/** Media types this package writes or reads. */
export const MediaType = {
  ImageManifest: "application/vnd.oci.image.manifest.v1+json",
  ImageIndex: "application/vnd.oci.image.index.v1+json",
  ImageConfig: "application/vnd.oci.image.config.v1+json",
  LayoutHeader: "application/vnd.oci.layout.header.v1+json",
  Layer: "application/vnd.oci.image.layer.v1.tar",
  LayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  LayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  LayerNondistributableGzip: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  DockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  DockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  DockerConfig: "application/vnd.docker.container.image.v1+json",
  DockerLayer: "application/vnd.docker.image.rootfs.diff.tar",
  DockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  DockerLayerZstd: "application/vnd.docker.image.rootfs.diff.tar.zstd",
  DockerForeignLayerGzip: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
} as const

/** Same constants under the plural name some callers expect. */
export const MediaTypes = MediaType

const dockerToOciLayer: Readonly<Record<string, string>> = {
  [MediaType.DockerLayer]: MediaType.Layer,
  [MediaType.DockerLayerGzip]: MediaType.LayerGzip,
  [MediaType.DockerLayerZstd]: MediaType.LayerZstd,
  [MediaType.DockerForeignLayerGzip]: MediaType.LayerNondistributableGzip
}

/** Base layers are copied verbatim but re-labelled with the OCI type, as mise does for v2s2 bases. */
export const toOciLayerMediaType = (mediaType: string): string => dockerToOciLayer[mediaType] ?? mediaType

export const isIndexMediaType = (mediaType: string | undefined): boolean =>
  mediaType === MediaType.ImageIndex || mediaType === MediaType.DockerManifestList

export const isManifestMediaType = (mediaType: string | undefined): boolean =>
  mediaType === MediaType.ImageManifest || mediaType === MediaType.DockerManifest

// ---------------------------------------------------------------------------------------------------------------
// Schemas: every manifest, index or config read from disk or a registry is decoded through these once.

export const DigestSchema = Schema.TemplateLiteral("sha256:", Schema.String).pipe(
  Schema.filter((s) => isDigest(s) || "expected sha256: followed by 64 lowercase hex chars")
)

const StringMap = Schema.Record({ key: Schema.String, value: Schema.String })

export const PlatformSchema = Schema.Struct({
  architecture: Schema.String,
  os: Schema.String,
  "os.version": Schema.optional(Schema.String),
  "os.features": Schema.optional(Schema.Array(Schema.String)),
  variant: Schema.optional(Schema.String)
})

export const DescriptorSchema = Schema.Struct({
  mediaType: Schema.String,
  size: Schema.NonNegativeInt,
  digest: DigestSchema,
  annotations: Schema.optional(StringMap),
  platform: Schema.optional(PlatformSchema)
})

/** image-spec 1.0 writers (umoci) omit `mediaType`; it is only a SHOULD, so it stays optional. */
export const ManifestSchema = Schema.Struct({
  schemaVersion: Schema.Literal(2),
  mediaType: Schema.optional(Schema.String),
  config: DescriptorSchema,
  layers: Schema.Array(DescriptorSchema),
  annotations: Schema.optional(StringMap)
})

export const ImageIndexSchema = Schema.Struct({
  schemaVersion: Schema.Literal(2),
  mediaType: Schema.optional(Schema.String),
  manifests: Schema.Array(DescriptorSchema),
  annotations: Schema.optional(StringMap)
})

/** Docker configs write `null` for unset fields, so every field accepts null as absent. */
const nullable = <S extends Schema.Schema.Any>(s: S) => Schema.optionalWith(s, { nullable: true })

export const ContainerConfigSchema = Schema.Struct({
  User: nullable(Schema.String),
  Env: nullable(Schema.Array(Schema.String)),
  Entrypoint: nullable(Schema.Array(Schema.String)),
  Cmd: nullable(Schema.Array(Schema.String)),
  WorkingDir: nullable(Schema.String),
  Labels: nullable(StringMap)
})

export const ImageConfigSchema = Schema.Struct({
  created: nullable(Schema.String),
  author: nullable(Schema.String),
  architecture: Schema.String,
  os: Schema.String,
  variant: nullable(Schema.String),
  "os.version": nullable(Schema.String),
  config: nullable(ContainerConfigSchema),
  rootfs: Schema.Struct({ type: Schema.Literal("layers"), diff_ids: Schema.Array(DigestSchema) })
})

export interface Platform extends Schema.Schema.Type<typeof PlatformSchema> {}
export interface Descriptor extends Schema.Schema.Type<typeof DescriptorSchema> {}
export interface Manifest extends Schema.Schema.Type<typeof ManifestSchema> {}
export interface ImageIndex extends Schema.Schema.Type<typeof ImageIndexSchema> {}
export interface ContainerConfig extends Schema.Schema.Type<typeof ContainerConfigSchema> {}
export interface ImageConfig extends Schema.Schema.Type<typeof ImageConfigSchema> {}

const decodeJson = <A, I>(schema: Schema.Schema<A, I>, what: string) => {
  const decode = Schema.decodeUnknown(Schema.parseJson(schema))
  return (bytes: Uint8Array, source?: string): Effect.Effect<A, LayoutError> =>
    decode(new TextDecoder().decode(bytes)).pipe(
      Effect.mapError((e) =>
        new LayoutError({
          reason: "Decode",
          message: `cannot decode ${what}${source !== undefined ? ` from ${source}` : ""}: ${
            ParseResult.TreeFormatter.formatErrorSync(e)
          }`,
          ...(source !== undefined ? { path: source } : {}),
          cause: e
        })
      )
    )
}

export const decodeManifest = decodeJson(ManifestSchema, "image manifest")
export const decodeIndex = decodeJson(ImageIndexSchema, "image index")
export const decodeImageConfig = decodeJson(ImageConfigSchema, "image config")

// ---------------------------------------------------------------------------------------------------------------
// Encoders: they build plain objects whose key insertion order is mise's serde field order, then stringify.
// Map keys that look like integers would be reordered by JS objects; labels and annotations never use such keys.

/** Field order of the image config's `config` object in mise 2026.9.15 (byte-checked: Env, Cmd, Entrypoint, WorkingDir, User, Labels). */
export const CONTAINER_CONFIG_KEY_ORDER = ["Env", "Cmd", "Entrypoint", "WorkingDir", "User", "Labels"] as const

type Json = string | number | boolean | null | ReadonlyArray<Json> | { readonly [k: string]: Json }

/** Keeps the given order and drops undefined values (serde's skip_serializing_if = is_none). */
const ordered = (pairs: ReadonlyArray<readonly [string, Json | undefined]>): { [k: string]: Json } => {
  const out: { [k: string]: Json } = {}
  for (const [k, v] of pairs) if (v !== undefined) out[k] = v
  return out
}

const nonEmptyMap = (m: { readonly [k: string]: string } | undefined): Json | undefined =>
  m !== undefined && Object.keys(m).length > 0 ? { ...m } : undefined

const platformJson = (p: Platform): Json =>
  ordered([
    ["architecture", p.architecture],
    ["os", p.os],
    ["os.version", p["os.version"]],
    ["os.features", p["os.features"]],
    ["variant", p.variant]
  ])

const descriptorJson = (d: Descriptor): Json =>
  ordered([
    ["mediaType", d.mediaType],
    ["size", d.size],
    ["digest", d.digest],
    ["annotations", nonEmptyMap(d.annotations)],
    ["platform", d.platform !== undefined ? platformJson(d.platform) : undefined]
  ])

const manifestJson = (m: Manifest): Json =>
  ordered([
    ["schemaVersion", m.schemaVersion],
    ["mediaType", m.mediaType],
    ["config", descriptorJson(m.config)],
    ["layers", m.layers.map(descriptorJson)],
    ["annotations", nonEmptyMap(m.annotations)]
  ])

const indexJson = (i: ImageIndex): Json =>
  ordered([
    ["schemaVersion", i.schemaVersion],
    ["mediaType", i.mediaType],
    ["manifests", i.manifests.map(descriptorJson)],
    ["annotations", nonEmptyMap(i.annotations)]
  ])

const containerConfigJson = (c: ContainerConfig): Json => {
  // Env and Labels are never empty in mise's output; Cmd/Entrypoint/WorkingDir/User are written even when empty.
  const values: { readonly [K in (typeof CONTAINER_CONFIG_KEY_ORDER)[number]]: Json | undefined } = {
    Env: c.Env !== undefined && c.Env.length > 0 ? c.Env : undefined,
    Cmd: c.Cmd,
    Entrypoint: c.Entrypoint,
    WorkingDir: c.WorkingDir,
    User: c.User,
    Labels: nonEmptyMap(c.Labels)
  }
  return ordered(CONTAINER_CONFIG_KEY_ORDER.map((k) => [k, values[k]] as const))
}

/** mise never writes `variant`, `os.version` or `history`, so they are not serialized even when decoded from a base. */
const imageConfigJson = (c: ImageConfig): Json =>
  ordered([
    ["created", c.created],
    ["author", c.author],
    ["architecture", c.architecture],
    ["os", c.os],
    ["config", c.config !== undefined ? containerConfigJson(c.config) : undefined],
    ["rootfs", ordered([["type", c.rootfs.type], ["diff_ids", c.rootfs.diff_ids]])]
  ])

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)

/** Compact, no trailing newline: the exact bytes of mise's manifest blob. */
export const encodeManifest = (m: Manifest): Uint8Array => utf8(JSON.stringify(manifestJson(m)))

/** Compact, no trailing newline: the exact bytes of mise's config blob. */
export const encodeImageConfig = (c: ImageConfig): Uint8Array => utf8(JSON.stringify(imageConfigJson(c)))

/** `index.json` is pretty-printed with 2 spaces and no trailing newline; registries get the compact form. */
export const encodeIndex = (i: ImageIndex, options?: { readonly compact?: boolean }): Uint8Array =>
  utf8(options?.compact === true ? JSON.stringify(indexJson(i)) : JSON.stringify(indexJson(i), null, 2))

export const OCI_LAYOUT_FILE = "{\"imageLayoutVersion\":\"1.0.0\"}"

export type { Digest }
