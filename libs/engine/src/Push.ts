import type { FileSystem } from "@effect/platform"
import { readLayout } from "@engine/layout"
import { DigestSchema } from "@engine/layout"
import {
  fetchRemoteImage,
  formatReference,
  manifestDigestAt,
  parseReference,
  pushLayout,
  type PushResult,
  type Reference,
  type RegistryClient
} from "@engine/registry"
import { Effect, Either, type Layer, Option, Schema } from "effect"
import { randomBytes } from "node:crypto"
import { existsSync } from "node:fs"
import { mkdir, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import * as NodePath from "node:path"
import { registryLayer, type RegistrySettings } from "./BaseImage"
import { type BuildOptions, buildResult, type BuildResult, prepareBuild, runPrepared } from "./Build"
import type { layoutTask } from "./BuildTasks"
import { BuildError } from "./BuildError"
import { loadProject, ociSettings } from "./config"
import { mergeSettings, type Settings } from "./config/Settings"
import { BASE_NAME } from "./ImageAssembly"
import { keyInputs, task, taskGraph, valueOf } from "./graph"
import { Paths } from "./Paths"
import { remoteReuseIndex, type RemoteLayer } from "./RemoteReuse"

export interface PushOptions {
  /** The destination as typed: `ghcr.io/you/devenv:tag`. */
  readonly destination: string
  /** Push this layout instead of building one. */
  readonly imageDir?: string | undefined
  /** Reuse tool layers from this image instead of the destination's current one (same repository). */
  readonly cacheFrom?: string | undefined
  readonly updateIndex: boolean
  /** The build to run when there is no `imageDir`; without `output` it goes to a temp dir, tagged REF unless `tag` is given. */
  readonly build: Omit<BuildOptions, "output" | "tag"> & { readonly output?: string | undefined; readonly tag?: string | undefined }
  /** Flags given that only make sense for a build (they conflict with `--image-dir`). */
  readonly buildFlagsGiven: ReadonlyArray<string>
}

export interface PushOutcome extends PushResult {
  readonly destination: string
  /** Tool layers referenced from the previous image instead of uploaded. */
  readonly reused: number
  /** Set when the image was built for this push. */
  readonly build?: BuildResult
}

const usage = (message: string) => new BuildError({ reason: "Usage", message })

/** mise's rule: the destination names its registry, so `justname` never silently goes to Docker Hub. */
export const parseDestination = (destination: string): Either.Either<Reference, BuildError> =>
  !destination.includes("/")
    ? Either.left(
      usage(`push destination must be a fully-qualified reference (e.g. \`ghcr.io/you/devenv:tag\`); got "${destination}"`)
    )
    : Either.mapLeft(parseReference(destination), (e) => usage(e.message))

/** `--image-dir` must be a layout: mise's message when index.json is missing. */
export const checkImageDir = (dir: string): Either.Either<string, BuildError> => {
  const resolved = NodePath.resolve(dir)
  return existsSync(NodePath.join(resolved, "index.json"))
    ? Either.right(resolved)
    : Either.left(usage(`${dir}: does not look like an OCI image layout (missing index.json)`))
}

/** A fresh all-lowercase temp dir (podman refuses `oci:` paths with capitals: mise's bug 1). */
export const lowercaseTempDir = (prefix: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const root = /[A-Z]/.test(tmpdir()) ? "/tmp" : tmpdir()
      const dir = NodePath.join(root, `${prefix}-${randomBytes(8).toString("hex")}`)
      await mkdir(dir, { recursive: true, mode: 0o700 })
      return dir
    }),
    (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
  )

/** Registry settings from the project when there is one (`oci.insecure_registries`), else from the env alone. */
export const registrySettings = (opts: { readonly cwd: string; readonly includeGlobal: boolean; readonly env: Readonly<Record<string, string | undefined>> }) =>
  Effect.gen(function*() {
    const paths = yield* Paths
    const settings = yield* loadProject({ cwd: NodePath.resolve(opts.cwd), env: opts.env, home: paths.home, includeGlobal: opts.includeGlobal }).pipe(
      Effect.map((p) => p.settings),
      Effect.orElse(() => Effect.succeed(Either.getOrElse(mergeSettings([], opts.env), (): Settings => ({}))))
    )
    const result: RegistrySettings = { insecureRegistries: ociSettings(settings).insecureRegistries, env: opts.env, home: paths.home }
    return result
  })

