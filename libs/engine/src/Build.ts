import { FileSystem } from "@effect/platform"
import type { BackendContext } from "@engine/backends"
import {
  type Descriptor,
  type Digest,
  encodeImageConfig,
  encodeManifest,
  fileEntries,
  type ImageConfig,
  type LayerBlob,
  type LayerEntry,
  MediaType,
  openLayout,
  treeEntries,
  writeLayer
} from "@engine/layout"
import { Effect } from "effect"
import * as NodePath from "node:path"
import { BuildError } from "./BuildError"
import { planImage } from "./ImagePlan"
import type { ImagePlan, Owner } from "./ImagePlan"
import { imageEnv, rebasePathValue } from "./ImageEnv"
import { Paths } from "./Paths"
import { createdTimestamp, synthesizedMiseConfig, toolLabelKey } from "./Synthesized"
import { prepareTools, type ReadyTool } from "./Toolset"
import { loadProject } from "./config"
import { ENGINE_VERSION } from "./Version"

export interface BuildOptions {
  readonly cwd: string
  readonly output: string
  readonly from?: string | undefined
  readonly tag?: string | undefined
  readonly mountPoint?: string | undefined
  readonly noMise: boolean
  readonly miseBin?: string | undefined
  readonly owner?: string | undefined
  readonly copies: ReadonlyArray<string>
  readonly includeGlobal: boolean
  readonly noCache: boolean
  readonly env: Readonly<Record<string, string | undefined>>
  readonly now?: () => Date
}

export interface LayerSummary {
  readonly kind: "mise" | "tool" | "copy" | "config"
  readonly tool?: string
  readonly version?: string
  readonly image?: string
  readonly digest: Digest
  readonly diffId: Digest
  readonly size: number
}

export interface BuildResult {
  readonly outputDir: string
  readonly manifestDigest: Digest
  readonly manifestSize: number
  readonly configDigest: Digest
  readonly tag?: string
  readonly layers: ReadonlyArray<LayerSummary>
  readonly warnings: ReadonlyArray<string>
}

interface BuiltLayer {
  readonly summary: LayerSummary
  readonly blob: LayerBlob
  readonly annotations?: Record<string, string>
}

