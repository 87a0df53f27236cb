import { readLayout, writeDockerArchive } from "@engine/layout"
import { Data, Effect } from "effect"
import { spawn } from "node:child_process"
import { accessSync, constants as fsConstants } from "node:fs"
import { symlink } from "node:fs/promises"
import * as NodePath from "node:path"
import type { Writable } from "node:stream"
import { build, type BuildOptions } from "./Build"
import { BuildError } from "./BuildError"
import { checkImageDir, lowercaseTempDir } from "./Push"

export type EngineChoice = "auto" | "podman" | "docker"

export interface ContainerRunOptions {
  readonly engine: EngineChoice
  readonly interactive: boolean
  readonly tty: boolean
  /** `K=V`, passed as `-e`. */
  readonly env: ReadonlyArray<string>
  /** `HOST:CONTAINER[:opts]`, passed as `-v`. */
  readonly volumes: ReadonlyArray<string>
  readonly workdir?: string | undefined
  /** Keep the container and the loaded image. */
  readonly keep: boolean
  readonly imageDir?: string | undefined
  /** Put before the engine's subcommand on every call (`--root DIR`, `--runtime runc`, …). */
  readonly engineArgs: ReadonlyArray<string>
  readonly command: ReadonlyArray<string>
  /** The build to run when there is no `imageDir`. */
  readonly build: Omit<BuildOptions, "output" | "tag">
  /** Build-only flags given (they conflict with `--image-dir`). */
  readonly buildFlagsGiven: ReadonlyArray<string>
}

/** The container engine could not be found, could not load the image, or could not be started. */
export class ContainerError extends Data.TaggedError("ContainerError")<{
  readonly engine: string
  readonly message: string
}> {}

const onPath = (program: string, env: Readonly<Record<string, string | undefined>>): string | undefined => {
  for (const dir of (env.PATH ?? "").split(":")) {
    if (dir === "") continue
    const candidate = NodePath.join(dir, program)
    try {
      accessSync(candidate, fsConstants.X_OK)
      return candidate
    } catch {
      continue
    }
  }
  return undefined
}

/** `--engine auto` prefers podman, then docker (mise's order and messages). */
export const selectEngine = (choice: EngineChoice, env: Readonly<Record<string, string | undefined>>) => {
  const candidates = choice === "auto" ? ["podman", "docker"] : [choice]
  for (const name of candidates) {
    const path = onPath(name, env)
    if (path !== undefined) return Effect.succeed({ name, path })
  }
  return Effect.fail(
    new ContainerError({
      engine: choice,
      message: choice === "auto"
        ? "no supported container engine found. Install podman or docker."
        : `--engine ${choice} requested but \`${choice}\` was not found on PATH`
    })
  )
}

