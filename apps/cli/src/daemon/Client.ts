/**
 * The Node client of the daemon, bundled alone into `dist/client.cjs` for `bin/engine.cjs` (plain Node, no Effect: it
 * must cost a few milliseconds). The native client `client/engine-client.c` does the same without starting Node.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { daemonDir, daemonEnabled, servedByDaemon, socketPath, socketPathProblem } from "./Location"
import { decodeFrames, encodeRequest, Frame, type Request, signalFrame } from "./Protocol"

export { daemonEnabled, servedByDaemon }

export type Outcome =
  | { readonly kind: "exit"; readonly code: number }
  | { readonly kind: "declined"; readonly reason: string }
  | { readonly kind: "unavailable" }

/** This build's id (`dist/build-id`, written by `build.mjs`) and so its daemon's socket. */
export const locate = (distDir: string, env: NodeJS.ProcessEnv = process.env) => {
  const buildIdFile = path.join(distDir, "build-id")
  const buildId = fs.readFileSync(buildIdFile, "utf8").trim()
  const dir = daemonDir(env, process.getuid?.() ?? 0)
  return { buildId, buildIdFile, dir, socket: socketPath(dir, buildId) }
}

const SIGNALS = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const

/**
 * Sends one request and relays what comes back: stdout/stderr frames to this process's, signals to the daemon.
 * `unavailable` when no daemon listens; `declined` (before any output) when it will not run this command.
 */
export const exchange = (
  socket: string,
  request: Request,
  onStatus: (text: string) => void = () => {},
  out: { readonly stdout: NodeJS.WritableStream; readonly stderr: NodeJS.WritableStream } = process
): Promise<Outcome> =>
  new Promise((resolve) => {
    const conn = net.connect(socket)
    let pending: Buffer = Buffer.alloc(0)
    let settled = false
    let connected = false
    const forward: Array<[NodeJS.Signals, () => void]> = Object.entries(SIGNALS).map(([name, number]) => [
      name as NodeJS.Signals,
      () => void conn.write(signalFrame(number))
    ])
    const finish = (outcome: Outcome) => {
      if (settled) return
      settled = true
      for (const [name, handler] of forward) process.off(name, handler)
      conn.destroy()
      resolve(outcome)
    }
    conn.once("connect", () => {
      connected = true
      if (request.kind === "run") for (const [name, handler] of forward) process.on(name, handler)
      conn.write(encodeRequest(request))
    })
    conn.on("data", (chunk: Buffer) => {
      const { frames, rest } = decodeFrames(Buffer.concat([pending, chunk]))
      pending = rest
      for (const frame of frames) {
        if (frame.type === Frame.stdout) out.stdout.write(frame.payload)
        else if (frame.type === Frame.stderr) out.stderr.write(frame.payload)
        else if (frame.type === Frame.status) onStatus(frame.payload.toString("utf8"))
        else if (frame.type === Frame.exit) return finish({ kind: "exit", code: frame.payload.readUInt32BE(0) })
        else if (frame.type === Frame.declined) return finish({ kind: "declined", reason: frame.payload.toString("utf8") })
      }
    })
    conn.on("error", () => finish(connected ? { kind: "exit", code: 1 } : { kind: "unavailable" }))
    conn.on("close", () => {
      if (!settled && connected) {
        out.stderr.write("engine: the daemon closed the connection before the command ended (it stopped or crashed); run the command again, or with ENGINE_DAEMON=0\n")
      }
      finish(connected ? { kind: "exit", code: 1 } : { kind: "unavailable" })
    })
  })

/** The request for running `args` here, as this process sees its environment. */
export const runRequest = (args: ReadonlyArray<string>): Request => ({
  kind: "run",
  argv: [process.execPath, "engine", ...args],
  cwd: process.cwd(),
  env: Object.entries(process.env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`])),
  umask: process.umask(),
  stdoutTty: process.stdout.isTTY === true,
  stderrTty: process.stderr.isTTY === true,
  columns: process.stderr.columns ?? process.stdout.columns ?? 0,
  rows: process.stderr.rows ?? process.stdout.rows ?? 0
})

/**
 * A young generation big enough for a build's garbage to die in it: with Node's default, what a build of many tools
 * allocates outlives two scavenges, reaches the old generation, and a full collection follows in most builds.
 *
 * A larger interrupt budget (V8's default is 66 KB of bytecode run): TurboFan optimizes a function later. A daemon
 * builds again and again with fresh closures, and V8 kept re-optimizing the same functions, 5–15 compiles a build on
 * background threads; on two cores those took time from the build itself (measured on a 40-tool incremental build:
 * 160–170 ms of CPU in all threads by default, 115–130 ms with a budget of 300 KB to 3 MB; wall time followed).
 *
 * `--expose-gc`: the daemon collects the young generation between commands (see `collectYoung` in Server.ts).
 */
const DAEMON_NODE_FLAGS = ["--max-semi-space-size=32", "--interrupt-budget=300000", "--expose-gc"]

/**
 * Starts this build's daemon in the background (it outlives this process), for the next `engine` to use; not when its
 * folder is unusable (another owner, open to others), where the daemon would refuse to start on every command.
 */
export const startDaemon = (launcher: string, dir: string, socket: string): ChildProcess | undefined => {
  if (socketPathProblem(socket) !== undefined) return undefined
  try {
    const st = fs.statSync(dir)
    if (st.uid !== (process.getuid?.() ?? 0) || (st.mode & 0o077) !== 0) return undefined
  } catch {
    // Not there yet: the daemon makes it.
  }
  const child = spawn(process.execPath, [...DAEMON_NODE_FLAGS, launcher, "daemon", "serve"], { detached: true, stdio: "ignore" })
  child.on("error", () => {})
  child.unref()
  return child
}