/** The repository on the destination's registry the base came from, for cross-repo mounts. */
const mountSource = (layoutDir: string, destination: Reference) =>
  readLayout(layoutDir).pipe(
    Effect.map(({ images }) => {
      const name = images[0]?.manifest.annotations?.[BASE_NAME]
      if (name === undefined) return undefined
      const base = Either.getOrUndefined(parseReference(name))
      return base !== undefined && base.registry === destination.registry && base.repository !== destination.repository
        ? base.repository
        : undefined
    })
  )

/** A push as the action cache records it: what the registry got, and which manifest (or index) the tag then held. */
const Pushed = Schema.Struct({
  manifestDigest: DigestSchema,
  /** Distinct blobs of the manifest. */
  blobs: Schema.NonNegativeInt,
  uploaded: Schema.NonNegativeInt,
  present: Schema.NonNegativeInt,
  mounted: Schema.NonNegativeInt,
  indexDigest: Schema.optional(DigestSchema)
})
type Pushed = typeof Pushed.Type

export interface PushTaskSetup {
  readonly destination: Reference
  readonly registry: Layer.Layer<RegistryClient>
  readonly updateIndex: boolean
  readonly outputDir: string
}

/**
 * The `push` task: after `layout`, every blob the registry lacks, then the manifest. Keyed by destination and
 * manifest digest; a recorded push holds while the tag still points at what it pushed (one HEAD), so pushing
 * the same image again asks nothing about its blobs.
 */
export const pushTask = (setup: PushTaskSetup, layout: ReturnType<typeof layoutTask>) =>
  task({
    id: "push",
    kind: "push",
    resource: "net",
    cacheable: true,
    deps: { layout },
    keyDeps: [],
    label: () => formatReference(setup.destination),
    output: Pushed,
    inputs: ({ layout }) =>
      keyInputs("push", { destination: formatReference(setup.destination), manifest: layout.value.manifestDigest }),
    run: ({ layout }) =>
      Effect.gen(function*() {
        const mountFrom = yield* mountSource(setup.outputDir, setup.destination)
        const result = yield* pushLayout({ layoutDir: setup.outputDir, manifestDigest: layout.value.manifestDigest }, setup.destination, {
          ...(mountFrom !== undefined ? { mountFrom } : {}),
          updateIndex: setup.updateIndex
        })
        const pushed: Pushed = {
          manifestDigest: result.manifestDigest,
          blobs: result.uploaded + result.present + result.mounted,
          uploaded: result.uploaded,
          present: result.present,
          mounted: result.mounted,
          ...(result.indexDigest !== undefined ? { indexDigest: result.indexDigest } : {})
        }
        return pushed
      }).pipe(Effect.provide(setup.registry)),
    // With --update-index the tag must still hold the index this push wrote; without, the manifest itself.
    validate: (recorded) =>
      manifestDigestAt(setup.destination).pipe(
        Effect.map((at) =>
          Option.isSome(at) &&
          (setup.updateIndex ? recorded.indexDigest !== undefined && at.value === recorded.indexDigest : recorded.indexDigest === undefined && at.value === recorded.manifestDigest)
        ),
        Effect.provide(setup.registry),
        Effect.orElseSucceed(() => false)
      )
  })

/**
 * `engine push REF` (and `engine build --push REF`): builds the image and pushes it as one task graph, the push
 * task after the layout (into a temp dir tagged REF unless an output dir is given), or pushes `--image-dir` as is.
 */