/** `engine build`: mise.toml → OCI image layout on disk. */
export const build = (opts: BuildOptions) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const paths = yield* Paths
    const warnings: Array<string> = []
    const warn = (message: string) => {
      warnings.push(message)
      process.stderr.write(`warning: ${message}\n`)
    }
    const project = yield* loadProject({
      cwd: NodePath.resolve(opts.cwd),
      env: opts.env,
      home: paths.home,
      includeGlobal: opts.includeGlobal
    })
    const plan = yield* planImage(project, opts)
    const ctx: BackendContext = paths.backendContext(project.settings, opts.env, warn)
    const tools = yield* prepareTools(project, ctx, { install: true, mountPoint: plan.mountPoint })
    if (tools.length === 0) warn("engine build: no tools in the toolset — image will have only the base layer")
    if (project.env.bakedCount > 0) {
      warn(
        `engine build: baking ${project.env.bakedCount} [env] var(s) into the image config. These are visible via \`docker inspect\` / \`skopeo inspect\`; do not put secrets in [env] (use [oci.env] only for values safe to ship).`
      )
    }

    const outputDir = NodePath.resolve(opts.cwd, opts.output)
    yield* fs.makeDirectory(outputDir, { recursive: true }).pipe(
      Effect.mapError((cause) => new BuildError({ reason: "Io", message: `cannot create output dir ${outputDir}: ${String(cause)}`, cause }))
    )
    const layout = yield* openLayout(outputDir)
    const tempDir = yield* Effect.acquireRelease(
      fs.makeTempDirectory({ directory: outputDir, prefix: ".engine-tmp-" }),
      (dir) => fs.remove(dir, { recursive: true, force: true }).pipe(Effect.ignore)
    ).pipe(Effect.mapError((cause) => new BuildError({ reason: "Io", message: `cannot create a temp dir in ${outputDir}: ${String(cause)}`, cause })))

    const layerOf = (entries: ReadonlyArray<LayerEntry>, owner: Owner) => writeLayer(entries, { owner, tempDir })

    const miseLayer: Array<BuiltLayer> = []
    if (plan.miseBinary !== undefined) {
      const blob = yield* layerOf(
        fileEntries([{ path: "usr/local/bin/mise", source: plan.miseBinary, mode: 0o755, owner: plan.owner }]),
        ROOT
      )
      miseLayer.push({ summary: summaryOf("mise", blob), blob })
    }

    const toolLayers = yield* Effect.forEach(
      tools,
      (tool) =>
        Effect.gen(function*() {
          const { entries, warnings: w } = yield* treeEntries({
            root: tool.installDir,
            prefix: tool.imageRoot.slice(1),
            relocation: { hostRoot: tool.installDir, imageRoot: tool.imageRoot }
          })
          w.forEach(warn)
          const blob = yield* layerOf(entries, plan.owner)
          const built: BuiltLayer = {
            summary: { ...summaryOf("tool", blob), tool: tool.request.short, version: tool.resolved.resolved },
            blob,
            annotations: {
              "dev.mise.tool.short": tool.request.short,
              "dev.mise.tool.version": tool.resolved.resolved,
              "dev.mise.layer.prefix": tool.imageRoot.slice(1),
              "dev.mise.layer.owner": `${plan.owner.uid}:${plan.owner.gid}`,
              "dev.mise.layer.relocation": "2"
            }
          }
          return built
        }),
      { concurrency: paths.cpus }
    )

    const copyLayers: Array<BuiltLayer> = []
    for (const copy of plan.copies) {
      warn(
        `engine build: copying host path ${copy.host} into the image at ${copy.image} — review its contents for secrets or credentials before sharing the image`
      )
      const entries = yield* copyEntries(copy.host, copy.image, plan.owner, warn)
      const blob = yield* layerOf(entries, ROOT)
      copyLayers.push({ summary: { ...summaryOf("copy", blob), image: copy.image }, blob, annotations: { "dev.mise.copy": copy.image } })
    }

    const toolVersions = tools.map((t) => [t.request.short, t.resolved.resolved] as const)
    const configText = synthesizedMiseConfig(toolVersions)
    const configLayerBlob = yield* layerOf(
      fileEntries([{ path: "etc/mise/config.toml", data: new TextEncoder().encode(configText), mode: 0o644, owner: plan.owner }]),
      ROOT
    )
    const layers: Array<BuiltLayer> = [
      ...miseLayer,
      ...toolLayers,
      ...copyLayers,
      { summary: summaryOf("config", configLayerBlob), blob: configLayerBlob }
    ]

    const created = createdTimestamp(opts.env.SOURCE_DATE_EPOCH, opts.now ?? (() => new Date()), warn)
    const labels: Record<string, string> = {
      "org.opencontainers.image.created": created,
      "org.opencontainers.image.source": "engine build",
      "dev.engine.version": ENGINE_VERSION
    }
    for (const [short, version] of toolVersions) labels[toolLabelKey(short)] = version
    for (const [k, v] of plan.oci.labels) labels[k] = v

    const env = imageEnv({
      base: [],
      projectEnv: project.env.vars,
      unset: project.env.unset,
      toolEnv: tools.flatMap((t) => t.execEnv.map(([k, v]) => [k, rebasePathValue(v, t.installDir, t.imageRoot)] as const)),
      ociEnv: plan.oci.env,
      mountPoint: plan.mountPoint,
      binPaths: tools.flatMap((t) => t.imageBinPaths)
    })
    const config: ImageConfig = {
      created,
      author: "engine",
      architecture: paths.imageArch,
      os: "linux",
      config: {
        ...(plan.oci.user !== undefined ? { User: plan.oci.user } : {}),
        Env: env,
        ...(plan.oci.entrypoint !== undefined ? { Entrypoint: [...plan.oci.entrypoint] } : {}),
        ...(plan.oci.cmd !== undefined ? { Cmd: [...plan.oci.cmd] } : {}),
        WorkingDir: plan.oci.workdir ?? "/workspace",
        Labels: labels
      },
      rootfs: { type: "layers", diff_ids: layers.map((l) => l.blob.diffId) }
    }
    const configDesc = yield* layout.putBlob(encodeImageConfig(config), MediaType.ImageConfig)
    const layerDescs: Array<Descriptor> = []
    for (const l of layers) {
      yield* layout.adoptBlob(l.blob.path, l.blob.digest, l.blob.size)
      layerDescs.push({
        mediaType: MediaType.LayerGzip,
        size: l.blob.size,
        digest: l.blob.digest,
        ...(l.annotations !== undefined ? { annotations: l.annotations } : {})
      })
    }
    const manifestDesc = yield* layout.putBlob(
      encodeManifest({ schemaVersion: 2, mediaType: MediaType.ImageManifest, config: configDesc, layers: layerDescs }),
      MediaType.ImageManifest
    )
    yield* layout.writeIndex({
      schemaVersion: 2,
      mediaType: MediaType.ImageIndex,
      manifests: [
        {
          ...manifestDesc,
          ...(plan.tag !== undefined ? { annotations: { "org.opencontainers.image.ref.name": plan.tag } } : {})
        }
      ]
    })
    yield* layout.prune(new Set([manifestDesc.digest, configDesc.digest, ...layerDescs.map((d) => d.digest)]))
    const result: BuildResult = {
      outputDir,
      manifestDigest: manifestDesc.digest,
      manifestSize: manifestDesc.size,
      configDigest: configDesc.digest,
      ...(plan.tag !== undefined ? { tag: plan.tag } : {}),
      layers: layers.map((l) => l.summary),
      warnings
    }
    return result
  }).pipe(Effect.scoped)

const ROOT: Owner = { uid: 0, gid: 0 }

const summaryOf = (kind: LayerSummary["kind"], blob: LayerBlob): LayerSummary => ({
  kind,
  digest: blob.digest,
  diffId: blob.diffId,
  size: blob.size
})

/** A copy's entries: a dir's contents go under IMAGE, a file or symlink lands exactly at IMAGE. */
const copyEntries = (host: string, image: string, owner: Owner, warn: (m: string) => void) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const info = yield* fs.stat(host).pipe(
      Effect.mapError((cause) => new BuildError({ reason: "Usage", message: `copy host path ${host} cannot be read: ${String(cause)}`, cause }))
    )
    if (info.type !== "Directory" && image.endsWith("/")) {
      return yield* new BuildError({
        reason: "Usage",
        message: `copy image path "${image}" ends with \`/\` but ${NodePath.basename(host)} is not a directory; specify the exact destination file name`
      })
    }
    // The copied content is the owner's; the system dirs above it (etc/, srv/) stay root's (mise's bug 4).
    const { entries, warnings } = yield* treeEntries({
      root: host,
      prefix: image.replace(/^\/+|\/+$/g, ""),
      relocation: { hostRoot: host, imageRoot: image },
      owner,
      prefixOwner: ROOT
    })
    warnings.forEach(warn)
    return entries
  })

export type { ImagePlan, ReadyTool }
