import { FileSystem } from "@effect/platform"
import { type Backend, type BackendContext, installDir as installDirOf, type ResolvedTool, type ToolRequest } from "@engine/backends"
import {
  digestOf,
  encodeImageConfig,
  encodeIndex,
  encodeManifest,
  fileEntries,
  GZIP_LEVEL,
  GZIP_MEMBER_SIZE,
  type LayerEntry,
  MediaType,
  OCI_LAYOUT_FILE,
  openLayout,
  treeEntries,
  writeLayer
} from "@engine/layout"
import { Effect, Option, Schema } from "effect"
import { existsSync, lstatSync, readFileSync, readlinkSync, statSync } from "node:fs"
import * as NodePath from "node:path"
import type { BaseImage } from "./BaseImage"
import { BuildError } from "./BuildError"
import { type CacheStore, fingerprintFile, fingerprintTree, fingerprintTreeNow } from "./cache"
import type { Project, ToolSpec } from "./config"
import { type AnyTask, type DepResult, depValue, type Json, JsonValue, keyInputs, task, type Task } from "./graph"
import { assembleImage, indexOf, type ImageLayer, type ImageTool, manifestOf, toolLayerAnnotations } from "./ImageAssembly"
import type { CopySpec, ImagePlan, Owner } from "./ImagePlan"
import { isInstalledNow } from "./Installer"
import { isPipxTool, isPythonTool, RELOCATION_VERSION, relocationKey } from "./PythonRelocation"
import { findReusable, type RemoteLayer } from "./RemoteReuse"
import { synthesizedMiseConfig } from "./Synthesized"
import { describeTool, ensureInstalled, imageRootOf, localResolutionNow, pinnedVersion, type Resolution, resolveTool } from "./Toolset"

/** The engine's layer-format version: bumped whenever the same key inputs would give other layer bytes. */
export const LAYER_FORMAT = "engine-layer/1"
const COMPRESSION = { algorithm: "gzip", level: GZIP_LEVEL, memberSize: GZIP_MEMBER_SIZE } as const
/** A version answered by upstream (`latest`, a prefix with nothing installed) is asked again after this, like mise's remote versions cache. */
const UPSTREAM_TTL_MS = 60 * 60 * 1000
const ROOT: Owner = { uid: 0, gid: 0 }

const Digest = Schema.TemplateLiteral("sha256:", Schema.String)

const Resolved = Schema.Struct({
  version: Schema.String,
  versionDir: Schema.String,
  installDir: Schema.String,
  local: Schema.Boolean,
  via: Schema.Literal("path", "pin", "installed", "upstream"),
  /** When it was decided (ms since the epoch), for the upstream TTL. */
  at: Schema.Number
})
export type Resolved = typeof Resolved.Type

const Installed = Schema.Struct({
  installDir: Schema.String,
  local: Schema.Boolean,
  /** Host paths; the layout rebases them into the image. */
  binPaths: Schema.Array(Schema.String),
  execEnv: Schema.Array(Schema.Tuple(Schema.String, Schema.String)),
  /** Not installed: the tool's layer is this one of the cache image (remote layer reuse). */
  remote: Schema.optional(Digest)
})
export type Installed = typeof Installed.Type

const Layer = Schema.Struct({
  digest: Digest,
  diffId: Digest,
  size: Schema.NonNegativeInt,
  /** What the tree walk warned about, replayed on every build (also on a hit). */
  warnings: Schema.Array(Schema.String),
  /** Referenced from the previously pushed image (remote layer reuse): no local bytes. */
  reused: Schema.optional(Schema.Boolean)
})
export type Layer = typeof Layer.Type

const BlobRef = Schema.Struct({ digest: Digest, size: Schema.NonNegativeInt })

const Written = Schema.Struct({
  manifestDigest: Digest,
  manifestSize: Schema.NonNegativeInt,
  configDigest: Digest,
  /** sha256 of index.json as written: a hit needs the output dir to still hold it. */
  indexDigest: Digest,
  blobs: Schema.Array(BlobRef)
})
export type Written = typeof Written.Type

