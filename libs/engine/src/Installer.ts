import { FileSystem } from "@effect/platform"
import { type Backend, type BackendContext, type ResolvedTool, withInstallEnv } from "@engine/backends"
import { Effect } from "effect"
import { existsSync } from "node:fs"
import { open, readFile, rm } from "node:fs/promises"
import * as NodePath from "node:path"
import { InstallError } from "./BuildError"

/**
 * Marker written beside (never inside) a version dir while it is being installed.
 * A dir with a marker is a half install: it is wiped and installed again.
 */
export const incompleteMarker = (installDir: string): string =>
  NodePath.join(NodePath.dirname(installDir), `.engine-incomplete-${NodePath.basename(installDir)}`)

/**
 * Installed means: the dir exists and no install of it was cut short. Two synchronous stats: a warm build
 * asks this for every tool, and thread-pool round trips cost more than the syscalls.
 */
export const isInstalledNow = (installDir: string): boolean => existsSync(installDir) && !existsSync(incompleteMarker(installDir))

export const isInstalled = (installDir: string) => Effect.sync(() => isInstalledNow(installDir))

/** Lock file beside the version dir while one process installs it; holds that process's pid. */
export const installLock = (installDir: string): string =>
  NodePath.join(NodePath.dirname(installDir), `.engine-lock-${NodePath.basename(installDir)}`)

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (cause) {
    // EPERM: it exists but belongs to someone else.
    return typeof cause === "object" && cause !== null && "code" in cause && cause.code === "EPERM"
  }
}

/** Creates the lock file (true), or finds it held by a live process (false); a dead holder's lock is taken over. */
const tryLock = (lock: string, toolName: string) =>
  Effect.tryPromise({
    try: async () => {
      try {
        const fh = await open(lock, "wx")
        await fh.writeFile(String(process.pid)).finally(() => fh.close())
        return true
      } catch (cause) {
        if (!(typeof cause === "object" && cause !== null && "code" in cause && cause.code === "EEXIST")) throw cause
      }
      const holder = Number((await readFile(lock, "utf8").catch(() => "")).trim())
      // An empty file is a lock being written right now; only a named, dead holder is stale.
      if (Number.isInteger(holder) && holder > 0 && !isAlive(holder)) await rm(lock, { force: true })
      return false
    },
    catch: (cause) => new InstallError({ tool: toolName, message: `${toolName}: cannot create the install lock ${lock}: ${String(cause)}`, cause })
  })

/**
 * Runs `install` holding a per-version lock, so concurrent engine processes sharing a data dir install each
 * tool once: the others wait, then find it installed.
 */
const withInstallLock = <A, E, R>(installDir: string, toolName: string, log: (m: string) => void, install: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const lock = installLock(installDir)
    for (let attempt = 0; !(yield* tryLock(lock, toolName)); attempt++) {
      if (attempt === 0) log(`${toolName}: waiting for another engine process that is installing it`)
      yield* Effect.sleep("100 millis")
    }
    return yield* install.pipe(Effect.ensuring(Effect.promise(() => rm(lock, { force: true }).catch(() => undefined))))
  })

/** Install one tool into its own dir; a failure leaves the marker so the next run starts clean. */
export const installTool = (backend: Backend, tool: ResolvedTool, installDir: string, ctx: BackendContext) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const toolName = `${tool.short}@${tool.resolved}`
    const io = (what: string) => (cause: unknown) =>
      new InstallError({ tool: toolName, message: `${toolName}: ${what}: ${String(cause)}`, cause })
    yield* fs.makeDirectory(NodePath.dirname(installDir), { recursive: true }).pipe(
      Effect.mapError(io(`cannot create ${NodePath.dirname(installDir)}`))
    )
    yield* withInstallLock(
      installDir,
      toolName,
      ctx.log,
      Effect.gen(function*() {
        // Another process may have finished it while this one waited for the lock.
        if (yield* isInstalled(installDir)) return
        const marker = incompleteMarker(installDir)
        yield* fs.writeFileString(marker, `${new Date().toISOString()}\n`).pipe(Effect.mapError(io(`cannot write ${marker}`)))
        yield* fs.remove(installDir, { recursive: true, force: true }).pipe(Effect.mapError(io(`cannot clear ${installDir}`)))
        yield* fs.makeDirectory(installDir, { recursive: true }).pipe(Effect.mapError(io(`cannot create ${installDir}`)))
        ctx.log(`installing ${toolName}`)
        // The tool's `install_env` option reaches whatever the backend runs (npm, cargo, go, gem, uv/pipx...).
        yield* backend.install(tool, installDir, { ...ctx, env: withInstallEnv(ctx.env, tool.options) }).pipe(
          Effect.mapError((e) => new InstallError({ tool: toolName, message: e.message, cause: e }))
        )
        yield* fs.remove(marker).pipe(Effect.mapError(io(`cannot remove ${marker}`)))
      })
    )
  })
