import { CommandExecutor } from "@effect/platform"
import * as NodeCommandExecutor from "@effect/platform-node/NodeCommandExecutor"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { Effect, Layer } from "effect"
import { type Backend, BackendError, type BackendInfo, BackendRegistry, type ToolRequest } from "./Backend"
import { Downloader, DownloaderLive, type DownloaderShape } from "./Downloader"

interface Services {
  readonly downloader: DownloaderShape
  readonly executor: CommandExecutor.CommandExecutor
}

/**
 * Each built-in backend's module, imported on first use: a build evaluates only the backends its tools name
 * (their module-level Schemas included), not all sixteen. In `engine backends` order.
 */
const BUILTIN: ReadonlyArray<readonly [string, (s: Services) => Promise<Backend>]> = [
  ["http", (s) => import("./Http").then((m) => m.makeHttpBackend(s.downloader))],
  ["npm", (s) => import("./Npm").then((m) => m.makeNpmBackend(s.downloader, s.executor))],
  ["core", (s) => import("./core").then((m) => m.makeCoreBackend(s.downloader))],
  ["github", (s) => import("./GitHub").then((m) => m.makeGitHubBackend(s.downloader))],
  ["gitlab", (s) => import("./GitLab").then((m) => m.makeGitLabBackend(s.downloader))],
  ["forgejo", (s) => import("./Forgejo").then((m) => m.makeForgejoBackend(s.downloader))],
  ["ubi", (s) => import("./Ubi").then((m) => m.makeUbiBackend(s.downloader))],
  ["aqua", (s) => import("./Aqua").then((m) => m.makeAquaBackend(s.downloader))],
  ["s3", () => import("./S3").then((m) => m.makeS3Backend())],
  ["cargo", (s) => import("./Cargo").then((m) => m.makeCargoBackend(s.downloader, s.executor))],
  ["go", (s) => import("./GoModule").then((m) => m.makeGoModuleBackend(s.downloader, s.executor))],
  ["gem", (s) => import("./Gem").then((m) => m.makeGemBackend(s.downloader, s.executor))],
  ["pipx", (s) => import("./Pipx").then((m) => m.makePipxBackend(s.downloader, s.executor))],
  ["conda", (s) => import("./Conda").then((m) => m.makeCondaBackend(s.downloader))],
  ["dotnet", (s) => import("./Dotnet").then((m) => m.makeDotnetBackend(s.downloader, s.executor))],
  ["spm", (s) => import("./Spm").then((m) => m.makeSpmBackend(s.downloader, s.executor))]
]

/** The built-in backends' infos, loaded on demand: start-up evaluates no backend module for a command that lists none. */
export const loadBuiltinBackends: Effect.Effect<ReadonlyArray<BackendInfo>> = Effect.promise(() =>
  import("./Builtins").then((m) => m.builtinBackends)
)

const UNSUPPORTED = new Set(["asdf", "vfox"])

const unsupportedMessage = (shorts: ReadonlyArray<string>) =>
  "engine does not support asdf/vfox plugins (their install scripts can write outside the per-version directory, " +
  `breaking the one-layer-per-tool invariant). Affected tools: ${shorts.join(", ")}`

/** Fails, naming every asdf/vfox tool at once, if the toolset has any. */
export const rejectUnsupported = (tools: ReadonlyArray<ToolRequest>): Effect.Effect<void, BackendError> => {
  const shorts = tools.filter((t) => UNSUPPORTED.has(t.backend)).map((t) => t.short)
  return shorts.length === 0
    ? Effect.void
    : Effect.fail(new BackendError({ tool: shorts.join(", "), message: unsupportedMessage(shorts) }))
}

const makeRegistry = (services: Services, extra: ReadonlyArray<Backend>): BackendRegistry["Type"] => {
  const own = new Map(extra.map((b) => [b.id, b]))
  const builtin = new Map(BUILTIN.filter(([id]) => !own.has(id)))
  const ids = [...new Set([...BUILTIN.map(([id]) => id), ...own.keys()])]
  const loaded = new Map<string, Promise<Backend>>()
  const load = (id: string, make: (s: Services) => Promise<Backend>) => {
    const backend = loaded.get(id) ?? make(services)
    loaded.set(id, backend)
    return backend
  }
  return {
    get: (tool) => {
      if (UNSUPPORTED.has(tool.backend)) {
        return Effect.fail(new BackendError({ tool: tool.short, message: unsupportedMessage([tool.short]) }))
      }
      const backend = own.get(tool.backend)
      if (backend !== undefined) return Effect.succeed(backend)
      const make = builtin.get(tool.backend)
      return make !== undefined
        ? Effect.promise(() => load(tool.backend, make))
        : Effect.fail(
          new BackendError({
            tool: tool.short,
            message: `${tool.short}: unknown backend "${tool.backend}" (known backends: ${ids.join(", ")})`
          })
        )
    },
    ids: () => ids
  }
}

/**
 * The registry over the built-in backends plus `extra` ones (a user's own backend objects; one with the id of a
 * built-in replaces it). Needs a Downloader and a CommandExecutor.
 */
export const backendRegistryLayer = (
  extra: ReadonlyArray<Backend> = []
): Layer.Layer<BackendRegistry, never, Downloader | CommandExecutor.CommandExecutor> =>
  Layer.effect(
    BackendRegistry,
    Effect.gen(function*() {
      const downloader = yield* Downloader
      const executor = yield* CommandExecutor.CommandExecutor
      return makeRegistry({ downloader, executor }, extra)
    })
  )

const Platform = Layer.merge(DownloaderLive, NodeCommandExecutor.layer.pipe(Layer.provide(NodeFileSystem.layer)))

/** `backendRegistryLayer(extra)` with the default Downloader and Node's CommandExecutor: needs nothing. */
export const makeBackendRegistry = (extra: ReadonlyArray<Backend> = []): Layer.Layer<BackendRegistry> =>
  backendRegistryLayer(extra).pipe(Layer.provide(Platform))

export const BackendRegistryLive: Layer.Layer<BackendRegistry> = makeBackendRegistry()