/** Everything the tasks of one image need, decided before the graph runs. */
export interface BuildSetup {
  readonly project: Project
  readonly plan: ImagePlan
  readonly ctx: BackendContext
  readonly store: CacheStore
  /** `--verify`: re-hash trees and cached blobs instead of trusting stat snapshots and sizes. */
  readonly verify: boolean
  readonly outputDir: string
  readonly architecture: string
  readonly created: string
  readonly now: () => number
  /** Tool layers of the image a push replaces, referenced instead of rebuilt when their key matches. */
  readonly reuse: ReadonlyArray<RemoteLayer>
}

/** What resolve and install tasks need: `engine install` runs them with no image in sight. */
export type ToolSetup = Pick<BuildSetup, "project" | "ctx" | "now">

export interface InstallTasks {
  readonly spec: ToolSpec
  readonly resolve: Task<Resolved, unknown, FileSystem.FileSystem>
  readonly install: Task<Installed, unknown, FileSystem.FileSystem>
}

export interface ToolTasks extends InstallTasks {
  readonly layer: Task<Layer, unknown, FileSystem.FileSystem>
}

/** Writes a layer into the cache's temp dir and moves it into the blob store; nothing is left behind if interrupted. */
const storeLayer = (store: CacheStore, entries: ReadonlyArray<LayerEntry>, owner: Owner) =>
  Effect.scoped(
    Effect.gen(function*() {
      const tempDir = yield* store.tempDir
      const blob = yield* writeLayer(entries, { owner, tempDir })
      yield* store.putBlobFromFile(blob.path, blob.digest, blob.size)
      return { digest: blob.digest, diffId: blob.diffId, size: blob.size }
    })
  )

const blobsOf = (layer: Layer) => (layer.reused === true ? [] : [{ digest: layer.digest, size: layer.size }])

const resolvedTool = (request: ToolRequest, r: Resolved): ResolvedTool => ({ ...request, resolved: r.version, versionDir: r.versionDir })

const toResolved = (r: Resolution, at: number): Resolved => ({
  version: r.tool.resolved,
  versionDir: r.tool.versionDir,
  installDir: r.dir,
  local: r.local,
  via: r.via,
  at
})

/**
 * A cached resolution holds while the project would still decide the same locally (same pin, same installed
 * match, same dir), or, when it came from upstream and nothing local decides, while it is fresh.
 */
const stillResolves = (setup: ToolSetup, cached: Resolved, request: ToolRequest, local: Option.Option<Resolution>): boolean =>
  Option.match(local, {
    onSome: (r) => r.tool.resolved === cached.version && r.dir === cached.installDir,
    onNone: () =>
      cached.via === "upstream" &&
      setup.now() - cached.at < UPSTREAM_TTL_MS &&
      cached.installDir === installDirOf(setup.ctx.dataDir, request.short, cached.version)
  })

const at = (request: ToolRequest, r: Resolved) => `${request.short}@${r.version}`

/**
 * What the install of a tool whose layer comes from the cache image reports instead of installing it, as mise
 * does: the bin dirs the cache image has on its PATH (else `<dir>/bin`), and the backend's exec env as far as it
 * can tell without the files.
 */
const notInstalled = (backend: Backend, tool: ResolvedTool, r: Resolved, remote: RemoteLayer, ctx: BackendContext) =>
  Effect.gen(function*() {
    const imageRoot = `/${remote.prefix}`
    const binPaths = remote.binPaths.length > 0
      ? remote.binPaths.map((p) => `${r.installDir}${p.slice(imageRoot.length)}`)
      : [NodePath.join(r.installDir, "bin")]
    const execEnv = yield* backend.execEnv(tool, r.installDir, ctx).pipe(
      Effect.catchAll((e) =>
        Effect.sync(() => {
          ctx.warn(`failed to resolve exec_env for ${at(tool, r)}: ${e.message} — any vars that tool needs (e.g. JAVA_HOME) will be missing`)
          return []
        })
      )
    )
    const installed: Installed = { installDir: r.installDir, local: r.local, binPaths, execEnv, remote: remote.digest }
    return installed
  })

const stillInstalled = (v: Installed): boolean =>
  v.remote !== undefined || (v.local ? existsSync(v.installDir) : isInstalledNow(v.installDir))

/**
 * resolve → install for one tool. `name` is unique in the image (`http:hello`, or `node[2]` for a second node).
 * `remote` names the cache image's layer for a resolved version, when the build takes it from there: then
 * nothing is installed.
 */
