import {
  type Backend,
  type BackendContext,
  installDir as installDirOf,
  matchVersion,
  type ResolvedTool,
  resolveFromList,
  toolDirName,
  type ToolRequest,
  versionDirName
} from "@engine/backends"
import { Effect, Option } from "effect"
import { existsSync, lstatSync, readdirSync } from "node:fs"
import * as NodePath from "node:path"
import { InstallError } from "./BuildError"
import { lockedVersionFor, type Project, type ToolSpec } from "./config"
import { incompleteMarker, installTool, isInstalled } from "./Installer"

/** The backend's view of a spec; `install_env` travels as `install_env.<KEY>` options (see `withInstallEnv`). */
export const toRequest = (spec: ToolSpec): ToolRequest => ({
  short: spec.short,
  backend: spec.backend,
  name: spec.name,
  version: spec.version,
  options: {
    ...spec.options,
    ...Object.fromEntries(Object.entries(spec.installEnv ?? {}).map(([k, v]) => [`install_env.${k}`, v]))
  }
})

const toolError = (tool: string, message: string, cause?: unknown) => new InstallError({ tool, message, cause })

/** How a version was decided: only `upstream` may have asked the network. */
export type ResolvedVia = "path" | "pin" | "installed" | "upstream"

export interface Resolution {
  readonly tool: ResolvedTool
  readonly dir: string
  /** A `path:` tool: nothing to install. */
  readonly local: boolean
  readonly via: ResolvedVia
}

/**
 * The tools a build may have to install: all but those the project already decides locally (`path:`, a pin or an
 * installed match) and that are installed. A tool resolved upstream is counted, since its version is not known yet.
 */
export const toolsToInstall = (
  project: Project,
  tools: ReadonlyArray<{ readonly spec: ToolSpec; readonly request: ToolRequest; readonly backend: Backend }>,
  ctx: BackendContext
) =>
  Effect.filter(tools, ({ spec, request }) =>
    localResolution(spec, request, project, ctx).pipe(
      Effect.flatMap(Option.match({
        onNone: () => Effect.succeed(true),
        onSome: (r) => (r.local ? Effect.succeed(false) : Effect.map(isInstalled(r.dir), (installed) => !installed))
      })),
      Effect.orElseSucceed(() => true)
    ))

/** Where a tool's install dir lands in the image, e.g. `/mise/installs/http-hello/1.0.0`. */
export const imageRootOf = (mountPoint: string, tool: Pick<ResolvedTool, "short" | "versionDir">): string =>
  `${mountPoint}/installs/${toolDirName(tool.short)}/${tool.versionDir}`

/** A tool's bin dirs and exec env as host paths, from its backend. */
export const describeTool = (backend: Backend, tool: ResolvedTool, dir: string, ctx: BackendContext) =>
  Effect.gen(function*() {
    const binPaths = yield* backend.binPaths(tool, dir, ctx).pipe(Effect.mapError((e) => toolError(tool.short, e.message, e)))
    const execEnv = yield* backend.execEnv(tool, dir, ctx).pipe(Effect.mapError((e) => toolError(tool.short, e.message, e)))
    return { binPaths, execEnv }
  })

/** Installs a resolved tool unless it is a `path:` tool or already installed; true when it installed now. */
export const ensureInstalled = (backend: Backend, resolution: Resolution, ctx: BackendContext) =>
  Effect.gen(function*() {
    if (resolution.local || (yield* isInstalled(resolution.dir))) return false
    yield* installTool(backend, resolution.tool, resolution.dir, ctx)
    return true
  })

/** A host path under `hostRoot` as the image sees it; other paths stay as they are. */
export const rebaseOne = (p: string, hostRoot: string, imageRoot: string): string => {
  const rel = NodePath.relative(hostRoot, p)
  if (rel === "") return imageRoot
  if (rel.startsWith("..") || NodePath.isAbsolute(rel)) return p
  return `${imageRoot}/${rel}`
}

/**
 * What the project decides without asking upstream: a `path:` dir, a lockfile pin, or an installed match.
 * Synchronous (a few stats, a listing only for a prefix): a warm build asks it for every tool.
 */
