/**
 * The engine daemon: one resident process per build of the engine that runs commands for clients, so a warm `engine`
 * costs a connect instead of starting Node and loading the bundle (as Nx's daemon does for its project graph).
 *
 * A command runs exactly as in a process of its own: the client's argv, environ, working directory and umask are put
 * in place for it, its stdout/stderr go back to the client as frames (with the client's tty facts), its exit code is
 * the client's. What one command leaves for the next: the loaded code, warm JIT, idle compression workers, keep-alive
 * connections, and what the engine remembers of files (see `trustRememberedDocuments`). One command at a time
 * (environ and cwd are per process): a client that finds the daemon busy is told so and runs the command itself.
 */
import { Data, Effect, Exit, Fiber } from "effect"
import * as fs from "node:fs"
import * as net from "node:net"
import { servedByDaemon, socketPathProblem } from "./Location"
import {
  decodeFrames,
  decodeRequest,
  encodeFrame,
  encodeRequest,
  exitFrame,
  Frame,
  MAX_REQUEST_BYTES,
  ProtocolError,
  type RunRequest
} from "./Protocol"

export class DaemonError extends Data.TaggedError("DaemonError")<{ readonly message: string }> {}

export interface ServeOptions {
  readonly dir: string
  readonly socket: string
  readonly buildId: string
  /** The build id file of the installed engine: when it no longer says `buildId`, this daemon is stale and stops. */
  readonly buildIdFile: string
  readonly idleMs: number
  /** How often the build id file is read to notice a rebuilt engine (default a minute). */
  readonly staleCheckMs?: number
  /** Runs one command (argv as `[node, script, ...args]`); its exit code is left in `process.exitCode`. */
  readonly run: (argv: ReadonlyArray<string>) => Effect.Effect<void>
}

/** The socket's folder must be ours alone: another user able to write there could answer as the daemon. */
export const ensurePrivateDir = (dir: string): void => {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  const st = fs.lstatSync(dir)
  const uid = process.getuid?.() ?? 0
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o077) !== 0) {
    throw new DaemonError({
      message: `${dir} must be a directory owned by uid ${uid} with mode 0700 to hold the daemon's socket (set ENGINE_DAEMON_DIR, or ENGINE_DAEMON=0)`
    })
  }
}

const readBuildId = (file: string): string | undefined => {
  try {
    return fs.readFileSync(file, "utf8").trim()
  } catch {
    return undefined
  }
}

/** Is a daemon already answering on `socket`? (A socket file left by a killed daemon refuses the connection.) */
const answers = (socket: string): Promise<boolean> =>
  new Promise((resolve) => {
    const conn = net.connect(socket)
    const done = (alive: boolean) => {
      conn.destroy()
      resolve(alive)
    }
    conn.setTimeout(2000, () => done(false))
    conn.once("connect", () => conn.write(encodeRequest({ kind: "ping" })))
    conn.once("data", () => done(true))
    conn.once("error", () => done(false))
    conn.once("close", () => done(false))
  })

type Patched = { restore: () => void }

/** Sends what the command writes to `stream` to the client as frames of `type`, with the client's tty facts. */
const redirect = (stream: NodeJS.WriteStream, type: number, conn: net.Socket, tty: boolean, columns: number, rows: number): Patched => {
  const write = stream.write
  const saved = (["isTTY", "columns", "rows"] as const).map((key) => [key, Object.getOwnPropertyDescriptor(stream, key)] as const)
  stream.write = function(chunk: unknown, encoding?: unknown, callback?: unknown): boolean {
    const cb = typeof encoding === "function" ? encoding : typeof callback === "function" ? callback : undefined
    const enc = typeof encoding === "string" ? (encoding as BufferEncoding) : "utf8"
    const bytes = typeof chunk === "string" ? Buffer.from(chunk, enc) : Buffer.from(chunk as Uint8Array)
    if (!conn.destroyed) conn.write(encodeFrame(type, bytes))
    if (cb !== undefined) process.nextTick(cb as () => void)
    return true
  } as typeof stream.write
  const define = (key: string, value: unknown) => Object.defineProperty(stream, key, { value, configurable: true, writable: true })
  define("isTTY", tty ? true : undefined)
  define("columns", tty && columns > 0 ? columns : undefined)
  define("rows", tty && rows > 0 ? rows : undefined)
  return {
    restore: () => {
      stream.write = write
      for (const [key, descriptor] of saved) {
        if (descriptor === undefined) delete (stream as unknown as Record<string, unknown>)[key]
        else Object.defineProperty(stream, key, descriptor)
      }
    }
  }
}

