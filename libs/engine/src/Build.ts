import type { FileSystem } from "@effect/platform"
import { BackendRegistry, rejectUnsupported } from "@engine/backends"
import type { Digest, ProgressShape } from "@engine/layout"
import { Effect, Either, Option } from "effect"
import * as NodePath from "node:path"
import { type BaseImage, baseImageTask, registryLayer } from "./BaseImage"
import { BuildError } from "./BuildError"
import type { RemoteLayer } from "./RemoteReuse"
import {
  type BuildSetup,
  configLayerTask,
  copyLayerTask,
  type InstallTasks,
  type LayerPart,
  layoutTask,
  miseLayerTask,
  toolTasks,
  type ToolTasks
} from "./BuildTasks"
import { type ActionCache, makeActionCache, openCacheStore } from "./cache"
import { loadProject, ociSettings, type Project } from "./config"
import { runGraphs, type RunSummary, type Task, type TaskEvent, taskGraph, type TaskGraph, type TaskRef, valueOf } from "./graph"
import { planImage } from "./ImagePlan"
import type { ImagePlan } from "./ImagePlan"
import { Paths } from "./Paths"
import { createdTimestamp } from "./Synthesized"
import { checkRequiredCommands } from "./Preflight"
import { isPipxTool, isPythonTool } from "./PythonRelocation"
import { toolsToInstall, toRequest } from "./Toolset"

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
  /** Layer tasks neither read nor write the action cache (installs and the layout still use it). */
  readonly noCache: boolean
  /** Every task runs again; the cache is still written. */
  readonly force?: boolean
  /** Re-hash install trees and cached blobs instead of trusting stat snapshots and sizes. */
  readonly verify?: boolean
  /** `-j`: CPU-bound tasks (layer compression) at once; default: available cores. */
  readonly jobs?: number | undefined
  /** After a failure, finish the tasks that do not depend on it. */
  readonly continueOnError?: boolean
  /** No backend chatter (`installing x`, download lines) on stderr. */
  readonly quiet?: boolean
  readonly reporter?: (event: TaskEvent) => Effect.Effect<void>
  /** Called once the graph has run (not on a dry run), whether it succeeded or failed. */
  readonly onSummary?: (tasks: TasksSummary) => Effect.Effect<void>
  /** Where each running task's downloads and layer writes report their bytes (live progress). */
  readonly progress?: (task: TaskRef) => ProgressShape
  readonly env: Readonly<Record<string, string | undefined>>
  readonly now?: () => Date
  /** Push only: tool layers of the previous image, referenced instead of rebuilt when their reuse key matches. */
  readonly reuse?: ReadonlyArray<RemoteLayer>
}

export interface LayerSummary {
  readonly kind: "base" | "mise" | "tool" | "copy" | "config"
  readonly tool?: string
  readonly version?: string
  readonly image?: string
  readonly digest: Digest
  readonly diffId: Digest
  readonly size: number
  /** Referenced from the previously pushed image instead of built (push only). */
  readonly reused?: boolean
}

/** One task of a run, as `--json` shows it. */
export interface TaskSummary {
  /** What dry-run, progress and `engine explain` call it: `tool-layer:http:hello@1.0.0`, `layout`. */
  readonly task: string
  readonly id: string
  readonly kind: string
  readonly status: string
  readonly key?: string
  readonly durationMs: number
  readonly savedMs: number
}

export interface TasksSummary {
  readonly total: number
  readonly ran: number
  readonly cached: number
  readonly skipped: number
  readonly failed: number
  readonly wallMs: number
  /** Sum of the recorded run times of the tasks restored from the cache. */
  readonly savedMs: number
  readonly results: ReadonlyArray<TaskSummary>
}

export interface BuildResult {
  readonly outputDir: string
  readonly manifestDigest: Digest
  readonly manifestSize: number
  readonly configDigest: Digest
  readonly tag?: string
  /** The base as typed and the manifest it resolved to; absent for scratch. */
  readonly base?: { readonly name: string; readonly digest: Digest }
  readonly layers: ReadonlyArray<LayerSummary>
  readonly warnings: ReadonlyArray<string>
  readonly tasks: TasksSummary
}

/** The name a task goes by for people: `kind:label` for per-item tasks (`tool-layer:http:hello@1.0.0`), else its id. */
export const taskName = (ref: TaskRef): string =>
  ref.label !== undefined && ref.id.startsWith(`${ref.kind}:`) ? `${ref.kind}:${ref.label}` : ref.id

/** Layer kinds `--no-cache` keeps away from the action cache. */
const LAYER_KINDS: ReadonlySet<string> = new Set(["tool-layer", "mise-layer", "copy-layer", "config-layer"])

