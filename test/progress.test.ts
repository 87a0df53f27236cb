import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { engine } from "./support/Cli"
import { put, tarGz } from "./support/Fixtures"
import { engineOnTty, finalScreen } from "./support/Pty"

// What a user sees on stderr while a build or install runs: live lines on a terminal (run under a pseudo-terminal),
// one line per task start and end in a pipe, nothing with --quiet.
let work: string
let server: http.Server | undefined
let url: string
let runs = 0

/** Deterministic incompressible bytes (AES-CTR over zeros). */
const noise = (seed: string, size: number): Buffer => {
  const key = crypto.createHash("sha256").update(seed).digest().subarray(0, 16)
  return crypto.createCipheriv("aes-128-ctr", key, Buffer.alloc(16)).update(Buffer.alloc(size))
}

/** Fresh data and cache dirs: every run starts with nothing installed or cached. */
const fresh = (extra: Record<string, string> = {}) => {
  runs++
  return {
    ENGINE_DATA_DIR: path.join(work, `data-${runs}`),
    ENGINE_CACHE_DIR: path.join(work, `cache-${runs}`),
    HOME: path.join(work, "home"),
    SOURCE_DATE_EPOCH: "1700000000",
    ...extra
  }
}

const SGR = /\x1b\[[\d;]*m/
/** A running download as drawn live: bytes so far, then the rate. */
const LIVE_DOWNLOAD = /\[install\] http:slow@1\.0\.0 \.\.\. [\d.]+ (?:kB|MB) at [\d.]+ (?:B|kB|MB)\/s [\d.]+s/
/** Any live line: a task's head followed by its elapsed time (and maybe bytes and rate) but no outcome. */
const LIVE = /^\[[a-z-]+\] .* \.\.\. (?:[\d.]+ (?:B|kB|MB|GB)(?: at [\d.]+ (?:B|kB|MB|GB)\/s)? )?[\d.]+s$/

let installDir: string
let buildDir: string
let brokenDir: string

beforeAll(async () => {
  work = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "engine-progress-")))
  fs.mkdirSync(path.join(work, "home"))
  const stage = path.join(work, "stage", "slow-1.0.0")
  put(path.join(stage, "bin", "slow"), "#!/bin/sh\necho slow\n", 0o755)
  put(path.join(stage, "data"), noise("slow", 900_000))
  const body = fs.readFileSync(tarGz(stage, path.join(work, "dist", "slow-1.0.0.tar.gz")))
  // The tarball trickles out in 25 pieces over about 1.5 s: long enough for several redraws with a rate.
  const trickle = http.createServer((req, res) => {
    if (req.url !== "/slow-1.0.0.tar.gz") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n")
      return
    }
    res.writeHead(200, { "content-length": body.length, "content-type": "application/octet-stream" })
    let piece = 0
    const next = () => {
      if (piece === 25) return void res.end()
      res.write(body.subarray(Math.floor((piece * body.length) / 25), Math.floor(((piece + 1) * body.length) / 25)))
      piece++
      setTimeout(next, 60)
    }
    next()
  })
  server = trickle
  await new Promise<void>((resolve) => trickle.listen(0, "127.0.0.1", resolve))
  url = `http://127.0.0.1:${(trickle.address() as AddressInfo).port}`
  const tool = (name: string) =>
    `"http:${name}" = { version = "1.0.0", url = "${url}/${name}-{{ version }}.tar.gz", bin_path = "bin", strip_components = 1 }`
  installDir = path.join(work, "install")
  put(path.join(installDir, "mise.toml"), `[tools]\n${tool("slow")}\n`)
  brokenDir = path.join(work, "broken")
  put(path.join(brokenDir, "mise.toml"), `[tools]\n${tool("gone")}\n`)
  // A 15 MB local tool: nothing to download, its layer takes a while to compress.
  const big = path.join(work, "big")
  for (let i = 0; i < 3; i++) put(path.join(big, `part-${i}`), noise(`big-${i}`, 5_000_000))
  buildDir = path.join(work, "build")
  put(path.join(buildDir, "mise.toml"), `[tools]\n"http:big" = "path:${big}"\n`)
}, 120_000)

afterAll(async () => {
  await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())))
  fs.rmSync(work, { recursive: true, force: true })
})