export const localResolutionNow = (spec: ToolSpec, request: ToolRequest, project: Project, ctx: BackendContext): Option.Option<Resolution> => {
  const version = request.version
  if (version.startsWith("path:")) {
    const dir = NodePath.resolve(project.root, version.slice(5))
    const tool: ResolvedTool = { ...request, resolved: version, versionDir: versionDirName(version) }
    return Option.some<Resolution>({ tool, dir, local: true, via: "path" })
  }
  const pinned = pinnedVersion(spec, project)
  const concrete = pinned ?? installedMatch(toolsDirOf(ctx, request), version)
  if (concrete === undefined) return Option.none<Resolution>()
  return Option.some(concreteResolution(request, concrete, ctx, pinned !== undefined ? "pin" : "installed"))
}

export const localResolution = (spec: ToolSpec, request: ToolRequest, project: Project, ctx: BackendContext) =>
  Effect.sync(() => localResolutionNow(spec, request, project, ctx))

/** The lockfile's version for this tool, if the project has a lockfile that pins it. */
export const pinnedVersion = (spec: ToolSpec, project: Project): string | undefined =>
  project.lock !== undefined ? lockedVersionFor(project.lock, spec)?.version : undefined

/** Lockfile pin, then an installed match, then the backend (which may ask the network). */
export const resolveTool = (backend: Backend, spec: ToolSpec, request: ToolRequest, project: Project, ctx: BackendContext) =>
  Effect.gen(function*() {
    const local = yield* localResolution(spec, request, project, ctx)
    if (Option.isSome(local)) return local.value
    const concrete = yield* upstream(backend, request, ctx)
    return concreteResolution(request, concrete, ctx, "upstream")
  })

const concreteResolution = (request: ToolRequest, concrete: string, ctx: BackendContext, via: ResolvedVia): Resolution => {
  const tool: ResolvedTool = { ...request, resolved: concrete, versionDir: versionDirName(concrete) }
  return { tool, dir: installDirOf(ctx.dataDir, request.short, concrete), local: false, via }
}

const toolsDirOf = (ctx: BackendContext, request: ToolRequest) => NodePath.dirname(installDirOf(ctx.dataDir, request.short, "x"))

/** An installed version's dir: a real dir, not a dot entry or one of mise's alias symlinks (`latest`, `20`). */
const isVersionDir = (dir: string): boolean =>
  !NodePath.basename(dir).startsWith(".") && lstatSync(dir, { throwIfNoEntry: false })?.isDirectory() === true

/** A version dir (lstat) that no install left incomplete: `isInstalled` would only repeat the lstat. */
const isInstalledVersionDir = (dir: string): boolean => isVersionDir(dir) && !existsSync(incompleteMarker(dir))

/** A prefix like `20` is satisfied by an installed 20.x without asking upstream, as mise does. */
const installedMatch = (toolsDir: string, spec: string): string | undefined => {
  if (spec === "latest" || spec.startsWith("ref:")) return undefined
  // A full version installed under its own name wins anyway: the usual pinned spec needs no listing.
  const own = NodePath.join(toolsDir, spec)
  if (NodePath.dirname(own) === toolsDir && isInstalledVersionDir(own)) return spec
  let names: ReadonlyArray<string>
  try {
    names = readdirSync(toolsDir)
  } catch {
    // Nothing installed of this tool (or unreadable): nothing matches locally.
    return undefined
  }
  const candidates = names.filter((name) => isInstalledVersionDir(NodePath.join(toolsDir, name)))
  if (candidates.includes(spec)) return spec
  return Option.getOrUndefined(matchVersion(spec, candidates))
}

const upstream = (backend: Backend, request: ToolRequest, ctx: BackendContext) =>
  (backend.resolveVersion !== undefined
    ? backend.resolveVersion(request, ctx)
    : backend.listVersions(request, ctx).pipe(Effect.flatMap((versions) => resolveFromList(request.version, versions)))
  ).pipe(
    Effect.mapError((e) => toolError(request.short, e.message, e))
  )
