import { Deferred, Effect, Exit, Fiber } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { PassThrough } from "node:stream"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import * as net from "node:net"
import { exchange } from "../src/daemon/Client"
import { decodeFrames, encodeRequest, Frame, type RunRequest, signalFrame } from "../src/daemon/Protocol"
import { serve } from "../src/daemon/Server"

// The daemon's server in this process, with a stand-in command: what a client gets back, and what the daemon's own
// process looks like after each command.
let dir: string
let buildIdFile: string

const request = (args: ReadonlyArray<string>, cwd: string, env: ReadonlyArray<string>): RunRequest => ({
  kind: "run",
  argv: ["node", "engine", ...args],
  cwd,
  env,
  umask: 0o027,
  stdoutTty: true,
  stderrTty: false,
  columns: 91,
  rows: 33
})

const collect = () => {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  const text = { stdout: "", stderr: "" }
  stdout.setEncoding("utf8").on("data", (d: string) => (text.stdout += d))
  stderr.setEncoding("utf8").on("data", (d: string) => (text.stderr += d))
  return { sinks: { stdout, stderr }, text }
}

const waitFor = async (check: () => boolean, ms = 5000) => {
  for (let waited = 0; !check(); waited += 10) {
    if (waited > ms) throw new Error("timed out")
    await new Promise((r) => setTimeout(r, 10))
  }
}

beforeEach(() => {
  dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "engine-server-")))
  buildIdFile = path.join(dir, "build-id")
  fs.writeFileSync(buildIdFile, "b1\n")
})
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }))

describe("daemon server", () => {
  it("runs a command with the client's argv, env, cwd, umask and tty facts, relays output and exit code, then restores its own", async () => {
    const socket = path.join(dir, "d", "b1.sock")
    const seen: Array<unknown> = []
    const run = (argv: ReadonlyArray<string>) =>
      Effect.sync(() => {
        seen.push({ argv, cwd: process.cwd(), who: process.env.WHO, path: process.env.PATH, umask: process.umask(), tty: process.stdout.isTTY, columns: process.stdout.columns, errTty: process.stderr.isTTY })
        process.stdout.write("out ✓\n")
        process.stderr.write(Buffer.from("err\n"))
        process.exitCode = 3
      })
    const envBefore = { ...process.env }
    const cwdBefore = process.cwd()
    const umaskBefore = process.umask()
    const writeBefore = process.stdout.write
    const fiber = Effect.runFork(serve({ dir: path.dirname(socket), socket, buildId: "b1", buildIdFile, idleMs: 60_000, run }))
    await waitFor(() => fs.existsSync(socket))
    expect(fs.statSync(path.dirname(socket)).mode & 0o777).toBe(0o700)
    expect(fs.statSync(socket).mode & 0o777).toBe(0o600)

    const { sinks, text } = collect()
    const outcome = await exchange(socket, request(["build", "-o", "x y"], dir, ["WHO=client", "EMPTY="]), undefined, sinks)
    expect(outcome).toEqual({ kind: "exit", code: 3 })
    expect(text).toEqual({ stdout: "out ✓\n", stderr: "err\n" })
    expect(seen).toEqual([{ argv: ["node", "engine", "build", "-o", "x y"], cwd: dir, who: "client", path: undefined, umask: 0o027, tty: true, columns: 91, errTty: undefined }])
    expect({ ...process.env }).toEqual(envBefore)
    expect(process.cwd()).toBe(cwdBefore)
    expect(process.umask()).toBe(umaskBefore)
    expect(process.stdout.write).toBe(writeBefore)
    expect(process.exitCode).toBeUndefined()

    // A cwd that does not exist: declined (the client runs the command itself and gets the real error).
    expect((await exchange(socket, request(["build"], path.join(dir, "gone"), []), undefined, sinks)).kind).toBe("declined")
    expect((await exchange(socket, request(["run", "--", "sh"], dir, []), undefined, sinks)).kind).toBe("declined")
    expect((await exchange(socket, { kind: "stop" }, undefined, sinks)).kind).toBe("exit")
    expect(Exit.isSuccess(await Effect.runPromise(Fiber.await(fiber)))).toBe(true)
    expect(fs.existsSync(socket)).toBe(false)
  })

  it("declines while busy; a signal from the client interrupts the command (exit 130) and it serves the next", async () => {
    const socket = path.join(dir, "b1.sock")
    fs.chmodSync(dir, 0o700)
    const started = Effect.runSync(Deferred.make<void>())
    let finalized = false
    const run = (argv: ReadonlyArray<string>) =>
      argv.includes("slow")
        ? Deferred.succeed(started, undefined).pipe(Effect.zipRight(Effect.never), Effect.ensuring(Effect.sync(() => (finalized = true))))
        : Effect.void
    const fiber = Effect.runFork(serve({ dir, socket, buildId: "b1", buildIdFile, idleMs: 60_000, run }))
    await waitFor(() => fs.existsSync(socket))
    // The slow command's client, by hand: its request, then what a client sends on Ctrl-C.
    const conn = net.connect(socket)
    let received: Buffer = Buffer.alloc(0)
    conn.on("data", (d: Buffer) => (received = Buffer.concat([received, d])))
    const closed = new Promise((resolve) => conn.on("close", resolve))
    conn.write(encodeRequest(request(["build", "slow"], dir, [])))
    await Effect.runPromise(Deferred.await(started))
    const busy = await exchange(socket, request(["build"], dir, []), undefined, collect().sinks)
    expect(busy).toEqual({ kind: "declined", reason: "the daemon is busy" })
    conn.write(signalFrame(2))
    await closed
    expect(decodeFrames(received).frames).toEqual([{ type: Frame.exit, payload: Buffer.from([0, 0, 0, 130]) }])
    expect(finalized).toBe(true)
    expect(await exchange(socket, request(["build"], dir, []), undefined, collect().sinks)).toEqual({ kind: "exit", code: 0 })
    await exchange(socket, { kind: "stop" })
    await Effect.runPromise(Fiber.await(fiber))
  })

  it("stops by itself when the engine is rebuilt (the build id changes) or after being idle", async () => {
    const socket = path.join(dir, "b1.sock")
    fs.chmodSync(dir, 0o700)
    const stale = Effect.runFork(serve({ dir, socket, buildId: "b1", buildIdFile, idleMs: 60_000, staleCheckMs: 50, run: () => Effect.void }))
    await waitFor(() => fs.existsSync(socket))
    fs.writeFileSync(buildIdFile, "b2\n")
    await Effect.runPromise(Fiber.await(stale))
    expect(fs.existsSync(socket)).toBe(false)

    fs.writeFileSync(buildIdFile, "b1\n")
    const idle = Effect.runFork(serve({ dir, socket, buildId: "b1", buildIdFile, idleMs: 200, run: () => Effect.void }))
    await waitFor(() => fs.existsSync(socket))
    await Effect.runPromise(Fiber.await(idle))
    expect(fs.existsSync(socket)).toBe(false)
  })
})
