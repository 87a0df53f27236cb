import type { Descriptor, Digest, ImageConfig, ImageIndex, Manifest, Platform } from "@engine/layout"
import { MediaType } from "@engine/layout"
import type { BaseImage } from "./BaseImage"
import type { ImagePlan } from "./ImagePlan"
import { imageEnv, rebasePathValue } from "./ImageEnv"
import { toolLabelKey } from "./Synthesized"
import { rebaseOne } from "./Toolset"
import { ENGINE_VERSION } from "./Version"

/** A finished layer blob, as a layer task outputs it. */
export interface LayerBlobInfo {
  readonly digest: Digest
  readonly diffId: Digest
  readonly size: number
}

/** One tool as the image config sees it: host paths are rebased from `installDir` onto `imageRoot`. */
export interface ImageTool {
  readonly short: string
  readonly version: string
  readonly installDir: string
  readonly imageRoot: string
  readonly binPaths: ReadonlyArray<string>
  readonly execEnv: ReadonlyArray<readonly [string, string]>
}

export interface ImageLayer {
  readonly blob: LayerBlobInfo
  readonly annotations?: Readonly<Record<string, string>>
}

export interface ImageInput {
  readonly plan: ImagePlan
  readonly projectEnv: ReadonlyArray<readonly [string, string]>
  readonly unset: ReadonlyArray<string>
  /** In toolset order. */
  readonly tools: ReadonlyArray<ImageTool>
  /** In manifest order: mise, tools, copies, config. */
  readonly layers: ReadonlyArray<ImageLayer>
  readonly created: string
  /** The host's, used only without a base (a base's config decides). */
  readonly architecture: string
  readonly base?: BaseImage | undefined
}

/** The config, manifest (config descriptor filled in by `encode`) and index of one image. */
export interface AssembledImage {
  readonly config: ImageConfig
  readonly layers: ReadonlyArray<Descriptor>
  /** The manifest's: `org.opencontainers.image.base.name` and `.base.digest` with a base. */
  readonly annotations?: Readonly<Record<string, string>>
  readonly tagAnnotations?: Readonly<Record<string, string>>
  /** On the index entry, only with a base (as mise). */
  readonly platform?: Platform
}

export const BASE_NAME = "org.opencontainers.image.base.name"
export const BASE_DIGEST = "org.opencontainers.image.base.digest"

/** Annotations of a tool layer, as mise writes them (`relocation`: `2`, or `2:python=<fingerprint>` for pipx). */
export const toolLayerAnnotations = (
  plan: ImagePlan,
  tool: { readonly short: string; readonly version: string; readonly imageRoot: string },
  relocation = "2"
) => ({
  "dev.mise.tool.short": tool.short,
  "dev.mise.tool.version": tool.version,
  "dev.mise.layer.prefix": tool.imageRoot.slice(1),
  "dev.mise.layer.owner": `${plan.owner.uid}:${plan.owner.gid}`,
  "dev.mise.layer.relocation": relocation
})

/**
 * The image config and layer descriptors, in mise 2026.9.15's order and values; pure. With a base: its layers
 * come first, its Env/Cmd/Entrypoint/WorkingDir/User are inherited (then overridden by `[oci]`), its
 * architecture/os are the image's; its labels and history are not carried over.
 */
export const assembleImage = (input: ImageInput): AssembledImage => {
  const { plan, base } = input
  const labels: Record<string, string> = {
    "org.opencontainers.image.created": input.created,
    "org.opencontainers.image.source": "engine build",
    "dev.engine.version": ENGINE_VERSION
  }
  for (const t of input.tools) labels[toolLabelKey(t.short)] = t.version
  for (const [k, v] of plan.oci.labels) labels[k] = v
  const env = imageEnv({
    base: base?.env ?? [],
    projectEnv: input.projectEnv,
    unset: input.unset,
    toolEnv: input.tools.flatMap((t) => t.execEnv.map(([k, v]) => [k, rebasePathValue(v, t.installDir, t.imageRoot)] as const)),
    ociEnv: plan.oci.env,
    mountPoint: plan.mountPoint,
    binPaths: input.tools.flatMap((t) => t.binPaths.map((b) => rebaseOne(b, t.installDir, t.imageRoot)))
  })
  const user = plan.oci.user ?? base?.user
  const entrypoint = plan.oci.entrypoint ?? base?.entrypoint
  const cmd = plan.oci.cmd ?? base?.cmd
  const config: ImageConfig = {
    created: input.created,
    author: "engine",
    architecture: base?.architecture ?? input.architecture,
    os: base?.os ?? "linux",
    config: {
      ...(user !== undefined ? { User: user } : {}),
      Env: env,
      ...(entrypoint !== undefined ? { Entrypoint: [...entrypoint] } : {}),
      ...(cmd !== undefined ? { Cmd: [...cmd] } : {}),
      WorkingDir: plan.oci.workdir ?? base?.workingDir ?? "/workspace",
      Labels: labels
    },
    rootfs: { type: "layers", diff_ids: [...(base?.diffIds ?? []), ...input.layers.map((l) => l.blob.diffId)] }
  }
  const layers = [
    ...(base?.layers ?? []).map((l): Descriptor => ({ mediaType: l.mediaType, size: l.size, digest: l.digest })),
    ...input.layers.map((l): Descriptor => ({
      mediaType: MediaType.LayerGzip,
      size: l.blob.size,
      digest: l.blob.digest,
      ...(l.annotations !== undefined ? { annotations: { ...l.annotations } } : {})
    }))
  ]
  return {
    config,
    layers,
    ...(base !== undefined
      ? {
        annotations: { [BASE_NAME]: base.name, [BASE_DIGEST]: base.manifestDigest },
        platform: { architecture: config.architecture, os: config.os }
      }
      : {}),
    ...(plan.tag !== undefined ? { tagAnnotations: { "org.opencontainers.image.ref.name": plan.tag } } : {})
  }
}

export const manifestOf = (
  configDesc: Descriptor,
  layers: ReadonlyArray<Descriptor>,
  annotations?: Readonly<Record<string, string>>
): Manifest => ({
  schemaVersion: 2,
  mediaType: MediaType.ImageManifest,
  config: configDesc,
  layers: [...layers],
  ...(annotations !== undefined ? { annotations: { ...annotations } } : {})
})

export const indexOf = (
  manifestDesc: Descriptor,
  tagAnnotations: Readonly<Record<string, string>> | undefined,
  platform?: Platform
): ImageIndex => ({
  schemaVersion: 2,
  mediaType: MediaType.ImageIndex,
  manifests: [{
    ...manifestDesc,
    ...(tagAnnotations !== undefined ? { annotations: { ...tagAnnotations } } : {}),
    ...(platform !== undefined ? { platform } : {})
  }]
})
