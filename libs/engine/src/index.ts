import { BackendRegistryLive } from "@engine/backends"
import { Layer } from "effect"
import { PathsLive } from "./Paths"

export {
  build,
  type BuildOptions,
  type BuildResult,
  type DryRun,
  dryRun,
  type LayerSummary,
  type PlannedTask,
  type TasksSummary,
  type TaskSummary,
  taskName
} from "./Build"
export { BuildError, InstallError } from "./BuildError"
export { LAYER_FORMAT } from "./BuildTasks"
export { ContainerError, type ContainerRunOptions, type EngineChoice, runContainer } from "./ContainerRun"
export { cacheClear, cacheLs, cachePrune, cacheRoot, cacheStats } from "./CacheAdmin"
export { type CacheEntryInfo, type CacheStats, type PruneResult, trustRememberedDocuments } from "./cache"
export { EXIT, exitCodeOf, messageOf } from "./Errors"
export { explain, type Explanation, type RecordedRun } from "./Explain"
export { formatKeyStructure, type InputChange, type TaskEvent, type TaskRef } from "./graph"
export { imageEnv, rebasePathValue } from "./ImageEnv"
export { install, installDryRun, type InstallOptions, type InstallResult } from "./Install"
export { listBackends } from "./ListBackends"
export { makePaths, Paths, PathsLive } from "./Paths"
export { type LiveTask, makeProgressBoard, type ProgressBoard } from "./Progress"
export { push, type PushOptions, type PushOutcome } from "./Push"
export { synthesizedMiseConfig } from "./Synthesized"
export { ENGINE_VERSION } from "./Version"

/** Everything the engine's commands need besides the platform (FileSystem, Path). */
export const EngineLive = Layer.mergeAll(PathsLive, BackendRegistryLive)
