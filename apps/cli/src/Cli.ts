import { Command, ValidationError } from "@effect/cli"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import { ENGINE_VERSION, EngineLive, exitCodeOf, messageOf } from "@engine/engine"
import { Cause, Console, Effect, Exit, Layer, Logger } from "effect"
import { backendsCommand } from "./commands/Backends"
import { buildCommand } from "./commands/Build"
import { cacheCommand } from "./commands/Cache"
import { daemonCommand } from "./commands/Daemon"
import { explainCommand } from "./commands/Explain"
import { installCommand } from "./commands/Install"
import { pushCommand } from "./commands/Push"
import { runCommand } from "./commands/Run"

const engine = Command.make("engine").pipe(
  Command.withDescription("Build OCI images from mise.toml, one layer per tool"),
  Command.withSubcommands([buildCommand, pushCommand, runCommand, installCommand, explainCommand, cacheCommand, backendsCommand, daemonCommand((argv) => cliProgram(argv))])
)

const cli = Command.run(engine, { name: "engine", version: ENGINE_VERSION })

const PlatformLive = Layer.mergeAll(NodeFileSystem.layer, NodePath.layer, NodeTerminal.layer)

/** Log lines (e.g. a damaged cache entry being rebuilt) go to stderr as `warning: ...`, never into stdout's JSON. */
const StderrLogger = Logger.replace(
  Logger.defaultLogger,
  Logger.make(({ logLevel, message }) => {
    const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
    process.stderr.write(`${logLevel._tag === "Warning" ? "warning" : logLevel.label.toLowerCase()}: ${text}\n`)
  })
)

/** `--dry-run=json` (an optional flag value, which @effect/cli has no form for) is `--dry-run --json`. */
const normalizeArgv = (argv: ReadonlyArray<string>): Array<string> =>
  argv.flatMap((arg) => arg === "--dry-run=json" ? ["--dry-run", "--json"] : arg === "--dry-run=text" ? ["--dry-run"] : [arg])

/**
 * The CLI on `argv` (`[node, script, ...args]`): errors are printed and turned into `process.exitCode`, so the effect
 * itself never fails. Run by `runCli` in a process of its own, and by the daemon for a client.
 */
export const cliProgram = (argv: ReadonlyArray<string>): Effect.Effect<void> =>
  cli(normalizeArgv(argv)).pipe(
    Effect.catchAll((error) =>
      Effect.gen(function*() {
        // @effect/cli has already printed usage errors with their help text.
        if (ValidationError.isValidationError(error)) {
          process.exitCode = ValidationError.isHelpRequested(error) ? 0 : 2
          return
        }
        yield* Console.error(`error: ${messageOf(error)}`)
        process.exitCode = exitCodeOf(error)
      })
    ),
    Effect.catchAllDefect((defect) =>
      Effect.gen(function*() {
        yield* Console.error(`internal error (please report): ${Cause.pretty(Cause.die(defect))}`)
        process.exitCode = 70
      })
    ),
    Effect.provide(Layer.mergeAll(PlatformLive, EngineLive.pipe(Layer.provide(PlatformLive)), StderrLogger))
  )

/** Runs the CLI in this process and exits it when the command is done. */
export const runCli = (argv: ReadonlyArray<string>): void => {
  // Interrupted by SIGINT/SIGTERM (finalizers have run: temp files are gone): exit as a shell expects, 128 + SIGINT.
  // Otherwise exit as soon as the command is done (its scopes are closed, stdout/stderr writes are synchronous here):
  // an idle handle left behind (a compression worker, V8 tiering up a wasm module) must not keep `engine` alive.
  NodeRuntime.runMain(cliProgram(argv), {
    disableErrorReporting: true,
    disablePrettyLogger: true,
    teardown: (exit, onExit) => {
      if (Exit.isFailure(exit)) return onExit(Cause.isInterruptedOnly(exit.cause) ? 130 : 1)
      process.exit(typeof process.exitCode === "number" ? process.exitCode : 0)
    }
  })
}