describe("progress on a terminal", () => {
  it("draws a running download with its bytes and rate, then erases it for the outcome and the summary", async () => {
    const r = await engineOnTty(["install"], { cwd: installDir, env: fresh() })
    expect(r.code, r.raw).toBe(0)
    expect(r.raw).toMatch(LIVE_DOWNLOAD)
    // Redrawn in place: cursor up over the live lines, erase below.
    expect(r.raw).toMatch(/\r\x1b\[\d+A\x1b\[J/)
    expect(r.raw).toMatch(SGR)
    const screen = finalScreen(r.raw)
    expect(screen.filter((l) => LIVE.test(l))).toEqual([])
    expect(screen.filter((l) => l.startsWith("[") || l.startsWith("tasks:"))).toEqual([
      expect.stringMatching(/^\[resolve\] http:slow@1\.0\.0 \.\.\. done [\d.]+s$/),
      expect.stringMatching(/^\[install\] http:slow@1\.0\.0 \.\.\. done [\d.]+s$/),
      expect.stringMatching(/^tasks: 2 ran, 0 cached \(saved 0\.0s\) in [\d.]+s$/)
    ])
    expect(screen.at(-1)).toBe(`http:slow@1.0.0  installed  ${path.join(work, `data-${runs}`, "installs", "http-slow", "1.0.0")}`)
  }, 60_000)

  it("draws a layer being compressed with the bytes gzipped so far and the rate", async () => {
    const r = await engineOnTty(["build", "--from", "scratch", "--no-mise", "-o", "out"], { cwd: buildDir, env: fresh() })
    expect(r.code, r.raw).toBe(0)
    expect(r.raw).toMatch(/\[tool-layer\] http:big@path:\S+ \.\.\. [\d.]+ MB at [\d.]+ (?:B|kB|MB)\/s [\d.]+s/)
    const screen = finalScreen(r.raw)
    expect(screen.filter((l) => LIVE.test(l))).toEqual([])
    expect(screen).toContainEqual(expect.stringMatching(/^\[tool-layer\] http:big@path:\S+ \.\.\. done [\d.]+s$/))
    expect(screen).toContainEqual(expect.stringMatching(/^tasks: \d+ ran, 0 cached/))
  }, 120_000)

  it("with NO_COLOR: no color codes, only the cursor moves that redraw the live lines", async () => {
    const r = await engineOnTty(["install"], { cwd: installDir, env: fresh({ NO_COLOR: "1" }) })
    expect(r.code, r.raw).toBe(0)
    expect(r.raw).not.toMatch(SGR)
    expect(r.raw).toMatch(LIVE_DOWNLOAD)
    const controls = new Set([...r.raw.matchAll(/\x1b\[[\d;?]*[A-Za-z]/g)].map((m) => m[0].replace(/\d+/, "N")))
    expect([...controls].sort()).toEqual(["\x1b[J", "\x1b[NA"])
    expect(finalScreen(r.raw).filter((l) => LIVE.test(l))).toEqual([])
  }, 60_000)

  it("more running tasks than the terminal has rows for: the first ones, then how many more", async () => {
    const many = path.join(work, "many")
    const tools = [1, 2, 3, 4, 5].map((i) =>
      `"http:s${i}" = { version = "1.0.0", url = "${url}/slow-{{ version }}.tar.gz", bin_path = "bin", strip_components = 1 }`
    )
    put(path.join(many, "mise.toml"), `[tools]\n${tools.join("\n")}\n`)
    const r = await engineOnTty(["install"], { cwd: many, env: fresh(), rows: 6 })
    expect(r.code, r.raw).toBe(0)
    // 6 rows keep 4 for live lines: 3 tasks and the count of the rest.
    expect(r.raw).toMatch(/(?:\[install\] http:s\d@1\.0\.0 \.\.\. [^\r\n]*\r\n){3}\.\.\. and 2 more running\r\n/)
    // Never all five at once: that frame would not fit.
    expect(r.raw).not.toMatch(/(?:\[[a-z]+\] http:s\d@1\.0\.0 \.\.\. [\d.][^\r\n]*\r\n){5}/)
    expect(finalScreen(r.raw).filter((l) => LIVE.test(l) || l.includes("more running"))).toEqual([])
  }, 60_000)

  it("with --quiet: only the result, no progress and no escape codes", async () => {
    const r = await engineOnTty(["install", "--quiet"], { cwd: installDir, env: fresh() })
    expect(r.code, r.raw).toBe(0)
    expect(r.raw).not.toContain("\x1b")
    expect(finalScreen(r.raw)).toEqual([`http:slow@1.0.0  installed  ${path.join(work, `data-${runs}`, "installs", "http-slow", "1.0.0")}`])
  }, 60_000)
})

describe("progress off a terminal", () => {
  it("prints one line when each task starts and one when it ends, then the summary; no escape codes", async () => {
    const env = fresh()
    const r = await engine(["install"], { cwd: installDir, env })
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).not.toContain("\x1b")
    expect(r.stderr.split("\n").filter((l) => l.startsWith("[") || l.startsWith("tasks:"))).toEqual([
      "[resolve] http:slow@1.0.0 ...",
      expect.stringMatching(/^\[resolve\] http:slow@1\.0\.0 \.\.\. done [\d.]+s$/),
      "[install] http:slow@1.0.0 ...",
      expect.stringMatching(/^\[install\] http:slow@1\.0\.0 \.\.\. done [\d.]+s$/),
      expect.stringMatching(/^tasks: 2 ran, 0 cached \(saved 0\.0s\) in [\d.]+s$/)
    ])
    // Run again: both tasks are cache hits, and the summary counts the time they took the first time.
    const again = await engine(["install"], { cwd: installDir, env })
    expect(again.code, again.stderr).toBe(0)
    expect(again.stderr.split("\n").filter((l) => l !== "")).toEqual([
      "[resolve] http:slow@1.0.0 ... cached",
      "[install] http:slow@1.0.0 ... cached",
      expect.stringMatching(/^tasks: 0 ran, 2 cached \(saved (?!0\.0s)[\d.]+s\) in [\d.]+s$/)
    ])
  }, 60_000)

  it("--quiet prints nothing on stderr but the error", async () => {
    const ok = await engine(["install", "-q"], { cwd: installDir, env: fresh() })
    expect(ok.code, ok.stderr).toBe(0)
    expect(ok.stderr).toBe("")
    expect(ok.stdout).toMatch(/^http:slow@1\.0\.0 {2}installed {2}/)
    const failed = await engine(["install", "-q"], { cwd: brokenDir, env: fresh() })
    expect(failed.code).toBe(4)
    expect(failed.stderr).toBe(`error: http:gone@1.0.0: download of ${url}/gone-1.0.0.tar.gz failed: HTTP 404 Not Found\n`)
  }, 60_000)
})
