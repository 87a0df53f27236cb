import { type Backend, BackendRegistry, rejectUnsupported } from "@engine/backends"
import { Effect, Option } from "effect"
import * as NodePath from "node:path"
import { BuildError } from "./BuildError"
import {
  type BuildTask,
  type DryRun,
  dryRunOf,
  type PreparedRun,
  type RunFlags,
  runPrepared,
  type TasksSummary,
  tasksSummary,
  uniqueNames
} from "./Build"
import { installTasks } from "./BuildTasks"
import { makeActionCache, openCacheStore } from "./cache"
import { loadProject } from "./config"
import { taskGraph, valueOf } from "./graph"
import { Paths } from "./Paths"
import { toRequest } from "./Toolset"

export interface InstallOptions extends RunFlags {
  readonly cwd: string
  readonly includeGlobal: boolean
  /** No backend chatter (`installing x`, download lines) on stderr. */
  readonly quiet?: boolean
}

export interface InstallResult {
  readonly tools: ReadonlyArray<{ tool: string; version: string; installDir: string; installed: boolean }>
  readonly tasks: TasksSummary
}

/**
 * The resolve and install tasks of `engine build`, with the same ids, keys and cache, and nothing else: a later
 * build finds them done, and an install of installed tools is a run of cache hits.
 */
const prepareInstall = (opts: InstallOptions) =>
  Effect.gen(function*() {
    const paths = yield* Paths
    const registry = yield* BackendRegistry
    if (opts.jobs !== undefined && !(Number.isInteger(opts.jobs) && opts.jobs >= 1)) {
      return yield* new BuildError({ reason: "Usage", message: `-j/--jobs ${opts.jobs}: expected a whole number of tasks, at least 1` })
    }
    const warn = (message: string) => void process.stderr.write(`warning: ${message}\n`)
    const project = yield* loadProject({
      cwd: NodePath.resolve(opts.cwd),
      env: opts.env,
      home: paths.home,
      includeGlobal: opts.includeGlobal
    })
    const context = paths.backendContext(project.settings, opts.env, warn)
    const ctx = opts.quiet === true ? { ...context, log: () => undefined } : context
    const requests = project.tools.map(toRequest)
    yield* rejectUnsupported(requests)
    const backends = yield* Effect.forEach(requests, (r) => registry.get(r))
    // A task that runs may find the tool installed by mise or another engine: only the backend knows it installed.
    const installedNow = new Set<string>()
    const watched = backends.map((backend): Backend => ({
      ...backend,
      install: (tool, dir, c) => Effect.zipRight(Effect.sync(() => installedNow.add(dir)), backend.install(tool, dir, c))
    }))
    const store = yield* openCacheStore(paths.cacheDir)
    const setup = { project, ctx, now: () => Date.now() }
    const names = uniqueNames(requests.map((r) => r.short))
    const tools = project.tools.map((spec, i) => installTasks(setup, spec, requests[i]!, watched[i]!, names[i]!))
    const graph = yield* taskGraph<BuildTask>(project.root, tools.flatMap((t) => [t.resolve, t.install]))
    const prepared: PreparedRun = { project, graph, tools, cache: makeActionCache(store, { verify: false }), warn }
    return { prepared, installedNow }
  })

const flags = (opts: InstallOptions): RunFlags => ({ ...opts, net: opts.jobs })

/** `engine install`: resolve and install the project's tools through the build's task graph, nothing else. */
export const install = (opts: InstallOptions) =>
  Effect.gen(function*() {
    const { prepared, installedNow } = yield* prepareInstall(opts)
    const summary = yield* runPrepared(prepared, flags(opts), false)
    const name = prepared.graph.name
    const tools = yield* Effect.forEach(prepared.tools, (t) =>
      Option.match(Option.all([valueOf(summary, name, t.resolve), valueOf(summary, name, t.install)]), {
        onNone: () =>
          Effect.fail(new BuildError({ reason: "Layout", message: `internal: the install finished without a value for ${t.install.id}` })),
        onSome: ([resolved, installed]) =>
          Effect.succeed({
            tool: t.spec.short,
            version: resolved.version,
            installDir: installed.installDir,
            installed: installedNow.has(installed.installDir)
          })
      }))
    const result: InstallResult = { tools, tasks: tasksSummary(summary) }
    return result
  })

/** `engine install --dry-run`: every resolve and install task with its key and whether it would hit. */
export const installDryRun = (opts: InstallOptions) =>
  Effect.gen(function*() {
    const { prepared } = yield* prepareInstall(opts)
    const summary = yield* runPrepared(prepared, flags(opts), true)
    const plan: DryRun = dryRunOf(prepared.graph, summary)
    return plan
  })
