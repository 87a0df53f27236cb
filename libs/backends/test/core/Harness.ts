import {
  type BackendContext,
  type BackendError,
  Downloader,
  layerDownloader,
  makeCoreBackend,
  type ResolvedTool,
  type ToolRequest,
  versionDirName
} from "@engine/backends"
import { Effect, ManagedRuntime } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll } from "vitest"
import { tempDir, testContext, tree } from "../support/Context"
import { startServer, type TestServer } from "../support/Server"

export type TestContext = ReturnType<typeof testContext>

export const sha256Hex = (bytes: Buffer | string): string => createHash("sha256").update(bytes).digest("hex")

export const request = (name: string, version: string): ToolRequest => ({ short: name, backend: "core", name, version, options: {} })

export const resolved = (name: string, version: string): ResolvedTool => ({
  ...request(name, version),
  resolved: version,
  versionDir: versionDirName(version)
})

export interface Installed {
  readonly dir: string
  /** Bin paths relative to the install dir. */
  readonly bins: ReadonlyArray<string>
  /** Exec env with the install dir written as `<install>`. */
  readonly env: ReadonlyArray<readonly [string, string]>
  readonly tree: ReadonlyArray<string>
  readonly ctx: TestContext
}

export interface Harness {
  readonly server: () => TestServer
  readonly root: () => string
  /** A context whose settings and env are exactly these (no host MISE_* or GOBIN leaks in). */
  readonly ctx: (settings?: Record<string, unknown>, env?: Record<string, string>, platform?: BackendContext["platform"]) => TestContext
  readonly versions: (name: string, ctx: TestContext) => Promise<ReadonlyArray<string>>
  readonly resolve: (name: string, spec: string, ctx: TestContext) => Promise<string>
  readonly resolveError: (name: string, spec: string, ctx: TestContext) => Promise<BackendError>
  readonly install: (name: string, version: string, ctx: TestContext) => Promise<Installed>
  readonly installError: (name: string, version: string, ctx: TestContext) => Promise<BackendError>
}

/**
 * One loopback server, one temp dir and one core backend per test file (each call of a test builds its own
 * backend, so no index is remembered between tests).
 */
export const useHarness = (prefix: string): Harness => {
  let server: TestServer | undefined
  let root: string | undefined
  let runtime: ManagedRuntime.ManagedRuntime<Downloader, never> | undefined
  let n = 0

  beforeAll(async () => {
    server = await startServer()
    root = tempDir(`core-${prefix}`)
    runtime = ManagedRuntime.make(layerDownloader({ retries: 0, retryBaseDelayMs: 5 }))
  })
  afterAll(async () => {
    await runtime?.dispose()
    await server?.close()
    if (root !== undefined) fs.rmSync(root, { recursive: true, force: true })
  })

  const rt = () => runtime!
  const backend = () => rt().runPromise(Effect.map(Downloader, makeCoreBackend))
  const freshDir = () => {
    const dir = path.join(root!, `install-${n++}`)
    fs.mkdirSync(dir)
    return dir
  }

  return {
    server: () => server!,
    root: () => root!,
    ctx: (settings = {}, env = {}, platform = { os: "linux", arch: "x64" }) =>
      testContext(root!, { settings, env: { PATH: process.env.PATH, ...env }, platform }),
    versions: async (name, ctx) => rt().runPromise((await backend()).listVersions(request(name, "latest"), ctx)),
    resolve: async (name, spec, ctx) => rt().runPromise((await backend()).resolveVersion!(request(name, spec), ctx)),
    resolveError: async (name, spec, ctx) => rt().runPromise(Effect.flip((await backend()).resolveVersion!(request(name, spec), ctx))),
    install: async (name, version, ctx) => {
      const b = await backend()
      const dir = freshDir()
      const tool = resolved(name, version)
      await rt().runPromise(b.install(tool, dir, ctx))
      const bins = await rt().runPromise(b.binPaths(tool, dir, ctx))
      const env = await rt().runPromise(b.execEnv(tool, dir, ctx))
      return {
        dir,
        bins: bins.map((p) => path.relative(dir, p) || "."),
        env: env.map(([k, v]) => [k, v.replace(dir, "<install>")] as const),
        tree: tree(dir),
        ctx
      }
    },
    installError: async (name, version, ctx) => {
      const b = await backend()
      return rt().runPromise(Effect.flip(b.install(resolved(name, version), freshDir(), ctx)))
    }
  }
}