/** Any task of a build: what it produces and how it fails is read back through its own handle. */
export type BuildTask = Task<unknown, unknown, FileSystem.FileSystem>

/** An image's graph before it runs, with the handles the result is read back through. */
export interface PreparedBuild {
  readonly project: Project
  readonly plan: ImagePlan
  readonly outputDir: string
  readonly graph: TaskGraph<BuildTask>
  readonly tools: ReadonlyArray<ToolTasks>
  readonly parts: ReadonlyArray<LayerPart>
  readonly base: Task<BaseImage, unknown, FileSystem.FileSystem> | undefined
  readonly layout: ReturnType<typeof layoutTask>
  readonly cache: ActionCache
  readonly warnings: Array<string>
  readonly warn: (message: string) => void
}

/** `name`, then `name[2]`, `name[3]` for repeats: ids stay unique and stable across runs. */
export const uniqueNames = (names: ReadonlyArray<string>): ReadonlyArray<string> => {
  const seen = new Map<string, number>()
  return names.map((n) => {
    const count = (seen.get(n) ?? 0) + 1
    seen.set(n, count)
    return count === 1 ? n : `${n}[${count}]`
  })
}

/** Loads the project, plans the image and builds its task graph; touches no tool and no output. */
export const prepareBuild = (opts: BuildOptions) =>
  Effect.gen(function*() {
    const paths = yield* Paths
    const registry = yield* BackendRegistry
    if (opts.jobs !== undefined && !(Number.isInteger(opts.jobs) && opts.jobs >= 1)) {
      return yield* new BuildError({ reason: "Usage", message: `-j/--jobs ${opts.jobs}: expected a whole number of tasks, at least 1` })
    }
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
    const context = paths.backendContext(project.settings, opts.env, warn)
    const ctx = opts.quiet === true ? { ...context, log: () => undefined } : context
    const requests = project.tools.map(toRequest)
    yield* rejectUnsupported(requests)
    const backends = yield* Effect.forEach(requests, (r) => registry.get(r))
    if (requests.length === 0) warn("engine build: no tools in the toolset — image will have only the base layer")
    if (project.env.bakedCount > 0) {
      warn(
        `engine build: baking ${project.env.bakedCount} [env] var(s) into the image config. These are visible via \`docker inspect\` / \`skopeo inspect\`; do not put secrets in [env] (use [oci.env] only for values safe to ship).`
      )
    }
    for (const copy of plan.copies) {
      warn(
        `engine build: copying host path ${copy.host} into the image at ${copy.image} — review its contents for secrets or credentials before sharing the image`
      )
    }
    const store = yield* openCacheStore(paths.cacheDir)
    const outputDir = NodePath.resolve(opts.cwd, opts.output)
    const now = opts.now ?? (() => new Date())
    const setup: BuildSetup = {
      project,
      plan,
      ctx,
      store,
      verify: opts.verify === true,
      outputDir,
      architecture: paths.imageArch,
      created: createdTimestamp(opts.env.SOURCE_DATE_EPOCH, now, warn),
      now: () => now().getTime(),
      reuse: opts.reuse ?? []
    }
    const toolNames = uniqueNames(requests.map((r) => r.short))
    const pythons = new Map(
      requests.flatMap((r, i) => (isPythonTool(r) ? [[i, toolTasks(setup, project.tools[i]!, r, backends[i]!, toolNames[i]!)] as const] : []))
    )
    const tools = project.tools.map((spec, i) =>
      pythons.get(i) ?? toolTasks(setup, spec, requests[i]!, backends[i]!, toolNames[i]!, isPipxTool(requests[i]!) ? [...pythons.values()] : [])
    )
    const copyIds = uniqueNames(plan.copies.map((c) => `copy-layer:${c.image}`))
    const settings = ociSettings(project.settings)
    const base = plan.base !== undefined
      ? baseImageTask({
        from: plan.from,
        reference: plan.base,
        architecture: paths.imageArch,
        store,
        registry: registryLayer({ insecureRegistries: settings.insecureRegistries, env: opts.env, home: paths.home }),
        log: ctx.log
      })
      : undefined
    const parts: ReadonlyArray<LayerPart> = [
      ...(plan.miseBinary !== undefined ? [{ kind: "mise", task: miseLayerTask(setup, plan.miseBinary) } as const] : []),
      ...tools.map((t) => ({ kind: "tool", task: t.layer, tool: t } as const)),
      ...plan.copies.map((c, j) => ({ kind: "copy", task: copyLayerTask(setup, c, copyIds[j]!), image: c.image } as const)),
      { kind: "config", task: configLayerTask(setup, tools) }
    ]
    const layout = layoutTask(setup, tools, parts, base)
    const graph = yield* taskGraph<BuildTask>(project.root, [
      ...(base !== undefined ? [base] : []),
      ...tools.flatMap((t) => [t.resolve, t.install]),
      ...parts.map((p) => p.task),
      layout
    ])
    const cache = makeActionCache(store, { verify: opts.verify === true })
    const prepared: PreparedBuild = { project, plan, outputDir, graph, tools, parts, base, layout, cache, warnings, warn }
    return prepared
  })

