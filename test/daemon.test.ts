import { spawn } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { engineBin, repoRoot } from "./support/Cli"
import { put } from "./support/Fixtures"
import { skopeoInspect } from "./support/Validate"

// `engine` through its daemon, as a user meets it: `bin/engine` (the native client) or `bin/engine.cjs` (Node) hand
// the command to a resident process. Everything a user sees must be as in a process of its own: stdout, stderr,
// exit code, the files written (under the client's cwd, env and umask), Ctrl-C; and the daemon really ran it.
const launcher = path.join(repoRoot, "apps", "cli", "bin", "engine")
let work: string
let daemonDir: string

interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

const baseEnv = () => ({
  PATH: process.env.PATH ?? "/usr/bin:/bin",
  HOME: path.join(work, "home"),
  SOURCE_DATE_EPOCH: "1700000000",
  ENGINE_DATA_DIR: path.join(work, "data"),
  ENGINE_DAEMON: "1",
  ENGINE_DAEMON_DIR: daemonDir
})

const start = (
  args: ReadonlyArray<string>,
  opts: { cwd?: string; env?: Record<string, string>; via?: "native" | "node"; umask?: string; nodeLauncher?: string } = {}
) => {
  const env = { ...baseEnv(), ...opts.env }
  const program = opts.nodeLauncher !== undefined
    ? [process.execPath, opts.nodeLauncher]
    : opts.via === "node" ? [process.execPath, engineBin] : [launcher]
  const quoted = [...program, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(" ")
  const child = spawn("sh", ["-c", `umask ${opts.umask ?? "022"} && exec ${quoted}`], { cwd: opts.cwd ?? work, env })
  let stdout = ""
  let stderr = ""
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d))
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d))
  let exited = false
  const done = new Promise<Run>((resolve) =>
    child.on("close", (code) => {
      exited = true
      resolve({ code, stdout, stderr })
    }))
  return { child, done, stderr: () => stderr, exited: () => exited }
}
const run = (args: ReadonlyArray<string>, opts: Parameters<typeof start>[1] = {}) => start(args, opts).done

const status = async (): Promise<{ served: number; busy: boolean }> => {
  const r = await run(["daemon", "status", "--json"])
  expect(r.code, r.stderr).toBe(0)
  return JSON.parse(r.stdout) as { served: number; busy: boolean }
}
const served = async (): Promise<number> => (await status()).served

const waitFor = async (check: () => boolean | Promise<boolean>, ms = 30_000) => {
  for (const started = Date.now(); !(await check());) {
    if (Date.now() - started > ms) throw new Error("timed out waiting")
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

const BUILD = ["build", "--from", "scratch", "--no-mise", "--json"]

/** A project whose one tool is `mb` MB of random bytes: they do not compress, so its layer task takes a while. */
const bigToolProject = (dir: string, mb: number) => {
  put(path.join(dir, "big", "blob.bin"), crypto.randomBytes(mb * 1024 * 1024))
  put(path.join(dir, "mise.toml"), `[tools]\n"http:big" = "path:./big"\n`)
}

beforeAll(async () => {
  work = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "engine-daemon-")))
  daemonDir = path.join(work, "d")
  fs.mkdirSync(path.join(work, "home"))
  expect(fs.existsSync(path.join(repoRoot, "apps", "cli", "dist", "engine-client")), "the build made no native client (no cc?)").toBe(true)
  const r = await run(["daemon", "start"])
  expect(r.code, r.stderr).toBe(0)
  expect(r.stdout).toMatch(/^daemon running: pid \d+/)
}, 60_000)

afterAll(async () => {
  await run(["daemon", "stop"])
  fs.rmSync(work, { recursive: true, force: true })
})

