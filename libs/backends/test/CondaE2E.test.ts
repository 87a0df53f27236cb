import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ensureMise } from "../../../test/support/Mise"
import { buildCli, runEngine, type RunResult } from "./support/Cli"
import { serveChannel, typicalPackages, writeChannel } from "./support/CondaChannel"
import { tempDir, tree } from "./support/Context"
import { startServer, type TestServer } from "./support/Server"

// Builds an image with the real CLI from a mise.toml naming a conda tool served by a loopback channel, checks the
// layout with skopeo and umoci, and runs the tool from the install and from the unpacked image. Child processes are
// started asynchronously: the channel lives in this process and must keep answering while the build runs.

const exec = promisify(execFile)
const subdir = process.arch === "arm64" ? "linux-aarch64" : "linux-64"

let server: TestServer
let work: string

beforeAll(async () => {
  await buildCli()
  server = await startServer()
  work = tempDir("conda-e2e")
  await writeChannel(path.join(work, "channel"), typicalPackages(subdir), work)
  serveChannel(server, "/channel", path.join(work, "channel"))
})

afterAll(async () => {
  await server?.close()
  if (work !== undefined) fs.rmSync(work, { recursive: true, force: true })
})

const engine = (args: ReadonlyArray<string>, cwd: string, env: Record<string, string>): Promise<RunResult> =>
  runEngine(args, cwd, { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env })

describe("engine build with a conda tool", () => {
  let out = ""
  let data = ""
  let result: RunResult
  const tool = path.join("installs", "conda-hello-conda", "1.1.0")

  beforeAll(async () => {
    const project = path.join(work, "project")
    fs.mkdirSync(project, { recursive: true })
    fs.writeFileSync(
      path.join(project, "mise.toml"),
      `[tools]\n"conda:hello-conda" = { version = "1.1", channel = "${server.url}/channel" }\n`
    )
    out = path.join(project, "out")
    data = path.join(work, "data")
    result = await engine(["build", "--from", "scratch", "--no-mise", "-o", out, "-t", "e2e"], project, {
      HOME: path.join(work, "home"),
      ENGINE_DATA_DIR: data,
      ENGINE_CACHE_DIR: path.join(work, "cache"),
      SOURCE_DATE_EPOCH: "1700000000"
    })
  })

  it("resolves the version from the channel and writes one layer for the whole prefix", () => {
    expect(result.code, result.stderr).toBe(0)
    const layers = result.stdout.split("\n").filter((l) => l.startsWith("  ")).map((l) => l.trim().split(/\s+/)[0])
    expect(layers).toEqual(["conda:hello-conda@1.1.0"])
  })

  it("runs from the install, its dependency's command on PATH through the launcher", async () => {
    const prefix = path.join(data, tool)
    const { stdout } = await exec(path.join(prefix, ".mise-bins", "hello-conda"), [], { env: { PATH: "/usr/bin:/bin" }, timeout: 30_000 })
    expect(stdout).toBe(
      `hello-conda 1.1.0\nCONDA_PREFIX=${fs.realpathSync(prefix)} activated=yes\ninstalled at ${prefix}\nlibs in ${prefix}/lib\nhello-dep 2.1.0 h1_1\n`
    )
  })

  it("is a layout skopeo reads, with the launchers (not the dependencies' bin) on PATH and no global CONDA_PREFIX", async () => {
    const inspected = JSON.parse((await exec("skopeo", ["inspect", "--config", `oci:${out}:e2e`])).stdout) as {
      config: { Env: Array<string> }
    }
    const pathVar = inspected.config.Env.find((e) => e.startsWith("PATH=")) ?? ""
    expect(pathVar.split(/[=:]/)).toContain("/mise/installs/conda-hello-conda/1.1.0/.mise-bins")
    expect(pathVar).not.toContain("conda-hello-conda/1.1.0/bin")
    expect(inspected.config.Env.some((e) => e.startsWith("CONDA_PREFIX="))).toBe(false)
  })

  it("unpacks with umoci, and the tool runs from the unpacked image with its prefix there", async () => {
    const bundle = path.join(work, "bundle")
    await exec("umoci", ["unpack", "--image", `${out}:e2e`, bundle])
    const prefix = path.join(bundle, "rootfs", "mise", tool)
    expect(fs.readdirSync(path.join(prefix, ".mise-bins")).sort()).toEqual(["hc", "hello-conda"])
    expect(fs.readdirSync(path.join(prefix, "bin")).sort()).toEqual(["hc", "hello-conda", "hello-dep"])
    expect(fs.statSync(path.join(prefix, "bin", "hello-dep")).mode & 0o111).not.toBe(0)
    expect(fs.readlinkSync(path.join(prefix, "bin", "hc"))).toBe("hello-conda")
    const { stdout } = await exec(path.join(prefix, ".mise-bins", "hc"), [], { env: { PATH: "/usr/bin:/bin" }, timeout: 30_000 })
    const lines = stdout.split("\n")
    expect(lines[0]).toBe("hello-conda 1.1.0")
    expect(lines[1]).toBe(`CONDA_PREFIX=${fs.realpathSync(prefix)} activated=yes`)
    expect(lines[4]).toBe("hello-dep 2.1.0 h1_1")
    // Text files hold the prefix they were installed at (the build machine's), as mise's do.
    expect(lines[2]).toBe(`installed at ${path.join(data, tool)}`)
  })

  it("installs the same prefix as mise 2026.9.15 does from the same channel, launchers aside", async () => {
    const project = path.join(work, "mise-project")
    fs.mkdirSync(project, { recursive: true })
    fs.writeFileSync(path.join(project, "mise.toml"), `[tools]\n"conda:hello-conda" = { version = "1.1", channel = "${server.url}/channel" }\n`)
    const miseData = path.join(work, "mise-data")
    await exec(ensureMise(), ["install"], {
      cwd: project,
      timeout: 120_000,
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: path.join(work, "mise-home"),
        MISE_DATA_DIR: miseData,
        MISE_CACHE_DIR: path.join(work, "mise-cache"),
        MISE_CONFIG_DIR: path.join(work, "mise-config"),
        MISE_STATE_DIR: path.join(work, "mise-state"),
        MISE_YES: "1",
        MISE_EXPERIMENTAL: "1"
      }
    })
    // Each file as `kind path mode` plus its bytes with the install path written as <prefix> (and NUL padding, whose
    // length depends on the path's, collapsed).
    const described = (prefix: string) =>
      tree(prefix).filter((line) => !line.includes(" .mise-bins/")).map((line) => {
        const [kind, rel] = line.split(" ")
        if (kind !== "f") return line
        const bytes = fs.readFileSync(path.join(prefix, rel!)).toString("latin1")
        return `${line} ${bytes.split(prefix).join("<prefix>").replace(/\u0000+/g, "\u0000")}`
      })
    const ours = described(path.join(data, tool))
    const theirs = described(path.join(miseData, tool))
    expect(ours).toEqual(theirs)
    expect(fs.readdirSync(path.join(data, tool, ".mise-bins")).sort()).toEqual(fs.readdirSync(path.join(miseData, tool, ".mise-bins")).sort())
  })
})