export const tasksSummary = (summary: RunSummary): TasksSummary => ({
  total: summary.total,
  ran: summary.ran,
  cached: summary.cached,
  skipped: summary.skipped,
  failed: summary.failed,
  wallMs: summary.wallMs,
  savedMs: summary.savedMs,
  results: summary.results.map((r) => ({
    task: taskName(r.task),
    id: r.task.id,
    kind: r.task.kind,
    status: r.status,
    ...(r.key !== undefined ? { key: r.key } : {}),
    durationMs: r.durationMs,
    savedMs: r.savedMs
  }))
})

/** What running a graph needs from its preparation: `engine install` prepares one without an image. */
export type PreparedRun = Pick<PreparedBuild, "project" | "graph" | "cache" | "warn"> & { readonly tools: ReadonlyArray<InstallTasks> }

/** The flags `engine build` and `engine install` share; `net` caps installs at once (default 8). */
export type RunFlags =
  & Pick<BuildOptions, "jobs" | "continueOnError" | "force" | "reporter" | "onSummary" | "progress" | "env">
  & { readonly noCache?: boolean; readonly net?: number | undefined }

/** The run's failure as the task's own error, so the CLI prints its message and exit code (4 for an install). */
export const runPrepared = (prepared: PreparedRun, opts: RunFlags, dryRun: boolean) =>
  Effect.flatMap(Paths, (paths) =>
    (dryRun ? Effect.void : preflight(prepared, opts)).pipe(Effect.zipRight(runGraphs([prepared.graph], {
      cpu: opts.jobs ?? paths.cpus,
      ...(opts.net !== undefined ? { net: opts.net } : {}),
      continueOnError: opts.continueOnError === true,
      cache: prepared.cache,
      force: opts.force === true,
      ...(opts.noCache === true ? { bypass: LAYER_KINDS } : {}),
      dryRun,
      ...(opts.reporter !== undefined ? { reporter: opts.reporter } : {}),
      ...(opts.progress !== undefined ? { progress: opts.progress } : {})
    }).pipe(
      Effect.tap((summary) => (dryRun ? Effect.void : opts.onSummary?.(tasksSummary(summary)) ?? Effect.void)),
      Effect.catchTag("RunFailed", (e) =>
        (dryRun ? Effect.void : opts.onSummary?.(tasksSummary(e.summary)) ?? Effect.void).pipe(
          Effect.zipRight(Effect.fail(e.failures[0]?.cause ?? e))
        ))
    )))
  )

/** Every program the tools to install need is on PATH, before the graph installs any of them. */
const preflight = (prepared: PreparedRun, opts: RunFlags) =>
  Effect.gen(function*() {
    const paths = yield* Paths
    const registry = yield* BackendRegistry
    const ctx = paths.backendContext(prepared.project.settings, opts.env, prepared.warn)
    const tools = yield* Effect.forEach(prepared.tools, ({ spec }) =>
      Effect.map(registry.get(toRequest(spec)), (backend) => ({ spec, request: toRequest(spec), backend })))
    // Only a tool whose backend runs a program (cargo, go...) can miss one: the others need no install check here.
    const needing = tools.filter(({ request, backend }) => (backend.requiredCommands?.(request, ctx) ?? []).length > 0)
    yield* checkRequiredCommands(yield* toolsToInstall(prepared.project, needing, ctx), ctx)
  })

const missing = (what: string) =>
  new BuildError({ reason: "Layout", message: `internal: the build finished without a value for ${what}` })

/** `engine build`: mise.toml → OCI image layout on disk, as a task graph over the local cache. */
export const build = (opts: BuildOptions) =>
  Effect.gen(function*() {
    const prepared = yield* prepareBuild(opts)
    const summary = yield* runPrepared(prepared, opts, false)
    return yield* buildResult(prepared, summary)
  })

