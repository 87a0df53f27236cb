import { Command, CommandExecutor } from "@effect/platform"
import { Chunk, Data, Effect, Stream } from "effect"
import { constants as fsConstants } from "node:fs"
import * as fsp from "node:fs/promises"
import * as NodePath from "node:path"

export class CommandError extends Data.TaggedError("CommandError")<{
  readonly command: string
  /** Undefined when the process could not be started at all. */
  readonly exitCode?: number
  readonly stderr: string
  readonly message: string
  readonly cause?: unknown
}> {}

export interface CommandOutput {
  readonly stdout: string
  readonly stderr: string
}

export interface RunOptions {
  /** The whole environment of the child (nothing is inherited beyond it). */
  readonly env: Readonly<Record<string, string | undefined>>
  readonly cwd?: string
}

const decode = (chunks: Chunk.Chunk<Uint8Array>) => Buffer.concat(Chunk.toReadonlyArray(chunks)).toString("utf8")

const collect = (stream: Stream.Stream<Uint8Array, unknown>) =>
  Stream.runCollect(stream).pipe(Effect.map(decode), Effect.orElseSucceed(() => ""))

/** The last lines of a process's stderr, enough to explain a failure in one message. */
export const tail = (text: string, lines = 20): string => {
  const all = text.trimEnd().split("\n")
  return (all.length > lines ? ["...", ...all.slice(-lines)] : all).join("\n")
}

/** Run a program to completion, capturing stdout and stderr; a non-zero exit fails with stderr in the error. */
export const run = (
  program: string,
  args: ReadonlyArray<string>,
  options: RunOptions
): Effect.Effect<CommandOutput, CommandError, CommandExecutor.CommandExecutor> => {
  const line = [program, ...args].join(" ")
  const env = Object.fromEntries(Object.entries(options.env).filter((e): e is [string, string] => e[1] !== undefined))
  let command = Command.make(program, ...args).pipe(Command.env(env, { extendEnv: false }))
  if (options.cwd !== undefined) command = Command.workingDirectory(command, options.cwd)
  return Effect.scoped(
    Effect.gen(function*() {
      const process = yield* Command.start(command)
      const [stdout, stderr, exitCode] = yield* Effect.all(
        [collect(process.stdout), collect(process.stderr), process.exitCode],
        { concurrency: 3 }
      )
      if (exitCode !== 0) {
        return yield* new CommandError({
          command: line,
          exitCode,
          stderr,
          message: `\`${line}\` exited with code ${exitCode}${stderr.trim() === "" ? "" : `:\n${tail(stderr)}`}`
        })
      }
      return { stdout, stderr }
    })
  ).pipe(
    Effect.mapError((e) =>
      e._tag === "CommandError"
        ? e
        : new CommandError({ command: line, stderr: "", message: `could not run \`${line}\`: ${e.message}`, cause: e })
    )
  )
}

/** Where `program` resolves on `PATH` (as a shell would), or undefined. */
export const which = (program: string, env: Readonly<Record<string, string | undefined>>): Effect.Effect<string | undefined> =>
  Effect.promise(async () => {
    for (const dir of (env.PATH ?? "").split(NodePath.delimiter)) {
      if (dir === "") continue
      const candidate = NodePath.join(dir, program)
      try {
        const info = await fsp.stat(candidate)
        if (!info.isFile()) continue
        await fsp.access(candidate, fsConstants.X_OK)
        return candidate
      } catch {
        continue
      }
    }
    return undefined
  })

/**
 * The env of a tool's install commands: `env` with the tool's `install_env` option applied (mise's `env_values`:
 * strings and numbers set, `true` is "true", `false` unsets). The backend sets its own vars (GOBIN, PIPX_HOME...) after.
 */
export const withInstallEnv = (
  env: Readonly<Record<string, string | undefined>>,
  options: Readonly<Record<string, string | number | boolean | ReadonlyArray<string>>>
): Readonly<Record<string, string | undefined>> => {
  const out: Record<string, string | undefined> = { ...env }
  for (const [key, value] of Object.entries(options)) {
    if (!key.startsWith("install_env.")) continue
    const name = key.slice("install_env.".length)
    if (value === false) delete out[name]
    else out[name] = Array.isArray(value) ? value.join(",") : String(value)
  }
  return out
}
