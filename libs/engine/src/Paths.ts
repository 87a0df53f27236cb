import type { BackendContext } from "@engine/backends"
import { Context, Layer } from "effect"
import * as os from "node:os"
import * as NodePath from "node:path"

/** Where things live on this machine, derived once from the environment. */
export interface PathsShape {
  readonly home: string
  /** Installs: ENGINE_DATA_DIR, else MISE_DATA_DIR (so mise's installs are used as they are), else XDG. */
  readonly dataDir: string
  /** Caches and downloads: ENGINE_CACHE_DIR, else XDG. */
  readonly cacheDir: string
  readonly cpus: number
  /** mise's names for the host: `linux`, `x64` | `arm64`. */
  readonly platform: { readonly os: string; readonly arch: string }
  /** OCI names for the image: `amd64` | `arm64`. */
  readonly imageArch: string
  readonly backendContext: (
    settings: Readonly<Record<string, unknown>>,
    env: Readonly<Record<string, string | undefined>>,
    warn: (message: string) => void
  ) => BackendContext
}

export class Paths extends Context.Tag("@engine/engine/Paths")<Paths, PathsShape>() {}

export const makePaths = (env: Readonly<Record<string, string | undefined>>): PathsShape => {
  const home = env.HOME ?? os.homedir()
  const xdgData = env.XDG_DATA_HOME ?? NodePath.join(home, ".local", "share")
  const xdgCache = env.XDG_CACHE_HOME ?? NodePath.join(home, ".cache")
  const dataDir = NodePath.resolve(env.ENGINE_DATA_DIR ?? env.MISE_DATA_DIR ?? NodePath.join(xdgData, "engine"))
  const cacheDir = NodePath.resolve(env.ENGINE_CACHE_DIR ?? NodePath.join(xdgCache, "engine"))
  const arch = process.arch === "arm64" ? "arm64" : "x64"
  const quiet = env.ENGINE_QUIET === "1"
  return {
    home,
    dataDir,
    cacheDir,
    cpus: Math.max(1, os.availableParallelism()),
    platform: { os: "linux", arch },
    imageArch: arch === "arm64" ? "arm64" : "amd64",
    backendContext: (settings, processEnv, warn) => ({
      settings,
      env: processEnv,
      dataDir,
      downloadDir: NodePath.join(cacheDir, "downloads"),
      platform: { os: "linux", arch },
      log: (message) => {
        if (!quiet) process.stderr.write(`${message}\n`)
      },
      warn
    })
  }
}

export const PathsLive = Layer.sync(Paths, () => makePaths(process.env))