/** What a finished run of a prepared build made: the layout, its layers, the tasks' summary. */
export const buildResult = (prepared: PreparedBuild, summary: RunSummary) =>
  Effect.gen(function*() {
    const name = prepared.graph.name
    const value = <A>(t: Parameters<typeof valueOf<A>>[2], what: string) =>
      Option.match(valueOf(summary, name, t), { onNone: () => Effect.fail(missing(what)), onSome: Effect.succeed })
    const written = yield* value(prepared.layout, "the layout")
    const layers = yield* Effect.forEach(prepared.parts, (p) =>
      Effect.gen(function*() {
        const layer = yield* value(p.task, p.task.id)
        layer.warnings.forEach(prepared.warn)
        const base = { digest: layer.digest, diffId: layer.diffId, size: layer.size, ...(layer.reused === true ? { reused: true } : {}) }
        switch (p.kind) {
          case "tool": {
            const resolved = yield* value(p.tool.resolve, p.tool.resolve.id)
            return { kind: "tool", ...base, tool: p.tool.spec.short, version: resolved.version } satisfies LayerSummary
          }
          case "copy":
            return { kind: "copy", ...base, image: p.image } satisfies LayerSummary
          default:
            return { kind: p.kind, ...base } satisfies LayerSummary
        }
      }))
    const base = prepared.base !== undefined ? yield* value(prepared.base, prepared.base.id) : undefined
    const baseLayers = (base?.layers ?? []).map((l, i): LayerSummary => ({
      kind: "base",
      digest: l.digest,
      diffId: base?.diffIds[i] ?? l.digest,
      size: l.size
    }))
    const result: BuildResult = {
      outputDir: prepared.outputDir,
      manifestDigest: written.manifestDigest,
      manifestSize: written.manifestSize,
      configDigest: written.configDigest,
      ...(prepared.plan.tag !== undefined ? { tag: prepared.plan.tag } : {}),
      ...(base !== undefined ? { base: { name: base.name, digest: base.manifestDigest } } : {}),
      layers: [...baseLayers, ...layers],
      warnings: prepared.warnings,
      tasks: tasksSummary(summary)
    }
    return result
  })

/** One task as `--dry-run` shows it. */
export interface PlannedTask {
  readonly task: string
  readonly id: string
  readonly kind: string
  /** `hit`: restored from the cache; `run`: would run; `blocked`: would run, its key needs `blockedBy`'s output. */
  readonly status: "hit" | "run" | "blocked"
  readonly key?: string
  /** Why it would run: `Absent` (not cached), `Undecodable` (cached result no longer valid), `Bypassed`, ... */
  readonly miss?: string
  readonly reason?: string
  readonly blockedBy?: string
  /** The tasks it waits for, by name. */
  readonly dependsOn: ReadonlyArray<string>
}

export interface DryRun {
  readonly tasks: ReadonlyArray<PlannedTask>
  readonly hits: number
  readonly runs: number
}

const planned = (graph: TaskGraph<BuildTask>, summary: RunSummary): ReadonlyArray<PlannedTask> => {
  const names = new Map(summary.results.map((r) => [r.task.id, taskName(r.task)]))
  const deps = new Map(graph.tasks.map((t) => [t.id, t.deps.map(([, dep]) => names.get(dep.id) ?? dep.id)]))
  return summary.results.map((r): PlannedTask => ({
    task: taskName(r.task),
    id: r.task.id,
    kind: r.task.kind,
    status: r.status === "cached" || r.status === "deduped" ? "hit" : r.blockedBy !== undefined ? "blocked" : "run",
    ...(r.key !== undefined ? { key: r.key } : {}),
    ...(r.miss !== undefined ? { miss: r.miss._tag, reason: r.miss.detail } : {}),
    ...(r.blockedBy !== undefined ? { blockedBy: taskName(r.blockedBy) } : {}),
    dependsOn: deps.get(r.task.id) ?? []
  }))
}

/** `engine build --dry-run`: every task with its key and whether it would hit; runs only version lookups. */
export const dryRun = (opts: BuildOptions) =>
  Effect.gen(function*() {
    const prepared = yield* prepareBuild(opts)
    const summary = yield* runPrepared(prepared, opts, true)
    return dryRunOf(prepared.graph, summary)
  })

/** A dry run's summary as `--dry-run` prints it. */
export const dryRunOf = (graph: TaskGraph<BuildTask>, summary: RunSummary): DryRun => {
  const tasks = planned(graph, summary)
  return { tasks, hits: tasks.filter((t) => t.status === "hit").length, runs: tasks.filter((t) => t.status !== "hit").length }
}

/** Finds TASK among a prepared build's tasks by id or by the name dry-run printed. */
export const findTask = (summary: RunSummary, name: string) =>
  Either.fromNullable(
    // `id@version` also names a task whose version is not known yet (it waits for an install that would run).
    summary.results.find((r) => r.task.id === name || taskName(r.task) === name || name.startsWith(`${r.task.id}@`)),
    () =>
      new BuildError({
        reason: "Usage",
        message: `no task "${name}" in this build; its tasks are: ${summary.results.map((r) => taskName(r.task)).join(", ")}`
      })
  )

export type { ImagePlan }
