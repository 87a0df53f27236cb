import { FileSystem } from "@effect/platform"
import {
  type Backend,
  type BackendContext,
  BackendRegistry,
  installDir as installDirOf,
  rejectUnsupported,
  type ResolvedTool,
  resolveFromList,
  toolDirName,
  type ToolRequest,
  versionDirName
} from "@engine/backends"
import { Effect } from "effect"
import * as NodePath from "node:path"
import { BuildError, InstallError } from "./BuildError"
import { lockedVersionFor, type Project, type ToolSpec } from "./config"
import { installTool, isInstalled } from "./Installer"

/** A tool that is resolved, installed and described: all a layer needs. */
export interface ReadyTool {
  readonly request: ToolRequest
  readonly resolved: ResolvedTool
  readonly backend: Backend
  readonly installDir: string
  /** e.g. `/mise/installs/http-hello/1.0.0` */
  readonly imageRoot: string
  readonly imageBinPaths: ReadonlyArray<string>
  readonly execEnv: ReadonlyArray<readonly [string, string]>
  /** True when this run installed it. */
  readonly installedNow: boolean
}

export const toRequest = (spec: ToolSpec): ToolRequest => ({
  short: spec.short,
  backend: spec.backend,
  name: spec.name,
  version: spec.version,
  options: spec.options
})

const toolError = (tool: string, message: string, cause?: unknown) => new InstallError({ tool, message, cause })

/**
 * Resolves every tool's version (lockfile pin, then an installed match, then upstream), installs what is
 * missing when asked to, and reads bin paths and exec env. Nothing is installed unless every tool resolved.
 */
export const prepareTools = (project: Project, ctx: BackendContext, opts: { readonly install: boolean; readonly mountPoint?: string }) =>
  Effect.gen(function*() {
    const registry = yield* BackendRegistry
    const requests = project.tools.map(toRequest)
    yield* rejectUnsupported(requests)
    const backends = yield* Effect.forEach(requests, (r) => registry.get(r))
    const resolved = yield* Effect.forEach(
      requests,
      (request, i) => resolveTool(backends[i]!, project.tools[i]!, request, project, ctx),
      { concurrency: 8 }
    )
    const mountPoint = opts.mountPoint ?? "/mise"
    return yield* Effect.forEach(
      resolved,
      ({ tool, dir, local }, i) =>
        Effect.gen(function*() {
          const backend = backends[i]!
          const installed = local || (yield* isInstalled(dir))
          if (!installed && !opts.install) {
            return yield* new BuildError({
              reason: "NotInstalled",
              message: `${tool.short}@${tool.resolved} install path does not exist: ${dir}. Run \`engine install\` first.`
            })
          }
          if (!installed) yield* installTool(backend, tool, dir, ctx)
          const imageRoot = `${mountPoint}/installs/${toolDirName(tool.short)}/${tool.versionDir}`
          const bins = yield* backend.binPaths(tool, dir, ctx).pipe(
            Effect.mapError((e) => toolError(tool.short, e.message, e))
          )
          const env = yield* backend.execEnv(tool, dir, ctx).pipe(Effect.mapError((e) => toolError(tool.short, e.message, e)))
          const ready: ReadyTool = {
            request: tool,
            resolved: tool,
            backend,
            installDir: dir,
            imageRoot,
            imageBinPaths: bins.map((b) => rebaseOne(b, dir, imageRoot)),
            execEnv: env,
            installedNow: !installed
          }
          return ready
        }),
      { concurrency: 4 }
    )
  })

const rebaseOne = (p: string, hostRoot: string, imageRoot: string): string => {
  const rel = NodePath.relative(hostRoot, p)
  if (rel === "") return imageRoot
  if (rel.startsWith("..") || NodePath.isAbsolute(rel)) return p
  return `${imageRoot}/${rel}`
}

const resolveTool = (backend: Backend, spec_: ToolSpec, request: ToolRequest, project: Project, ctx: BackendContext) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const spec = request.version
    if (spec.startsWith("path:")) {
      const dir = NodePath.resolve(project.root, spec.slice(5))
      const tool: ResolvedTool = { ...request, resolved: spec, versionDir: versionDirName(spec) }
      return { tool, dir, local: true }
    }
    const locked = project.lock !== undefined ? lockedVersionFor(project.lock, spec_)?.version : undefined
    const toolsDir = NodePath.dirname(installDirOf(ctx.dataDir, request.short, "x"))
    const concrete = locked ?? (yield* installedMatch(fs, toolsDir, spec)) ?? (yield* upstream(backend, request, ctx))
    const tool: ResolvedTool = { ...request, resolved: concrete, versionDir: versionDirName(concrete) }
    return { tool, dir: installDirOf(ctx.dataDir, request.short, concrete), local: false }
  })

/** A prefix like `20` is satisfied by an installed 20.x without asking upstream, as mise does. */
const installedMatch = (fs: FileSystem.FileSystem, toolsDir: string, spec: string) =>
  Effect.gen(function*() {
    if (spec === "latest" || spec.startsWith("ref:")) return undefined
    const names = yield* fs.readDirectory(toolsDir).pipe(Effect.orElseSucceed((): Array<string> => []))
    const candidates: Array<string> = []
    for (const name of names) {
      if (name.startsWith(".")) continue
      const dir = NodePath.join(toolsDir, name)
      // mise's alias symlinks (`latest`, `20`) are not versions.
      const isLink = yield* fs.readLink(dir).pipe(Effect.as(true), Effect.orElseSucceed(() => false))
      if (isLink) continue
      const info = yield* fs.stat(dir).pipe(Effect.option)
      if (info._tag === "None" || info.value.type !== "Directory") continue
      if (!(yield* isInstalled(dir))) continue
      candidates.push(name)
    }
    if (candidates.includes(spec)) return spec
    const match = yield* resolveFromList(spec, candidates).pipe(Effect.option)
    return match._tag === "Some" ? match.value : undefined
  })

const upstream = (backend: Backend, request: ToolRequest, ctx: BackendContext) =>
  (backend.resolveVersion !== undefined
    ? backend.resolveVersion(request, ctx)
    : backend.listVersions(request, ctx).pipe(Effect.flatMap((versions) => resolveFromList(request.version, versions)))
  ).pipe(
    Effect.mapError((e) => toolError(request.short, e.message, e))
  )
