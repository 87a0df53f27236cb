import {
  type Backend,
  type BackendContext,
  Downloader,
  type DownloaderShape,
  layerDownloader,
  type ResolvedTool,
  type ToolRequest,
  versionDirName
} from "@engine/backends"
import { Effect, ManagedRuntime } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll } from "vitest"
import { tempDir, testContext, tree } from "./Context"
import { startServer, type TestServer } from "./Server"

export interface Installed {
  readonly dir: string
  readonly tree: ReadonlyArray<string>
  /** Relative to the install dir; `.` for the dir itself. */
  readonly bins: ReadonlyArray<string>
}

/** One loopback server, temp dir and Downloader per test file, and the calls every release-backend test makes. */
export interface ReleaseHarness {
  readonly server: () => TestServer
  /** A fresh backend: nothing cached, so request counts start from zero. */
  readonly backend: () => Promise<Backend>
  /** A context with an empty environment (no token leaks in from the shell running the tests). */
  readonly ctx: (overrides?: Partial<BackendContext>) => BackendContext
  readonly tool: (name: string, version?: string, options?: ToolRequest["options"]) => ToolRequest
  readonly resolved: (tool: ToolRequest, version: string) => ResolvedTool
  readonly run: <A, E>(effect: Effect.Effect<A, E>) => Promise<A>
  readonly flip: <A, E>(effect: Effect.Effect<A, E>) => Promise<E>
  readonly install: (backend: Backend, tool: ResolvedTool, ctx?: BackendContext) => Promise<Installed>
  readonly installError: (backend: Backend, tool: ResolvedTool, ctx?: BackendContext) => Promise<{ readonly message: string; readonly tree: ReadonlyArray<string> }>
}

export const useReleaseHarness = (
  id: string,
  make: (downloader: DownloaderShape) => Backend,
  /** Options every tool gets (the `api_url` pointing at the server). */
  defaults: (server: TestServer) => ToolRequest["options"],
  setup: (server: TestServer) => Promise<void>
): ReleaseHarness => {
  let server: TestServer
  let root = ""
  let runtime: ManagedRuntime.ManagedRuntime<Downloader, never>
  let n = 0

  beforeAll(async () => {
    server = await startServer()
    root = tempDir(id)
    runtime = ManagedRuntime.make(layerDownloader({ retries: 1, retryBaseDelayMs: 5 }))
    await setup(server)
  })
  afterAll(async () => {
    await runtime.dispose()
    await server.close()
    fs.rmSync(root, { recursive: true, force: true })
  })

  const run = <A, E>(effect: Effect.Effect<A, E>) => runtime.runPromise(effect)
  const flip = <A, E>(effect: Effect.Effect<A, E>) => runtime.runPromise(Effect.flip(effect))
  const ctx = (overrides: Partial<BackendContext> = {}) => testContext(root, { env: {}, ...overrides })
  const freshDir = () => {
    const dir = path.join(root, `install-${n++}`)
    fs.mkdirSync(dir)
    return dir
  }

  return {
    server: () => server,
    backend: () => runtime.runPromise(Effect.map(Downloader, make)),
    ctx,
    tool: (name, version = "latest", options = {}) => ({
      short: `${id}:${name}`,
      backend: id,
      name,
      version,
      options: { ...defaults(server), ...options }
    }),
    resolved: (tool, version) => ({ ...tool, resolved: version, versionDir: versionDirName(version) }),
    run,
    flip,
    install: async (backend, tool, c = ctx()) => {
      const dir = freshDir()
      await run(backend.install(tool, dir, c))
      const bins = await run(backend.binPaths(tool, dir, c))
      return { dir, tree: tree(dir), bins: bins.map((p) => path.relative(dir, p) || ".") }
    },
    installError: async (backend, tool, c = ctx()) => {
      const dir = freshDir()
      const e = await flip(backend.install(tool, dir, c))
      return { message: e.message, tree: tree(dir) }
    }
  }
}