export const installTasks = (
  setup: ToolSetup,
  spec: ToolSpec,
  request: ToolRequest,
  backend: Backend,
  name: string,
  remote: (r: Resolved) => RemoteLayer | undefined = () => undefined
): InstallTasks => {
  const { ctx } = setup
  const platform = { os: ctx.platform.os, arch: ctx.platform.arch }
  // A version found installed by the resolve check is the install the install check would look at next.
  let seenInstalled: string | undefined
  const resolvesNow = (cached: Resolved) => {
    const local = localResolutionNow(spec, request, setup.project, ctx)
    if (Option.isSome(local) && local.value.via === "installed") seenInstalled = local.value.dir
    return stillResolves(setup, cached, request, local)
  }
  const installedNow = (v: Installed) => (v.remote === undefined && !v.local && v.installDir === seenInstalled) || stillInstalled(v)
  const resolve = task({
    id: `resolve:${name}`,
    kind: "resolve",
    resource: "net",
    cacheable: true,
    probe: true,
    label: () => `${request.short}@${request.version}`,
    output: Resolved,
    inputs: () =>
      keyInputs("resolve", {
        backend: request.backend,
        tool: request.short,
        request: request.version,
        options: request.options,
        platform,
        pin: pinnedVersion(spec, setup.project) ?? null
      }),
    run: () => Effect.map(resolveTool(backend, spec, request, setup.project, ctx), (r) => toResolved(r, setup.now())),
    validate: (cached) => Effect.sync(() => resolvesNow(cached)),
    validateNow: (cached) => resolvesNow(cached)
  })
  const install = task({
    id: `install:${name}`,
    kind: "install",
    resource: "net",
    cacheable: true,
    deps: { resolve },
    keyDeps: [],
    label: ({ resolve }) => at(request, resolve.value),
    output: Installed,
    inputs: ({ resolve }) => {
      const reused = remote(resolve.value)
      return keyInputs("install", {
        backend: request.backend,
        tool: request.short,
        version: resolve.value.version,
        options: request.options,
        platform,
        installDir: resolve.value.installDir,
        ...(reused !== undefined ? { reused: reused.digest } : {})
      })
    },
    run: ({ resolve }) =>
      Effect.gen(function*() {
        const r = resolve.value
        const tool = resolvedTool(request, r)
        const reused = remote(r)
        if (reused !== undefined) return yield* notInstalled(backend, tool, r, reused, ctx)
        yield* ensureInstalled(backend, { tool, dir: r.installDir, local: r.local, via: r.via }, ctx)
        const { binPaths, execEnv } = yield* describeTool(backend, tool, r.installDir, ctx)
        return { installDir: r.installDir, local: r.local, binPaths, execEnv }
      }),
    // The install is the data dir itself: a hit needs it still there and complete.
    validate: (v) => Effect.sync(() => installedNow(v)),
    validateNow: installedNow
  })
  return { spec, resolve, install }
}

/** The toolset's pythons as a pipx layer relocates into them, from their resolve tasks' values. */
const pythonInstalls = (plan: ImagePlan, pythons: ReadonlyArray<{ readonly short: string; readonly resolved: Resolved }>) =>
  pythons.map(({ short, resolved }) => ({
    version: resolved.version,
    hostRoot: resolved.installDir,
    imageRoot: imageRootOf(plan.mountPoint, { short, versionDir: resolved.versionDir })
  }))

/**
 * resolve → install → tool-layer for one tool, `name` as for `installTasks`. A pipx tool's layer also waits for the
 * toolset's pythons to resolve (`pythons`): its venvs are relocated into them, as mise does.
 */
