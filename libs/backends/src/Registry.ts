import { CommandExecutor } from "@effect/platform"
import * as NodeCommandExecutor from "@effect/platform-node/NodeCommandExecutor"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { Effect, Layer } from "effect"
import { aquaInfo, makeAquaBackend } from "./Aqua"
import { type Backend, BackendError, type BackendInfo, BackendRegistry, type ToolRequest } from "./Backend"
import { cargoInfo, makeCargoBackend } from "./Cargo"
import { condaInfo, makeCondaBackend } from "./Conda"
import { coreInfo, makeCoreBackend } from "./core"
import { Downloader, DownloaderLive } from "./Downloader"
import { dotnetInfo, makeDotnetBackend } from "./Dotnet"
import { forgejoInfo, makeForgejoBackend } from "./Forgejo"
import { gemInfo, makeGemBackend } from "./Gem"
import { githubInfo, makeGitHubBackend } from "./GitHub"
import { gitlabInfo, makeGitLabBackend } from "./GitLab"
import { goModuleInfo, makeGoModuleBackend } from "./GoModule"
import { httpInfo, makeHttpBackend } from "./Http"
import { makeNpmBackend, npmInfo } from "./Npm"
import { makePipxBackend, pipxInfo } from "./Pipx"
import { makeS3Backend, s3Info } from "./S3"
import { makeSpmBackend, spmInfo } from "./Spm"
import { makeUbiBackend, ubiInfo } from "./Ubi"

/** The built-in backends as `engine backends` lists them (no services needed). */
export const builtinBackends: ReadonlyArray<BackendInfo> = [
  httpInfo,
  npmInfo,
  coreInfo,
  githubInfo,
  gitlabInfo,
  forgejoInfo,
  ubiInfo,
  aquaInfo,
  s3Info,
  cargoInfo,
  goModuleInfo,
  gemInfo,
  pipxInfo,
  condaInfo,
  dotnetInfo,
  spmInfo
]

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

const makeRegistry = (backends: ReadonlyArray<Backend>): BackendRegistry["Type"] => {
  const byId = new Map(backends.map((b) => [b.id, b]))
  return {
    get: (tool) => {
      if (UNSUPPORTED.has(tool.backend)) {
        return Effect.fail(new BackendError({ tool: tool.short, message: unsupportedMessage([tool.short]) }))
      }
      const backend = byId.get(tool.backend)
      return backend !== undefined
        ? Effect.succeed(backend)
        : Effect.fail(
          new BackendError({
            tool: tool.short,
            message: `${tool.short}: unknown backend "${tool.backend}" (known backends: ${Array.from(byId.keys()).join(", ")})`
          })
        )
    },
    list: () => Array.from(byId.values())
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
      return makeRegistry([
        makeHttpBackend(downloader),
        makeNpmBackend(downloader, executor),
        makeCoreBackend(downloader),
        makeGitHubBackend(downloader),
        makeGitLabBackend(downloader),
        makeForgejoBackend(downloader),
        makeUbiBackend(downloader),
        makeAquaBackend(downloader),
        makeS3Backend(),
        makeCargoBackend(downloader, executor),
        makeGoModuleBackend(downloader, executor),
        makeGemBackend(downloader, executor),
        makePipxBackend(downloader, executor),
        makeCondaBackend(downloader),
        makeDotnetBackend(downloader, executor),
        makeSpmBackend(downloader, executor),
        ...extra
      ])
    })
  )

const Services = Layer.merge(DownloaderLive, NodeCommandExecutor.layer.pipe(Layer.provide(NodeFileSystem.layer)))

/** `backendRegistryLayer(extra)` with the default Downloader and Node's CommandExecutor: needs nothing. */
export const makeBackendRegistry = (extra: ReadonlyArray<Backend> = []): Layer.Layer<BackendRegistry> =>
  backendRegistryLayer(extra).pipe(Layer.provide(Services))

export const BackendRegistryLive: Layer.Layer<BackendRegistry> = makeBackendRegistry()
