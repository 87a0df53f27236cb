import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { engine } from "./support/Cli"
import { makeHelloTool, put } from "./support/Fixtures"
import { type FixtureServer, startFixtureServer } from "./support/FixtureServer"

// `engine install` runs the resolve and install tasks of `engine build` over the same cache: observed through its
// `--json` task list, the downloads the fixture server saw, and the install dirs.
let work: string
let server: FixtureServer
let proj: string

interface InstallJson {
  readonly tools: ReadonlyArray<{ tool: string; version: string; installDir: string; installed: boolean }>
  readonly tasks: {
    readonly ran: number
    readonly cached: number
    readonly results: ReadonlyArray<{ task: string; id: string; kind: string; status: string; key?: string }>
  }
}

const env = (name: string) => ({
  ENGINE_DATA_DIR: path.join(work, `data-${name}`),
  ENGINE_CACHE_DIR: path.join(work, `cache-${name}`),
  HOME: path.join(work, "home"),
  SOURCE_DATE_EPOCH: "1700000000"
})

const tool = (name: string, dir: string, version: string) =>
  `"http:${name}" = { version = "${version}", url = "${server.url}/${dir}/hello-{{ version }}.tar.gz", bin_path = "bin", strip_components = 1 }`

const installJson = async (cwd: string, e: Record<string, string>, extra: ReadonlyArray<string> = []) => {
  const r = await engine(["install", "--json", ...extra], { cwd, env: e })
  expect(r.code, r.stderr).toBe(0)
  return { json: JSON.parse(r.stdout) as InstallJson, stderr: r.stderr }
}

const statuses = (j: InstallJson) => Object.fromEntries(j.tasks.results.map((t) => [t.id, t.status]))
const downloads = () => server.requests.filter((r) => r.endsWith(".tar.gz"))

beforeAll(async () => {
  work = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "engine-install-")))
  fs.mkdirSync(path.join(work, "home"))
  const dist = path.join(work, "dist")
  fs.mkdirSync(path.join(dist, "a"), { recursive: true })
  fs.mkdirSync(path.join(dist, "b"), { recursive: true })
  makeHelloTool(path.join(dist, "a"), "1.0.0")
  makeHelloTool(path.join(dist, "b"), "2.0.0")
  server = await startFixtureServer(dist)
  proj = path.join(work, "proj")
  put(path.join(proj, "mise.toml"), `[tools]\n${tool("hello", "a", "1.0.0")}\n${tool("world", "b", "2.0.0")}\n`)
}, 60_000)

afterAll(async () => {
  await server?.close()
  if (work !== undefined) fs.rmSync(work, { recursive: true, force: true })
})