describe("engine through its daemon", () => {
  it("builds the same image as a process of its own, with the client's cwd, env and umask, and the daemon ran it", async () => {
    const dir = path.join(work, "same")
    put(path.join(dir, "tool", "bin", "hello"), "#!/bin/sh\necho hello\n", 0o755)
    put(path.join(dir, "mise.toml"), `[tools]\n"http:hello" = "path:./tool"\n\n[env]\nGREETING = "{{ env.WHO }}"\n`)
    const before = await served()
    const alone = await run([...BUILD, "-o", "out-alone"], { cwd: dir, env: { ENGINE_DAEMON: "0", WHO: "world", ENGINE_CACHE_DIR: path.join(work, "cache-alone") }, umask: "077" })
    expect(alone.code, alone.stderr).toBe(0)
    const daemon = await run([...BUILD, "-o", "out-daemon"], { cwd: dir, env: { WHO: "world", ENGINE_CACHE_DIR: path.join(work, "cache-daemon") }, umask: "077" })
    expect(daemon.code, daemon.stderr).toBe(0)
    expect(await served()).toBe(before + 1)

    const digest = (r: Run) => (JSON.parse(r.stdout) as { manifestDigest: string }).manifestDigest
    expect(digest(daemon)).toBe(digest(alone))
    const config = skopeoInspect(path.join(dir, "out-daemon"), true) as { config: { Env: ReadonlyArray<string> } }
    expect(config.config.Env).toContain("GREETING=world")
    // The client's ENGINE_CACHE_DIR and umask, not the daemon's.
    expect(fs.readdirSync(path.join(work, "cache-daemon")).length).toBeGreaterThan(0)
    const mode = (f: string) => fs.statSync(path.join(dir, f, "index.json")).mode & 0o777
    expect(mode("out-daemon")).toBe(mode("out-alone"))
    expect(mode("out-daemon") & 0o077).toBe(0)
  }, 60_000)

  it("what the daemon remembers of the cache does not outlive `engine cache clear` in a process of its own", async () => {
    const dir = path.join(work, "remembered")
    put(path.join(dir, "tool", "bin", "hello"), "#!/bin/sh\necho hello\n", 0o755)
    put(path.join(dir, "mise.toml"), `[tools]\n"http:hello" = "path:./tool"\n`)
    const env = { ENGINE_CACHE_DIR: path.join(work, "cache-remembered") }
    const tasks = async () => {
      const before = await served()
      const r = await run([...BUILD, "-o", "out"], { cwd: dir, env })
      expect(r.code, r.stderr).toBe(0)
      expect(await served()).toBe(before + 1)
      return (JSON.parse(r.stdout) as { tasks: { ran: number; cached: number } }).tasks
    }
    expect((await tasks()).ran).toBeGreaterThan(0)
    expect(await tasks()).toMatchObject({ ran: 0 })
    const cleared = await run(["cache", "clear"], { env: { ...env, ENGINE_DAEMON: "0" } })
    expect(cleared.code, cleared.stderr).toBe(0)
    // Cold again: every layer is built anew, none restored from what the daemon had read before the clear.
    const after = await tasks()
    expect(after.ran).toBeGreaterThanOrEqual(3)
    expect(after.cached).toBe(0)
  }, 60_000)

  it("a failing command has the same exit code and message as without the daemon", async () => {
    const dir = path.join(work, "broken")
    put(path.join(dir, "mise.toml"), `[tools]\nnode = "20"\n[oci\n`)
    const alone = await run(BUILD, { cwd: dir, env: { ENGINE_DAEMON: "0" } })
    const before = await served()
    const daemon = await run(BUILD, { cwd: dir })
    expect(await served()).toBe(before + 1)
    expect(daemon.code).toBe(alone.code)
    expect(daemon.code).not.toBe(0)
    expect(daemon.stderr).toBe(alone.stderr)
    expect(daemon.stderr).toContain(path.join(dir, "mise.toml"))
    expect(daemon.stdout).toBe("")
  })

  it("the Node launcher (bin/engine.cjs) uses the daemon too; `run` and `daemon` never go through it", async () => {
    const before = await served()
    const r = await run(["backends", "--json"], { via: "node" })
    expect(r.code, r.stderr).toBe(0)
    expect((JSON.parse(r.stdout) as ReadonlyArray<{ id: string }>).map((b) => b.id)).toContain("npm")
    expect(await served()).toBe(before + 1)
    const help = await run(["run", "--help"])
    expect(help.code).toBe(0)
    expect(await served()).toBe(before + 1)
  })

  it("while busy it lets another client run the command itself; Ctrl-C interrupts the command it runs and it serves the next", async () => {
    // A registry that accepts connections and never answers keeps a push (and so the daemon) busy until interrupted.
    const stalled = net.createServer(() => {}).listen(0, "127.0.0.1")
    await new Promise((resolve) => stalled.once("listening", resolve))
    const port = (stalled.address() as net.AddressInfo).port
    try {
      const dir = path.join(work, "busy")
      put(path.join(dir, "tool", "bin", "hello"), "#!/bin/sh\necho hello\n", 0o755)
      put(path.join(dir, "mise.toml"), `[tools]\n"http:hello" = "path:./tool"\n`)
      expect((await run(["build", "--from", "scratch", "--no-mise", "-o", "out"], { cwd: dir })).code).toBe(0)
      const before = await served()
      const push = start(["push", "--image-dir", "out", `127.0.0.1:${port}/x/y:v1`], { cwd: dir })
      await waitFor(async () => (await status()).busy)
      const other = await run(["backends", "--json"])
      expect(other.code, other.stderr).toBe(0)
      expect(JSON.parse(other.stdout)).toBeInstanceOf(Array)
      push.child.kill("SIGINT")
      const r = await push.done
      expect(r.code).toBe(130)
      // The push was the daemon's; `backends` ran in a process of its own.
      expect(await served()).toBe(before + 1)
      const again = await run(["backends"])
      expect(again.code, again.stderr).toBe(0)
      expect(await served()).toBe(before + 2)
    } finally {
      stalled.close()
    }
  }, 60_000)

  it("Ctrl-C during compression in the daemon leaves no temp files, as in a process of its own", async () => {
    const dir = path.join(work, "big")
    // The layer task takes long enough to be interrupted in the middle.
    bigToolProject(dir, 100)
    const cache = path.join(work, "cache-big")
    const long = start(["build", "--from", "scratch", "--no-mise", "-o", "out"], { cwd: dir, env: { ENGINE_CACHE_DIR: cache } })
    await waitFor(async () => long.stderr().includes("[tool-layer] http:big@path:./big ...\n") || long.exited())
    await new Promise((resolve) => setTimeout(resolve, 200))
    long.child.kill("SIGINT")
    const r = await long.done
    expect(r.stderr).toContain("[tool-layer] http:big@path:./big ... interrupted")
    expect(r.code).toBe(130)
    const leftovers = (root: string) =>
      fs.existsSync(root) ? fs.readdirSync(root, { recursive: true, encoding: "utf8" }).filter((n) => /\.tmp-|^tmp\/.+|\.engine-tmp/.test(n)) : []
    expect(leftovers(cache)).toEqual([])
    expect(leftovers(path.join(dir, "out"))).toEqual([])
    const after = await run(["build", "--from", "scratch", "--no-mise", "-o", "out"], { cwd: dir, env: { ENGINE_CACHE_DIR: cache } })
    expect(after.code, after.stderr).toBe(0)
    skopeoInspect(path.join(dir, "out"))
  }, 120_000)

  it("refuses a socket folder others can write to, and the command still runs without it", async () => {
    const open = path.join(work, "open")
    fs.mkdirSync(open)
    fs.chmodSync(open, 0o777)
    const serve = await run(["daemon", "serve"], { env: { ENGINE_DAEMON_DIR: open } })
    expect(serve.code).not.toBe(0)
    expect(serve.stderr).toContain(`${open} must be a directory owned by uid`)
    const r = await run(["backends", "--json"], { env: { ENGINE_DAEMON_DIR: open } })
    expect(r.code, r.stderr).toBe(0)
    await new Promise((resolve) => setTimeout(resolve, 1000))
    expect(fs.readdirSync(open)).toEqual([])
  }, 60_000)

  it("`engine daemon start` says why it cannot start: a folder others can write to, a socket path too long, a daemon that exits", async () => {
    const buildId = fs.readFileSync(path.join(repoRoot, "apps", "cli", "dist", "build-id"), "utf8").trim()
    const open = path.join(work, "open-start")
    fs.mkdirSync(open)
    fs.chmodSync(open, 0o777)
    const refused = await run(["daemon", "start"], { env: { ENGINE_DAEMON_DIR: open } })
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain(`${open} must be a directory owned by uid`)

    // Linux would bind a socket path over 107 bytes cut short, where no client looks: said, and nothing is started.
    const long = path.join(work, "l".repeat(110))
    const tooLong = await run(["daemon", "start"], { env: { ENGINE_DAEMON_DIR: long } })
    expect(tooLong.code).toBe(1)
    expect(tooLong.stderr).toMatch(/socket path .* is \d+ bytes, more than the 107 a unix socket allows; set ENGINE_DAEMON_DIR/)
    const serveLong = await run(["daemon", "serve"], { env: { ENGINE_DAEMON_DIR: long } })
    expect(serveLong.code).toBe(1)
    expect(serveLong.stderr).toContain("more than the 107 a unix socket allows")
    // Refused before binding: no socket, not even one cut short, and the folder holds nothing.
    expect(fs.readdirSync(long)).toEqual([])
    expect(fs.readdirSync(work).filter((n) => n.startsWith("l".repeat(20)) && n !== path.basename(long))).toEqual([])
    // Commands still run, in a process of their own.
    const works = await run(["backends", "--json"], { env: { ENGINE_DAEMON_DIR: long } })
    expect(works.code, works.stderr).toBe(0)

    // The socket's name taken by a directory: the daemon exits at once, and `start` says so instead of waiting.
    const taken = path.join(work, "taken")
    fs.mkdirSync(path.join(taken, `${buildId}.sock`), { recursive: true, mode: 0o700 })
    fs.chmodSync(taken, 0o700)
    const startedAt = Date.now()
    const exited = await run(["daemon", "start"], { env: { ENGINE_DAEMON_DIR: taken } })
    expect(exited.code).toBe(1)
    expect(exited.stderr).toContain("the daemon did not start: `engine daemon serve` exited with code 1")
    expect(exited.stderr).toContain("run it in the foreground to see why")
    expect(Date.now() - startedAt).toBeLessThan(8_000)
    for (const dir of [open, long, taken]) expect((await run(["daemon", "status"], { env: { ENGINE_DAEMON_DIR: dir } })).code).toBe(1)
  }, 60_000)

  it("without its build id (an engine copied without `npm run build`'s output) daemon commands say what to run", async () => {
    const copy = path.join(work, "copy")
    for (const f of ["bin/engine.cjs", "dist/engine.cjs", "dist/client.cjs", "package.json"]) {
      fs.mkdirSync(path.dirname(path.join(copy, f)), { recursive: true })
      fs.copyFileSync(path.join(repoRoot, "apps", "cli", f), path.join(copy, f))
    }
    const r = await run(["daemon", "status"], { nodeLauncher: path.join(copy, "bin", "engine.cjs") })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`cannot find this engine's build id in ${path.join(copy, "dist")}`)
    expect(r.stderr).toContain("(run npm run build)")
  }, 60_000)

  it("a daemon killed in the middle of a command: the client says so and exits 1, and the next command runs without it", async () => {
    const dir = path.join(work, "killed")
    bigToolProject(dir, 60)
    const own = path.join(work, "d-killed")
    for (const via of ["native", "node"] as const) {
      expect((await run(["daemon", "start"], { env: { ENGINE_DAEMON_DIR: own } })).code).toBe(0)
      const st = await run(["daemon", "status", "--json"], { env: { ENGINE_DAEMON_DIR: own } })
      const { pid } = JSON.parse(st.stdout) as { pid: number }
      const long = start(["build", "--from", "scratch", "--no-mise", "--no-cache", "-o", "out"], {
        cwd: dir,
        via,
        env: { ENGINE_DAEMON_DIR: own, ENGINE_CACHE_DIR: path.join(work, "cache-killed") }
      })
      await waitFor(() => long.stderr().includes("[tool-layer] http:big@path:./big ...\n") || long.exited())
      process.kill(pid, "SIGKILL")
      const r = await long.done
      expect(r.code).toBe(1)
      expect(r.stderr).toContain("engine: the daemon closed the connection before the command ended (it stopped or crashed)")
      await waitFor(async () => (await run(["daemon", "status"], { env: { ENGINE_DAEMON_DIR: own } })).code === 1)
    }
    const after = await run(["build", "--from", "scratch", "--no-mise", "-o", "out"], {
      cwd: dir,
      env: { ENGINE_DAEMON_DIR: own, ENGINE_CACHE_DIR: path.join(work, "cache-killed") }
    })
    expect(after.code, after.stderr).toBe(0)
    skopeoInspect(path.join(dir, "out"))
    await run(["daemon", "stop"], { env: { ENGINE_DAEMON_DIR: own } })
  }, 180_000)

  it("ENGINE_DAEMON=0 runs in a process of its own; `engine daemon stop` stops it", async () => {
    const before = await served()
    const r = await run(["backends"], { env: { ENGINE_DAEMON: "0" } })
    expect(r.code, r.stderr).toBe(0)
    expect(await served()).toBe(before)
    const other = path.join(work, "d2")
    expect((await run(["daemon", "start"], { env: { ENGINE_DAEMON_DIR: other } })).code).toBe(0)
    const stop = await run(["daemon", "stop"], { env: { ENGINE_DAEMON_DIR: other } })
    expect(stop.stdout).toMatch(/^stopped daemon \d+/)
    const status = await run(["daemon", "status"], { env: { ENGINE_DAEMON_DIR: other } })
    expect(status.code).toBe(1)
    expect(status.stdout).toContain("no daemon running")
  }, 60_000)
})