/** Puts the client's environ, cwd and umask in place; `restore` puts the daemon's back. */
const enter = (request: RunRequest): Patched => {
  const env = { ...process.env }
  const cwd = process.cwd()
  const umask = process.umask(request.umask & 0o777)
  for (const key of Object.keys(process.env)) delete process.env[key]
  for (const entry of request.env) {
    const eq = entry.indexOf("=")
    if (eq > 0) process.env[entry.slice(0, eq)] = entry.slice(eq + 1)
  }
  const restoreEnv = () => {
    for (const key of Object.keys(process.env)) delete process.env[key]
    Object.assign(process.env, env)
  }
  try {
    process.chdir(request.cwd)
  } catch (e) {
    restoreEnv()
    process.umask(umask)
    throw e
  }
  return {
    restore: () => {
      restoreEnv()
      try {
        process.chdir(cwd)
      } catch {
        // The daemon's own directory went away meanwhile: "/" does not.
        process.chdir("/")
      }
      process.umask(umask)
    }
  }
}

/**
 * Once a command is done (its client has the exit code), what it allocated is collected, while the daemon waits for
 * the next: that command starts with an empty young generation, so a build rarely stops for a scavenge of its own
 * live data (the daemon starts with `--expose-gc`; without it this does nothing). A command arriving meanwhile waits
 * for that collection, a millisecond or two: little of a finished command is still alive.
 */
const collectYoung = () =>
  setImmediate(() => {
    globalThis.gc?.({ type: "minor" })
  }).unref()

