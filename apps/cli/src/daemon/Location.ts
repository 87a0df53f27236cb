/**
 * Where the daemon of this build listens, and whether a client may use it. The native client
 * (`client/engine-client.c`) computes the same, so change both together.
 */
import * as path from "node:path"

type Env = Readonly<Record<string, string | undefined>>

const isOff = (value: string) => ["0", "false", "off", "no"].includes(value.toLowerCase())

/**
 * `ENGINE_DAEMON=0|false|off` turns the daemon off, `=1` on; unset, it is on except in CI (`CI` set), as Nx does:
 * a CI job starts once and gains nothing from a resident process.
 */
export const daemonEnabled = (env: Env): boolean => {
  const setting = env.ENGINE_DAEMON
  if (setting !== undefined && setting !== "") return !isOff(setting)
  const ci = env.CI
  return ci === undefined || ci === "" || isOff(ci)
}

/** `ENGINE_DAEMON_DIR`, else `$XDG_RUNTIME_DIR/engine`, else `$TMPDIR/engine-daemon-<uid>` (default TMPDIR /tmp). */
export const daemonDir = (env: Env, uid: number): string => {
  if (env.ENGINE_DAEMON_DIR !== undefined && env.ENGINE_DAEMON_DIR !== "") return env.ENGINE_DAEMON_DIR
  if (env.XDG_RUNTIME_DIR !== undefined && env.XDG_RUNTIME_DIR !== "") return path.join(env.XDG_RUNTIME_DIR, "engine")
  const tmp = env.TMPDIR !== undefined && env.TMPDIR !== "" ? env.TMPDIR : "/tmp"
  return path.join(tmp, `engine-daemon-${uid}`)
}

/** sun_path holds 108 bytes on Linux, with the terminating NUL. */
const MAX_SOCKET_PATH = 107

/** Why no daemon can listen at `socket` (a path too long: Linux would bind it cut short), or undefined. */
export const socketPathProblem = (socket: string): string | undefined => {
  const length = Buffer.byteLength(socket)
  return length > MAX_SOCKET_PATH
    ? `the daemon's socket path ${socket} is ${length} bytes, more than the ${MAX_SOCKET_PATH} a unix socket allows; set ENGINE_DAEMON_DIR to a shorter folder (or ENGINE_DAEMON=0)`
    : undefined
}

/** One daemon per build of the engine: a rebuilt engine never talks to an old daemon. */
export const socketPath = (dir: string, buildId: string): string => path.join(dir, `${buildId}.sock`)

/** Commands the daemon runs for a client; `run` needs the terminal itself (stdin, signals to the container). */
export const servedByDaemon = (args: ReadonlyArray<string>): boolean => {
  const command = args.find((a) => !a.startsWith("-"))
  return command !== undefined && command !== "run" && command !== "daemon"
}
