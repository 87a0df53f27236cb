import { Command } from "@effect/cli"
import { trustRememberedDocuments } from "@engine/engine"
import { Console, Effect } from "effect"
import * as path from "node:path"
import { exchange, locate, startDaemon } from "../daemon/Client"
import { socketPathProblem } from "../daemon/Location"
import { DaemonError, ensurePrivateDir, serve } from "../daemon/Server"
import { json } from "../Shared"

const HOUR = 60 * 60 * 1000

/** The launcher this process was started by (`bin/engine.cjs`): daemon commands never run inside the daemon. */
const launcher = () => path.resolve(process.argv[1] ?? "engine")
const distDir = () => path.resolve(path.dirname(launcher()), "..", "dist")

const located = Effect.try({
  try: () => locate(distDir()),
  catch: (e) => new DaemonError({ message: `cannot find this engine's build id in ${distDir()}: ${String(e)} (run npm run build)` })
})

interface Status {
  readonly pid: number
  readonly buildId: string
  readonly uptimeMs: number
  readonly served: number
  readonly busy: boolean
  readonly socket: string
}

const ping = (socket: string) =>
  Effect.promise(async () => {
    let status: Status | undefined
    const outcome = await exchange(socket, { kind: "ping" }, (text) => (status = JSON.parse(text) as Status))
    return outcome.kind === "exit" ? status : undefined
  })

const serveCommand = (run: (argv: ReadonlyArray<string>) => Effect.Effect<void>) =>
  Command.make("serve", {}, () =>
    Effect.gen(function*() {
      const where = yield* located
      // Each command runs in its client's directory and comes back here: "/" never goes away under the daemon.
      process.chdir("/")
      // Cache documents this process read or wrote are taken from memory until the cache's generation changes.
      trustRememberedDocuments(true)
      const idle = Number(process.env.ENGINE_DAEMON_IDLE_MS ?? "")
      yield* serve({ ...where, idleMs: Number.isFinite(idle) && idle > 0 ? idle : 3 * HOUR, run })
    })).pipe(Command.withDescription("Run the daemon in the foreground (clients start it in the background by themselves)"))

const statusCommand = Command.make("status", { json }, (o) =>
  Effect.gen(function*() {
    const where = yield* located
    const status = yield* ping(where.socket)
    if (o.json) yield* Console.log(JSON.stringify(status ?? { running: false, socket: where.socket }))
    else if (status === undefined) yield* Console.log(`no daemon running for build ${where.buildId} (${where.socket})`)
    else {
      yield* Console.log(
        `daemon running: pid ${status.pid}, build ${status.buildId}, up ${Math.round(status.uptimeMs / 1000)} s, ` +
          `${status.served} command(s) served${status.busy ? ", busy" : ""}, socket ${status.socket}`
      )
    }
    if (status === undefined) process.exitCode = 1
  })).pipe(Command.withDescription("Say whether this build's daemon is running (exit 1 when it is not)"))

const startCommand = Command.make("start", {}, () =>
  Effect.gen(function*() {
    const where = yield* located
    let status = yield* ping(where.socket)
    if (status === undefined) {
      // A folder the daemon would refuse is said at once, not after waiting for a daemon that cannot come.
      yield* Effect.try({
        try: () => ensurePrivateDir(where.dir),
        catch: (e) => (e instanceof DaemonError ? e : new DaemonError({ message: `cannot use ${where.dir} for the daemon's socket: ${String(e)}` }))
      })
      const problem = socketPathProblem(where.socket)
      if (problem !== undefined) return yield* new DaemonError({ message: problem })
      const child = startDaemon(launcher(), where.dir, where.socket)
      let exited: string | undefined
      child?.once("exit", (code, signal) => (exited = signal !== null ? `signal ${signal}` : `code ${code}`))
      for (let i = 0; i < 100 && status === undefined && exited === undefined; i++) {
        yield* Effect.sleep("100 millis")
        status = yield* ping(where.socket)
      }
      // It may have lost the race for the socket to another daemon starting at the same time.
      if (status === undefined && exited !== undefined) status = yield* ping(where.socket)
      if (status === undefined) {
        return yield* new DaemonError({
          message: exited !== undefined
            ? `the daemon did not start: \`engine daemon serve\` exited with ${exited} (socket ${where.socket}); run it in the foreground to see why`
            : `the daemon did not start within 10 s (socket ${where.socket}); try engine daemon serve`
        })
      }
    }
    yield* Console.log(`daemon running: pid ${status.pid}, socket ${status.socket}`)
  })).pipe(Command.withDescription("Start this build's daemon in the background"))

const stopCommand = Command.make("stop", {}, () =>
  Effect.gen(function*() {
    const where = yield* located
    let said = ""
    const outcome = yield* Effect.promise(() => exchange(where.socket, { kind: "stop" }, (text) => (said = text)))
    yield* Console.log(outcome.kind === "exit" ? said : `no daemon running for build ${where.buildId}`)
  })).pipe(Command.withDescription("Stop this build's daemon"))

/**
 * `engine daemon`: the resident process that runs commands for `engine` clients (see daemon/Server.ts).
 * `run` is the CLI itself, passed in by Cli.ts (which holds this command).
 */
export const daemonCommand = (run: (argv: ReadonlyArray<string>) => Effect.Effect<void>) =>
  Command.make("daemon").pipe(
    Command.withDescription("The background process that keeps the engine loaded (ENGINE_DAEMON=0 turns it off)"),
    Command.withSubcommands([statusCommand, startCommand, stopCommand, serveCommand(run)])
  )