export const push = (opts: PushOptions) =>
  Effect.scoped(
    Effect.gen(function*() {
      const destination = yield* parseDestination(opts.destination)
      if (opts.imageDir !== undefined) {
        const conflict = opts.buildFlagsGiven[0]
        if (conflict !== undefined) return yield* usage(`--image-dir cannot be used with ${conflict}: the image is already built`)
        if (opts.cacheFrom !== undefined) return yield* usage("--cache-from cannot be used with --image-dir: layers are reused only while building")
      }
      if (opts.cacheFrom !== undefined && opts.build.noCache) {
        return yield* usage("--cache-from cannot be used with --no-cache")
      }
      const imageDir = opts.imageDir !== undefined ? yield* checkImageDir(opts.imageDir) : undefined
      const settings = yield* registrySettings(opts.build)
      const client = registryLayer(settings)
      if (imageDir !== undefined) {
        const mountFrom = yield* mountSource(imageDir, destination)
        const result = yield* pushLayout({ layoutDir: imageDir }, destination, {
          ...(mountFrom !== undefined ? { mountFrom } : {}),
          updateIndex: opts.updateIndex
        }).pipe(Effect.provide(client))
        const outcome: PushOutcome = { ...result, destination: opts.destination, reused: 0 }
        return outcome
      }
      const reuse = opts.build.noCache ? [] : yield* previousLayers(opts, destination, client)
      const output = opts.build.output ?? NodePath.join(yield* lowercaseTempDir("engine-push"), "image")
      const buildOptions: BuildOptions = { ...opts.build, output, tag: opts.build.tag ?? opts.destination, reuse }
      const prepared = yield* prepareBuild(buildOptions)
      const pushing = pushTask({ destination, registry: client, updateIndex: opts.updateIndex, outputDir: prepared.outputDir }, prepared.layout)
      const graph = yield* taskGraph(prepared.graph.name, [...prepared.graph.tasks, pushing])
      const summary = yield* runPrepared({ ...prepared, graph }, buildOptions, false)
      const built = yield* buildResult(prepared, summary)
      const pushed = yield* Option.match(valueOf(summary, graph.name, pushing), {
        onNone: () => Effect.fail(new BuildError({ reason: "Layout", message: "internal: the build finished without a value for the push" })),
        onSome: Effect.succeed
      })
      const recorded = summary.results.some((r) => r.task.id === pushing.id && r.status === "cached")
      const outcome: PushOutcome = {
        manifestDigest: pushed.manifestDigest,
        // A recorded push found the tag unchanged: every blob is there.
        uploaded: recorded ? 0 : pushed.uploaded,
        present: recorded ? pushed.blobs : pushed.present,
        mounted: recorded ? 0 : pushed.mounted,
        ...(pushed.indexDigest !== undefined ? { indexDigest: pushed.indexDigest } : {}),
        destination: opts.destination,
        reused: built.layers.filter((l) => l.reused === true).length,
        build: built
      }
      return outcome
    })
  )

/** The tool layers of the image at `--cache-from` (or the destination) that a build may reference instead of rebuilding. */
const previousLayers = (opts: PushOptions, destination: Reference, client: ReturnType<typeof registryLayer>) =>
  Effect.gen(function*() {
    const source = opts.cacheFrom !== undefined ? yield* Either.mapLeft(parseReference(opts.cacheFrom), (e) => usage(e.message)) : destination
    if (source.registry !== destination.registry || source.repository !== destination.repository) {
      return yield* usage(
        `--cache-from must reference the same repository as the destination (got ${source.registry}/${source.repository}, destination is ${destination.registry}/${destination.repository})`
      )
    }
    const paths = yield* Paths
    const remote = yield* fetchRemoteImage(source, { os: "linux", architecture: paths.imageArch }).pipe(
      Effect.provide(client),
      Effect.catchAll((e) =>
        Effect.sync(() => {
          process.stderr.write(`warning: could not fetch layer cache from ${formatReference(source)}: ${e.message} — building all layers\n`)
          return Option.none()
        })
      )
    )
    return Option.match(remote, { onNone: (): ReadonlyArray<RemoteLayer> => [], onSome: remoteReuseIndex })
  })

export type { FileSystem }
