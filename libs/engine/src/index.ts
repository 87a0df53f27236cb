import { BackendRegistryLive } from "@engine/backends"
import { Layer } from "effect"
import { PathsLive } from "./Paths"

export { build, type BuildOptions, type BuildResult, type LayerSummary } from "./Build"
export { BuildError, InstallError } from "./BuildError"
export { EXIT, exitCodeOf, messageOf } from "./Errors"
export { imageEnv, rebasePathValue } from "./ImageEnv"
export { install, type InstallOptions, type InstallResult } from "./Install"
export { listBackends } from "./ListBackends"
export { makePaths, Paths, PathsLive } from "./Paths"
export { synthesizedMiseConfig } from "./Synthesized"
export { ENGINE_VERSION } from "./Version"

/** Everything the engine's commands need besides the platform (FileSystem, Path). */
export const EngineLive = Layer.mergeAll(PathsLive, BackendRegistryLive)