describe("engine install through the task graph", () => {
  it("installs once; a second install is all cache hits, downloads nothing and says so", async () => {
    const e = env("noop")
    const before = downloads().length
    const first = await installJson(proj, e)
    expect(statuses(first.json)).toEqual({
      "resolve:http:hello": "ran",
      "install:http:hello": "ran",
      "resolve:http:world": "ran",
      "install:http:world": "ran"
    })
    expect(first.json.tools).toEqual([
      { tool: "http:hello", version: "1.0.0", installDir: path.join(e.ENGINE_DATA_DIR, "installs", "http-hello", "1.0.0"), installed: true },
      { tool: "http:world", version: "2.0.0", installDir: path.join(e.ENGINE_DATA_DIR, "installs", "http-world", "2.0.0"), installed: true }
    ])
    expect(downloads().length - before).toBe(2)
    expect(fs.readFileSync(path.join(e.ENGINE_DATA_DIR, "installs", "http-hello", "1.0.0", "bin", "hello"), "utf8")).toContain("hello 1.0.0")

    const second = await engine(["install"], { cwd: proj, env: e })
    expect(second.code, second.stderr).toBe(0)
    expect(second.stdout.split("\n").filter((l) => l !== "")).toEqual([
      `http:hello@1.0.0  already installed  ${path.join(e.ENGINE_DATA_DIR, "installs", "http-hello", "1.0.0")}`,
      `http:world@2.0.0  already installed  ${path.join(e.ENGINE_DATA_DIR, "installs", "http-world", "2.0.0")}`
    ])
    expect(second.stderr).toMatch(/^tasks: 0 ran, 4 cached /m)
    expect(second.stderr).not.toContain("installing")
    expect(downloads().length - before).toBe(2)
  }, 120_000)

  it("a build after it finds its resolve and install tasks done: same keys, same cache", async () => {
    const e = env("then-build")
    const installed = await installJson(proj, e)
    const before = downloads().length
    const r = await engine(["build", "--from", "scratch", "--no-mise", "-o", "out", "--json"], { cwd: proj, env: e })
    expect(r.code, r.stderr).toBe(0)
    const built = JSON.parse(r.stdout) as Pick<InstallJson, "tasks">
    const graphTasks = built.tasks.results.filter((t) => t.kind === "resolve" || t.kind === "install")
    expect(graphTasks.map((t) => [t.id, t.status, t.key])).toEqual(
      installed.json.tasks.results.map((t) => [t.id, "cached", t.key])
    )
    expect(downloads().length).toBe(before)
  }, 120_000)

  it("--dry-run prints the tasks with their keys and whether they would hit; it installs nothing", async () => {
    const e = env("dry")
    const before = downloads().length
    const dry = await engine(["install", "--dry-run"], { cwd: proj, env: e })
    expect(dry.code, dry.stderr).toBe(0)
    expect(dry.stdout).toContain("install:http:hello")
    expect(dry.stdout).toMatch(/0 of 4 tasks would be cache hits, 4 would run/)
    expect(fs.existsSync(path.join(e.ENGINE_DATA_DIR, "installs"))).toBe(false)
    expect(downloads().length).toBe(before)
    await installJson(proj, e)
    const again = await engine(["install", "--dry-run=json"], { cwd: proj, env: e })
    expect(again.code, again.stderr).toBe(0)
    const plan = JSON.parse(again.stdout) as { tasks: ReadonlyArray<{ id: string; status: string }>; hits: number; runs: number }
    expect([plan.hits, plan.runs]).toEqual([4, 0])
  }, 120_000)

  it("a tool already on disk without a cache entry (installed by mise) is not installed again", async () => {
    const e = env("on-disk")
    await installJson(proj, e)
    const before = downloads().length
    const other = { ...e, ENGINE_CACHE_DIR: path.join(work, "cache-on-disk-2") }
    const r = await installJson(proj, other)
    expect(statuses(r.json)["install:http:hello"]).toBe("ran")
    expect(r.json.tools.map((t) => t.installed)).toEqual([false, false])
    expect(downloads().length).toBe(before)
  }, 120_000)

  it("an install dir removed behind the cache's back is installed again, not taken from the cache", async () => {
    const e = env("removed")
    await installJson(proj, e)
    fs.rmSync(path.join(e.ENGINE_DATA_DIR, "installs", "http-world"), { recursive: true })
    const r = await installJson(proj, e)
    expect(statuses(r.json)).toMatchObject({ "install:http:hello": "cached", "install:http:world": "ran" })
    expect(r.json.tools.map((t) => [t.tool, t.installed])).toEqual([["http:hello", false], ["http:world", true]])
    expect(fs.existsSync(path.join(e.ENGINE_DATA_DIR, "installs", "http-world", "2.0.0", "bin", "hello"))).toBe(true)
  }, 120_000)

  it("--continue installs the tools that do not depend on a failed one, then exits 4 with the failure", async () => {
    const broken = path.join(work, "broken")
    put(path.join(broken, "mise.toml"), `[tools]\n${tool("gone", "nowhere", "1.0.0")}\n${tool("hello", "a", "1.0.0")}\n`)
    const e = env("continue")
    const r = await engine(["install", "--continue", "-j", "1"], { cwd: broken, env: e })
    expect(r.code, r.stderr).toBe(4)
    expect(r.stderr).toContain(`error: http:gone@1.0.0: download of ${server.url}/nowhere/hello-1.0.0.tar.gz failed: HTTP 404 Not Found`)
    expect(r.stderr).toMatch(/^\[install\] http:hello@1\.0\.0 \.\.\. done/m)
    expect(r.stderr).toMatch(/^tasks: 3 ran, 0 cached, 1 failed /m)
    expect(fs.existsSync(path.join(e.ENGINE_DATA_DIR, "installs", "http-hello", "1.0.0", "bin", "hello"))).toBe(true)
  }, 120_000)

  it("-j takes a whole number of tasks, at least 1", async () => {
    const r = await engine(["install", "-j", "0"], { cwd: proj, env: env("jobs") })
    expect(r.code).toBe(2)
    expect(r.stderr).toBe("error: -j/--jobs 0: expected a whole number of tasks, at least 1\n")
  }, 60_000)
})
