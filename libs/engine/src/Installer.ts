import { FileSystem } from "@effect/platform"
import type { Backend, BackendContext, ResolvedTool } from "@engine/backends"
import { Effect } from "effect"
import * as NodePath from "node:path"
import { InstallError } from "./BuildError"

/**
 * Marker written beside (never inside) a version dir while it is being installed.
 * A dir with a marker is a half install: it is wiped and installed again.
 */
export const incompleteMarker = (installDir: string): string =>
  NodePath.join(NodePath.dirname(installDir), `.engine-incomplete-${NodePath.basename(installDir)}`)

/** Installed means: the dir exists and no install of it was cut short. */
export const isInstalled = (installDir: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const exists = yield* fs.exists(installDir).pipe(Effect.orElseSucceed(() => false))
    if (!exists) return false
    const incomplete = yield* fs.exists(incompleteMarker(installDir)).pipe(Effect.orElseSucceed(() => true))
    return !incomplete
  })

/** Install one tool into its own dir; a failure leaves the marker so the next run starts clean. */
export const installTool = (backend: Backend, tool: ResolvedTool, installDir: string, ctx: BackendContext) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const marker = incompleteMarker(installDir)
    const toolName = `${tool.short}@${tool.resolved}`
    const io = (what: string) => (cause: unknown) =>
      new InstallError({ tool: toolName, message: `${toolName}: ${what}: ${String(cause)}`, cause })
    yield* fs.makeDirectory(NodePath.dirname(installDir), { recursive: true }).pipe(
      Effect.mapError(io(`cannot create ${NodePath.dirname(installDir)}`))
    )
    yield* fs.writeFileString(marker, `${new Date().toISOString()}\n`).pipe(Effect.mapError(io(`cannot write ${marker}`)))
    yield* fs.remove(installDir, { recursive: true, force: true }).pipe(Effect.mapError(io(`cannot clear ${installDir}`)))
    yield* fs.makeDirectory(installDir, { recursive: true }).pipe(Effect.mapError(io(`cannot create ${installDir}`)))
    ctx.log(`installing ${toolName}`)
    yield* backend.install(tool, installDir, ctx).pipe(
      Effect.mapError((e) => new InstallError({ tool: toolName, message: e.message, cause: e }))
    )
    yield* fs.remove(marker).pipe(Effect.mapError(io(`cannot remove ${marker}`)))
  })