/** Runs the daemon until it is stopped, idle for `idleMs`, or finds itself stale. */
export const serve = (options: ServeOptions): Effect.Effect<void, DaemonError> =>
  Effect.async<void, DaemonError>((resume) => {
    let busy = false
    let served = 0
    let stopping = false
    const started = Date.now()
    let idle: NodeJS.Timeout | undefined
    const server = net.createServer()
    /** The installed engine is another build than this daemon's. */
    const stale = () => readBuildId(options.buildIdFile) !== options.buildId

    // A rebuilt engine talks to its own daemon (another socket), so this one would get no request telling it that it
    // is stale: look at the build id now and then, and stop when it changed.
    const watch = setInterval(() => {
      if (!busy && stale()) stop()
    }, options.staleCheckMs ?? 60_000)
    watch.unref()
    const stop = () => {
      if (stopping) return
      stopping = true
      clearInterval(watch)
      if (idle !== undefined) clearTimeout(idle)
      server.close(() => resume(Effect.void))
      try {
        fs.unlinkSync(options.socket)
      } catch {
        // Already gone (removed by hand, or by a newer daemon taking the name): nothing to clean.
      }
    }
    const armIdle = () => {
      if (idle !== undefined) clearTimeout(idle)
      idle = setTimeout(stop, options.idleMs)
    }

    const runFor = (conn: net.Socket, request: RunRequest) => {
      busy = true
      if (idle !== undefined) clearTimeout(idle)
      let context: Patched
      try {
        context = enter(request)
      } catch (e) {
        busy = false
        armIdle()
        conn.end(encodeFrame(Frame.declined, `cannot enter ${request.cwd}: ${e instanceof Error ? e.message : String(e)}`))
        return
      }
      const out = redirect(process.stdout, Frame.stdout, conn, request.stdoutTty, request.columns, request.rows)
      const err = redirect(process.stderr, Frame.stderr, conn, request.stderrTty, request.columns, request.rows)
      process.exitCode = undefined
      const fiber = Effect.runFork(options.run(request.argv))
      let pending: Buffer = Buffer.alloc(0)
      const onData = (chunk: Buffer) => {
        const { frames, rest } = decodeFrames(Buffer.concat([pending, chunk]))
        pending = rest
        // Ctrl-C (or any signal the client caught): interrupt, so finalizers remove temp files as in a process of its own.
        if (frames.some((f) => f.type === Frame.signal)) Effect.runFork(Fiber.interrupt(fiber))
      }
      const onClose = () => Effect.runFork(Fiber.interrupt(fiber))
      conn.on("data", onData)
      conn.once("close", onClose)
      fiber.addObserver((exit) => {
        conn.off("data", onData)
        conn.off("close", onClose)
        const interrupted = Exit.isFailure(exit)
        const code = interrupted ? 130 : typeof process.exitCode === "number" ? process.exitCode : 0
        process.exitCode = undefined
        out.restore()
        err.restore()
        context.restore()
        served++
        busy = false
        if (!conn.destroyed) conn.end(exitFrame(code))
        if (stale()) stop()
        else {
          armIdle()
          collectYoung()
        }
      })
    }

    server.on("connection", (conn) => {
      let data: Buffer = Buffer.alloc(0)
      const onData = (chunk: Buffer) => {
        data = Buffer.concat([data, chunk])
        let decoded
        try {
          decoded = decodeRequest(data)
          if (decoded === undefined && data.length > MAX_REQUEST_BYTES) throw new ProtocolError("request too large")
        } catch (e) {
          conn.off("data", onData)
          conn.end(encodeFrame(Frame.declined, e instanceof Error ? e.message : String(e)))
          return
        }
        if (decoded === undefined) return
        conn.off("data", onData)
        const { request } = decoded
        if (request.kind === "ping") {
          const status = { pid: process.pid, buildId: options.buildId, uptimeMs: Date.now() - started, served, busy, socket: options.socket }
          conn.end(Buffer.concat([encodeFrame(Frame.status, JSON.stringify(status)), exitFrame(0)]))
        } else if (request.kind === "stop") {
          conn.end(Buffer.concat([encodeFrame(Frame.status, `stopped daemon ${process.pid}`), exitFrame(0)]))
          stop()
        } else if (stopping) conn.end(encodeFrame(Frame.declined, "the daemon is stopping"))
        else if (busy) conn.end(encodeFrame(Frame.declined, "the daemon is busy"))
        else if (!servedByDaemon(request.argv.slice(2))) conn.end(encodeFrame(Frame.declined, "not a daemon command"))
        else if (stale()) {
          conn.end(encodeFrame(Frame.declined, "the engine was rebuilt"))
          stop()
        } else runFor(conn, request)
      }
      conn.on("data", onData)
      conn.on("error", () => conn.destroy())
    })

    const listen = async () => {
      ensurePrivateDir(options.dir)
      const problem = socketPathProblem(options.socket)
      if (problem !== undefined) throw new DaemonError({ message: problem })
      if (await answers(options.socket)) return resume(Effect.void)
      fs.rmSync(options.socket, { force: true })
      server.once("error", (e) =>
        resume(
          (e as NodeJS.ErrnoException).code === "EADDRINUSE"
            ? Effect.void // another daemon won the race to the name
            : Effect.fail(new DaemonError({ message: `cannot listen on ${options.socket}: ${e.message}` }))
        ))
      server.listen(options.socket, () => {
        try {
          fs.chmodSync(options.socket, 0o600)
        } catch (e) {
          server.close()
          return resume(Effect.fail(new DaemonError({ message: `cannot make ${options.socket} private to its owner: ${String(e)}` })))
        }
        armIdle()
      })
    }
    listen().catch((e) => resume(Effect.fail(e instanceof DaemonError ? e : new DaemonError({ message: String(e) }))))
    return Effect.sync(stop)
  })