export const toolTasks = (
  setup: BuildSetup,
  spec: ToolSpec,
  request: ToolRequest,
  backend: Backend,
  name: string,
  pythons: ReadonlyArray<ToolTasks> = []
): ToolTasks => {
  const { plan, ctx, store } = setup
  // Only a push has layers of a previous image to reuse.
  const reusable = (r: Resolved, relocation: string): RemoteLayer | undefined =>
    setup.reuse.length === 0 ? undefined : findReusable(setup.reuse, {
      short: request.short,
      version: r.version,
      prefix: imageRootOf(plan.mountPoint, resolvedTool(request, r)).slice(1),
      owner: `${plan.owner.uid}:${plan.owner.gid}`,
      relocation
    })
  // A pipx layer's reuse key names the toolset's pythons, which its install does not wait for: it always installs.
  const { resolve, install } = installTasks(setup, spec, request, backend, name, (r) =>
    isPipxTool(request) ? undefined : reusable(r, relocationKey(request, [])))
  const pythonDeps = Object.fromEntries(pythons.map((p) => [p.resolve.id, p.resolve] as const))
  const pythonsOf = (values: Readonly<Record<string, DepResult<unknown>>>) =>
    pythonInstalls(plan, pythons.map((p) => ({ short: p.spec.short, resolved: depValue(values, p.resolve.id, p.resolve) })))
  type LayerValues = Readonly<Record<string, DepResult<unknown>>> & { readonly resolve: DepResult<Resolved> }
  /** How the layer relocates paths, and the cache image's layer it reuses when its key matches. */
  const layerSource = (values: LayerValues) => {
    const relocation = relocationKey(request, pythonsOf(values))
    return { relocation, remote: reusable(values.resolve.value, relocation) }
  }
  const layerInputs = (values: LayerValues, { relocation, remote }: ReturnType<typeof layerSource>, tree: string) => {
    const resolved = values.resolve.value
    return keyInputs("tool-layer", {
      format: LAYER_FORMAT,
      tool: request.short,
      version: resolved.version,
      tree,
      hostRoot: resolved.installDir,
      prefix: imageRootOf(plan.mountPoint, resolvedTool(request, resolved)),
      owner: plan.owner,
      // The number 2 as before for all but pipx, whose key names the pythons it rewrites paths into.
      relocation: relocation === RELOCATION_VERSION ? 2 : relocation,
      compression: COMPRESSION,
      ...(remote !== undefined ? { reused: remote.digest } : {})
    })
  }
  const layer = task({
    id: `tool-layer:${name}`,
    kind: "tool-layer",
    resource: "cpu",
    cacheable: true,
    deps: { ...pythonDeps, resolve, install },
    keyDeps: [],
    label: ({ resolve }) => at(request, resolve.value),
    output: Layer,
    blobs: blobsOf,
    inputs: (values) => {
      const source = layerSource(values)
      // A reused layer's content is the remote layer's: the tool may not even be installed here.
      const tree = source.remote !== undefined
        ? Effect.succeed(source.remote.diffId)
        : Effect.map(fingerprintTree(store, values.resolve.value.installDir, { verify: setup.verify }), (t) => t.digest)
      return Effect.map(tree, (digest) => layerInputs(values, source, digest))
    },
    quickInputs: (values) => {
      const source = layerSource(values)
      const digest = source.remote !== undefined
        ? source.remote.diffId
        : fingerprintTreeNow(store, values.resolve.value.installDir, { verify: setup.verify })
      return digest === undefined ? undefined : layerInputs(values, source, digest)
    },
    run: (values) =>
      Effect.gen(function*() {
        const r = values.resolve.value
        const pythons = pythonsOf(values)
        const remote = reusable(r, relocationKey(request, pythons))
        if (remote !== undefined) {
          ctx.log(`reusing ${request.short}@${r.version} layer from the cache image (unchanged)`)
          const reused: Layer = { digest: remote.digest, diffId: remote.diffId, size: remote.size, warnings: [], reused: true }
          return reused
        }
        const imageRoot = imageRootOf(plan.mountPoint, resolvedTool(request, r))
        const { entries, warnings } = yield* treeEntries({
          root: r.installDir,
          prefix: imageRoot.slice(1),
          relocation: { hostRoot: r.installDir, imageRoot, ...(pythons.length > 0 ? { pythons } : {}) }
        })
        const blob = yield* storeLayer(store, entries, plan.owner)
        return { ...blob, warnings }
      })
  })
  return { spec, resolve, install, layer }
}

/** The mise binary at /usr/local/bin/mise, owned by the image owner in a root-owned chain. */
export const miseLayerTask = (setup: BuildSetup, binary: string) =>
  task({
    id: "mise-layer",
    kind: "mise-layer",
    resource: "cpu",
    cacheable: true,
    label: () => "usr/local/bin/mise",
    output: Layer,
    blobs: blobsOf,
    inputs: () =>
      fingerprintFile(setup.store, binary, { verify: setup.verify }).pipe(
        Effect.map((file) =>
          keyInputs("mise-layer", { format: LAYER_FORMAT, binary: file.digest, owner: setup.plan.owner, compression: COMPRESSION })
        )
      ),
    run: () =>
      storeLayer(setup.store, fileEntries([{ path: "usr/local/bin/mise", source: binary, mode: 0o755, owner: setup.plan.owner }]), ROOT).pipe(
        Effect.map((blob) => ({ ...blob, warnings: [] }))
      )
  })