interface Finished {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs the engine with captured output, optionally feeding stdin from `feed`. */
const capture = (
  program: string,
  args: ReadonlyArray<string>,
  env: Readonly<Record<string, string | undefined>>,
  feed?: (stdin: Writable) => Effect.Effect<void, { readonly message: string }>
) =>
  Effect.async<Finished, ContainerError>((resume) => {
    const child = spawn(program, args, { env, stdio: [feed !== undefined ? "pipe" : "ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout?.setEncoding("utf8").on("data", (d: string) => (stdout += d))
    child.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d))
    child.on("error", (cause) => resume(Effect.fail(new ContainerError({ engine: program, message: `cannot run ${program}: ${cause.message}` }))))
    child.on("close", (code, signal) => resume(Effect.succeed({ code: code ?? 128 + signalNumber(signal), stdout, stderr })))
    if (feed !== undefined && child.stdin !== null) {
      const stdin = child.stdin
      // A load that exits early closes the pipe: its exit status and stderr say why, not the EPIPE.
      stdin.on("error", () => undefined)
      Effect.runFork(feed(stdin).pipe(Effect.catchAll((e) =>
        Effect.sync(() => {
          stderr += `\n${e.message}`
          stdin.destroy()
        })
      )))
    }
    return Effect.sync(() => void child.kill("SIGTERM"))
  })

const signalNumber = (signal: NodeJS.Signals | null): number => {
  const numbers: Readonly<Record<string, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 }
  return signal !== null ? numbers[signal] ?? 1 : 1
}

/** The command itself: the user's terminal is the container's; its exit status is ours. */
const attached = (program: string, args: ReadonlyArray<string>, env: Readonly<Record<string, string | undefined>>) =>
  Effect.async<number, ContainerError>((resume) => {
    const child = spawn(program, args, { env, stdio: "inherit" })
    child.on("error", (cause) => resume(Effect.fail(new ContainerError({ engine: program, message: `cannot run ${program}: ${cause.message}` }))))
    child.on("close", (code, signal) => resume(Effect.succeed(code ?? 128 + signalNumber(signal))))
    return Effect.sync(() => void child.kill("SIGTERM"))
  })

/** podman takes the layout as is (`oci:` transport); the path must be lowercase (mise's bug 1), so a capitalized one goes through a symlink. */
const loadPodman = (engine: { readonly path: string }, layoutDir: string, opts: ContainerRunOptions) =>
  Effect.gen(function*() {
    let dir = layoutDir
    if (/[A-Z]/.test(dir)) {
      const alias = NodePath.join(yield* lowercaseTempDir("engine-run-link"), "image")
      yield* Effect.promise(() => symlink(layoutDir, alias))
      dir = alias
    }
    const r = yield* capture(engine.path, [...opts.engineArgs, "pull", "--quiet", `oci:${dir}`], opts.build.env)
    const id = r.stdout.trim().split("\n").pop()?.trim() ?? ""
    if (r.code !== 0 || id === "") {
      return yield* new ContainerError({ engine: "podman", message: `podman pull failed: exit status ${r.code}: ${r.stderr.trim()}` })
    }
    return id
  })

/** docker has no OCI-layout import: a docker-archive is streamed into `docker load`. */
const loadDocker = (engine: { readonly path: string }, layoutDir: string, opts: ContainerRunOptions) =>
  Effect.gen(function*() {
    const { layout, images } = yield* readLayout(layoutDir)
    const image = images[0]
    if (image === undefined) return yield* new ContainerError({ engine: "docker", message: `${layoutDir}: index.json lists no image manifest` })
    const tempDir = yield* lowercaseTempDir("engine-run-load")
    const repoTag = `engine:run-${process.pid}-${process.hrtime.bigint()}`
    const r = yield* capture(
      engine.path,
      [...opts.engineArgs, "load", "--quiet"],
      opts.build.env,
      (stdin) => writeDockerArchive(image, layout.blobPath, repoTag, tempDir, stdin)
    )
    if (r.code !== 0) {
      return yield* new ContainerError({
        engine: "docker",
        message: `\`docker load\` failed (exit status ${r.code}): ${r.stderr.trim()}. Ensure the docker daemon is running and your user has access to the socket.`
      })
    }
    return repoTag
  })

/**
 * `engine run -- CMD`: builds into a temp dir (or takes `--image-dir`), loads the image into podman or docker,
 * runs CMD in it and removes the image again unless `--keep`. The result is the command's exit status.
 */
export const runContainer = (opts: ContainerRunOptions) =>
  Effect.scoped(
    Effect.gen(function*() {
      if (opts.imageDir !== undefined && opts.buildFlagsGiven[0] !== undefined) {
        return yield* new BuildError({ reason: "Usage", message: `--image-dir cannot be used with ${opts.buildFlagsGiven[0]}: the image is already built` })
      }
      const imageDir = opts.imageDir !== undefined ? yield* checkImageDir(opts.imageDir) : undefined
      const engine = yield* selectEngine(opts.engine, opts.build.env)
      let layoutDir = imageDir
      if (layoutDir === undefined) {
        layoutDir = NodePath.join(yield* lowercaseTempDir("engine-run"), "image")
        yield* build({ ...opts.build, output: layoutDir, tag: "engine:run" })
      }
      const ref = engine.name === "podman" ? yield* loadPodman(engine, layoutDir, opts) : yield* loadDocker(engine, layoutDir, opts)
      const args = [
        ...opts.engineArgs,
        "run",
        ...(opts.keep ? [] : ["--rm"]),
        ...(opts.interactive ? ["-i"] : []),
        ...(opts.tty ? ["-t"] : []),
        ...opts.env.flatMap((e) => ["-e", e]),
        ...opts.volumes.flatMap((v) => ["-v", v]),
        ...(opts.workdir !== undefined ? ["-w", opts.workdir] : []),
        ref,
        ...opts.command
      ]
      const code = yield* attached(engine.path, args, opts.build.env)
      if (!opts.keep) {
        const removed = yield* capture(engine.path, [...opts.engineArgs, "rmi", "--force", ref], opts.build.env).pipe(Effect.either)
        if (removed._tag === "Left" || removed.right.code !== 0) {
          yield* Effect.logDebug(`${engine.name} rmi --force ${ref} failed`)
        }
      }
      return code
    })
  )