const unreadableCopy = (host: string) => (cause: unknown) =>
  new BuildError({ reason: "Usage", message: `copy host path ${host} cannot be read: ${String(cause)}`, cause })

/** A copy source's content fingerprint: a tree, a file, or a symlink's target (copied as a link). */
const hostFingerprint = (setup: BuildSetup, host: string) =>
  Effect.gen(function*() {
    const info = yield* Effect.try({ try: () => lstatSync(host), catch: unreadableCopy(host) })
    if (info.isSymbolicLink()) return `link:${yield* Effect.try({ try: () => readlinkSync(host), catch: unreadableCopy(host) })}`
    const fingerprint = info.isDirectory()
      ? fingerprintTree(setup.store, host, { verify: setup.verify })
      : fingerprintFile(setup.store, host, { verify: setup.verify })
    return (yield* fingerprint).digest
  })

/** A copy's entries: a dir's contents go under IMAGE, a file or symlink lands exactly at IMAGE. */
const copyEntries = (host: string, image: string, owner: Owner) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const info = yield* fs.stat(host).pipe(Effect.mapError(unreadableCopy(host)))
    if (info.type !== "Directory" && image.endsWith("/")) {
      return yield* new BuildError({
        reason: "Usage",
        message: `copy image path "${image}" ends with \`/\` but ${NodePath.basename(host)} is not a directory; specify the exact destination file name`
      })
    }
    // The copied content is the owner's; the system dirs above it (etc/, srv/) stay root's (mise's bug 4).
    return yield* treeEntries({
      root: host,
      prefix: image.replace(/^\/+|\/+$/g, ""),
      relocation: { hostRoot: host, imageRoot: image },
      owner,
      prefixOwner: ROOT
    })
  })

export const copyLayerTask = (setup: BuildSetup, copy: CopySpec, id: string) =>
  task({
    id,
    kind: "copy-layer",
    resource: "cpu",
    cacheable: true,
    label: () => copy.image,
    output: Layer,
    blobs: blobsOf,
    inputs: () =>
      Effect.map(hostFingerprint(setup, copy.host), (tree) =>
        keyInputs("copy-layer", { format: LAYER_FORMAT, host: copy.host, image: copy.image, tree, owner: setup.plan.owner, compression: COMPRESSION })),
    run: () =>
      Effect.gen(function*() {
        const { entries, warnings } = yield* copyEntries(copy.host, copy.image, setup.plan.owner)
        const blob = yield* storeLayer(setup.store, entries, ROOT)
        return { ...blob, warnings }
      })
  })

/** The tools' concrete versions in toolset order, for the synthesized config and the labels. */
const versionsOf = (deps: Readonly<Record<string, DepResult<unknown>>>, tools: ReadonlyArray<ToolTasks>) =>
  tools.map((t) => [t.spec.short, depValue(deps, t.resolve.id, t.resolve).version] as const)

/** /etc/mise/config.toml naming every tool's version, as mise writes it. */
export const configLayerTask = (setup: BuildSetup, tools: ReadonlyArray<ToolTasks>) =>
  task({
    id: "config-layer",
    kind: "config-layer",
    resource: "cpu",
    cacheable: true,
    deps: Object.fromEntries(tools.map((t): readonly [string, AnyTask] => [t.resolve.id, t.resolve])),
    keyDeps: [],
    label: () => "etc/mise/config.toml",
    output: Layer,
    blobs: blobsOf,
    inputs: (deps) =>
      keyInputs("config-layer", {
        format: LAYER_FORMAT,
        config: synthesizedMiseConfig(versionsOf(deps, tools)),
        owner: setup.plan.owner,
        compression: COMPRESSION
      }),
    run: (deps) =>
      storeLayer(
        setup.store,
        fileEntries([{
          path: "etc/mise/config.toml",
          data: new TextEncoder().encode(synthesizedMiseConfig(versionsOf(deps, tools))),
          mode: 0o644,
          owner: setup.plan.owner
        }]),
        ROOT
      ).pipe(Effect.map((blob) => ({ ...blob, warnings: [] })))
  })

/** One layer of the image, in manifest order, with what its descriptor says about it. */
export type LayerPart =
  | { readonly kind: "mise"; readonly task: Task<Layer, unknown, FileSystem.FileSystem> }
  | { readonly kind: "tool"; readonly task: Task<Layer, unknown, FileSystem.FileSystem>; readonly tool: ToolTasks }
  | { readonly kind: "copy"; readonly task: Task<Layer, unknown, FileSystem.FileSystem>; readonly image: string }
  | { readonly kind: "config"; readonly task: Task<Layer, unknown, FileSystem.FileSystem> }

const configJson = (bytes: Uint8Array): Json => Schema.decodeUnknownSync(JsonValue)(JSON.parse(new TextDecoder().decode(bytes)))

/** A path's stat, or undefined when it cannot be stat'ed (then the output is not what was written). */
const statQuiet = (path: string) => {
  try {
    return statSync(path, { throwIfNoEntry: false })
  } catch {
    return undefined
  }
}

const blobFile = (dir: string, digest: string) => NodePath.join(dir, "blobs", "sha256", digest.slice("sha256:".length))

/**
 * The image's config, manifest and index in the output dir, its layers hardlinked from the cache. A hit
 * needs the output dir to still hold what was written: the same index.json and every blob at its size
 * (with --verify: the very cache file, by inode).
 */
export const layoutTask = (
  setup: BuildSetup,
  tools: ReadonlyArray<ToolTasks>,
  parts: ReadonlyArray<LayerPart>,
  base?: Task<BaseImage, unknown, FileSystem.FileSystem>
) => {
  const { plan, project, store, outputDir } = setup
  const deps = Object.fromEntries([
    ...(base !== undefined ? [[base.id, base] as const] : []),
    ...parts.map((p): readonly [string, AnyTask] => [p.task.id, p.task]),
    ...tools.flatMap((t): ReadonlyArray<readonly [string, AnyTask]> => [[t.resolve.id, t.resolve], [t.install.id, t.install]])
  ])
  // Keyed, looked up, then run: the image is assembled once per set of dependency values.
  let assembledFor: { readonly values: ReadonlyArray<unknown>; readonly image: ReturnType<typeof assemble> } | undefined
  const image = (values: Readonly<Record<string, DepResult<unknown>>>) => {
    const current = Object.values(values).map((d) => d.value)
    if (assembledFor !== undefined && assembledFor.values.length === current.length && assembledFor.values.every((v, i) => v === current[i])) {
      return assembledFor.image
    }
    assembledFor = { values: current, image: assemble(values) }
    return assembledFor.image
  }
  const assemble = (values: Readonly<Record<string, DepResult<unknown>>>) => {
    const imageTools = tools.map((t): ImageTool & { readonly resolved: Resolved } => {
      const resolved = depValue(values, t.resolve.id, t.resolve)
      const installed = depValue(values, t.install.id, t.install)
      return {
        resolved,
        short: t.spec.short,
        version: resolved.version,
        installDir: resolved.installDir,
        imageRoot: imageRootOf(plan.mountPoint, { short: t.spec.short, versionDir: resolved.versionDir }),
        binPaths: installed.binPaths,
        execEnv: installed.execEnv
      }
    })
    const pythonTools = imageTools.filter((_, i) => isPythonTool(tools[i]!.spec))
    const layers = parts.map((p): ImageLayer => {
      const blob = depValue(values, p.task.id, p.task)
      switch (p.kind) {
        case "tool": {
          const tool = imageTools[tools.indexOf(p.tool)]
          const relocation = relocationKey(p.tool.spec, pythonInstalls(plan, pythonTools))
          return { blob, ...(tool !== undefined ? { annotations: toolLayerAnnotations(plan, tool, relocation) } : {}) }
        }
        case "copy":
          return { blob, annotations: { "dev.mise.copy": p.image } }
        default:
          return { blob }
      }
    })
    return assembleImage({
      plan,
      projectEnv: project.env.vars,
      unset: project.env.unset,
      tools: imageTools,
      layers,
      created: setup.created,
      architecture: setup.architecture,
      base: base !== undefined ? depValue(values, base.id, base) : undefined
    })
  }
  /** The output dir still holds this layout: its index.json, its marker, and every blob at its size. */
  const stillWritten = (w: Written): boolean => {
    const read = (name: string) => {
      try {
        return readFileSync(NodePath.join(outputDir, name))
      } catch {
        return undefined
      }
    }
    const index = read("index.json")
    if (index === undefined || digestOf(index) !== w.indexDigest) return false
    if (read("oci-layout")?.toString("utf8") !== OCI_LAYOUT_FILE) return false
    for (const b of w.blobs) {
      const out = statQuiet(blobFile(outputDir, b.digest))
      if (out === undefined || out.size !== b.size) return false
      if (setup.verify) {
        const cached = statQuiet(store.blobPath(b.digest))
        if (cached === undefined || cached.ino !== out.ino || cached.dev !== out.dev) return false
      }
    }
    return true
  }
  return task({
    id: "layout",
    kind: "layout",
    resource: "io",
    cacheable: true,
    deps,
    keyDeps: [],
    label: () => outputDir,
    output: Written,
    blobs: (w) => w.blobs,
    inputs: (values) => {
      const assembled = image(values)
      return keyInputs("layout", {
        outputDir,
        tag: plan.tag ?? null,
        config: configJson(encodeImageConfig(assembled.config)),
        layers: assembled.layers.map((d) => ({ mediaType: d.mediaType, digest: d.digest, size: d.size, annotations: d.annotations ?? null })),
        annotations: assembled.annotations ?? null,
        platform: assembled.platform !== undefined ? { os: assembled.platform.os, arch: assembled.platform.architecture } : null
      })
    },
    // Linking and renaming take milliseconds: an interrupt waits for them, so the output dir is never half written.
    run: (values) =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const assembled = image(values)
        const configRef = yield* store.putBlob(encodeImageConfig(assembled.config))
        const configDesc = { mediaType: MediaType.ImageConfig, size: configRef.size, digest: configRef.digest }
        const manifestRef = yield* store.putBlob(encodeManifest(manifestOf(configDesc, assembled.layers, assembled.annotations)))
        const manifestDesc = { mediaType: MediaType.ImageManifest, size: manifestRef.size, digest: manifestRef.digest }
        const index = indexOf(manifestDesc, assembled.tagAnnotations, assembled.platform)
        yield* fs.makeDirectory(outputDir, { recursive: true }).pipe(
          Effect.mapError((cause) => new BuildError({ reason: "Io", message: `cannot create output dir ${outputDir}: ${String(cause)}`, cause }))
        )
        const layout = yield* openLayout(outputDir)
        // A reused layer is in the registry only: the layout references it without holding it (as mise's push dir).
        const remote = new Set(parts.flatMap((p) => {
          const layer = depValue(values, p.task.id, p.task)
          return layer.reused === true ? [layer.digest] : []
        }))
        const local = assembled.layers.filter((d) => !remote.has(d.digest))
        // The base's own config is kept beside the image, as mise's layout does.
        const baseConfig = base !== undefined ? [depValue(values, base.id, base).config] : []
        const blobs = [
          ...new Map([...local, ...baseConfig, configRef, manifestRef].map((b) => [b.digest, { digest: b.digest, size: b.size }])).values()
        ]
        // Most layers are in place from the last build: a plain check each, and only the others go through linkBlob.
        const toLink = blobs.filter((b) => {
          try {
            return !store.now.blobInPlace(b.digest, layout.blobPath(b.digest))
          } catch {
            return true
          }
        })
        yield* Effect.forEach(toLink, (b) => store.linkBlob(b.digest, layout.blobPath(b.digest)), { concurrency: 8, discard: true })
        yield* layout.writeIndex(index)
        yield* layout.prune(new Set(blobs.map((b) => b.digest)))
        const written: Written = {
          manifestDigest: manifestDesc.digest,
          manifestSize: manifestDesc.size,
          configDigest: configDesc.digest,
          indexDigest: digestOf(encodeIndex(index)),
          blobs
        }
        return written
      }).pipe(Effect.uninterruptible),
    // Two small reads and a stat per layer, synchronous: awaiting each through the thread pool grew with the tool count.
    validate: (w) => Effect.sync(() => stillWritten(w)),
    validateNow: (w) => stillWritten(w)
  })
}
