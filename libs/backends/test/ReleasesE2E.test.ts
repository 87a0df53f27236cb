import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { buildCli, runEngine, type RunResult } from "./support/Cli"
import { tempDir } from "./support/Context"
import { serveForgejo, serveGitHub, serveGitLab, toolScript, typicalAssets } from "./support/Forges"
import { startServer, type TestServer } from "./support/Server"

// Builds an image with the real CLI from a mise.toml naming one tool per release backend, each served by the
// loopback forge APIs below, and checks the layout with skopeo and umoci. Every child process is started
// asynchronously: the fixture server lives in this process and must keep answering while the build runs.

const exec = promisify(execFile)

let server: TestServer
let work: string

/** The build each tool should pick for the image's arch (the host's). */
const build = process.arch === "arm64" ? "linux-arm64-gnu" : "linux-x64-gnu"

beforeAll(async () => {
  await buildCli()
  server = await startServer()
  work = tempDir("releases-e2e")
  const releases = [
    { tag: "v1.2.0-rc.1", prerelease: true, assets: await typicalAssets("hello", "1.2.0-rc.1") },
    { tag: "v1.1.0", assets: await typicalAssets("hello", "1.1.0") },
    { tag: "v1.0.0", assets: await typicalAssets("hello", "1.0.0") }
  ]
  serveGitHub(server, { base: "/api/v3", repo: "acme/hello", pageSize: 2, latest: true, releases })
  serveGitLab(server, { repo: "acme/hello", pageSize: 2, releases })
  serveForgejo(server, { repo: "acme/hello", pageSize: 2, releases })
})

afterAll(async () => {
  await server?.close()
  if (work !== undefined) fs.rmSync(work, { recursive: true, force: true })
})

const engine = (args: ReadonlyArray<string>, cwd: string, env: Record<string, string>): Promise<RunResult> =>
  runEngine(args, cwd, { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env })

describe("engine build with github, gitlab, forgejo and ubi tools", () => {
  let out = ""
  let result: RunResult

  beforeAll(async () => {
    const project = path.join(work, "project")
    fs.mkdirSync(project, { recursive: true })
    const url = server.url
    fs.writeFileSync(
      path.join(project, "mise.toml"),
      `[tools]
"github:acme/hello" = { version = "1.1", api_url = "${url}/api/v3" }
"gitlab:acme/hello" = { version = "latest", api_url = "${url}/api/v4" }
"forgejo:acme/hello" = { version = "1.0.0", api_url = "${url}/api/v1" }
"ubi:acme/hello" = { version = "latest", api_url = "${url}/api/v3" }
`
    )
    out = path.join(project, "out")
    result = await engine(["build", "--from", "scratch", "--no-mise", "-o", out, "-t", "e2e"], project, {
      HOME: path.join(work, "home"),
      ENGINE_DATA_DIR: path.join(work, "data"),
      ENGINE_CACHE_DIR: path.join(work, "cache"),
      SOURCE_DATE_EPOCH: "1700000000"
    })
  })

  it("resolves each tool through its forge's API and writes one layer per tool", () => {
    expect(result.code, result.stderr).toBe(0)
    const layers = result.stdout.split("\n").filter((l) => l.startsWith("  "))
    expect(layers.map((l) => l.trim().split(/\s+/)[0]).sort()).toEqual([
      "forgejo:acme/hello@1.0.0",
      "github:acme/hello@1.1.0",
      "gitlab:acme/hello@1.1.0",
      "ubi:acme/hello@1.1.0"
    ])
  })

  it("is a layout skopeo reads, with every tool's bin dir on PATH", async () => {
    const inspected = JSON.parse((await exec("skopeo", ["inspect", "--config", `oci:${out}:e2e`])).stdout) as {
      config: { Env: Array<string> }
    }
    const pathVar = inspected.config.Env.find((e) => e.startsWith("PATH="))
    for (const dir of ["github-acme-hello/1.1.0/bin", "gitlab-acme-hello/1.1.0/bin", "forgejo-acme-hello/1.0.0/bin", "ubi-acme-hello/1.1.0/bin"]) {
      expect(pathVar).toContain(`/mise/installs/${dir}`)
    }
  })

  it("unpacks with umoci to a rootfs holding each tool's executable", async () => {
    const bundle = path.join(work, "bundle")
    await exec("umoci", ["unpack", "--image", `${out}:e2e`, bundle])
    const installs = path.join(bundle, "rootfs", "mise", "installs")
    const expected: ReadonlyArray<readonly [string, string]> = [
      ["github-acme-hello/1.1.0/bin/hello", toolScript("hello", "1.1.0", build)],
      ["gitlab-acme-hello/1.1.0/bin/hello", toolScript("hello", "1.1.0", build)],
      ["forgejo-acme-hello/1.0.0/bin/hello", toolScript("hello", "1.0.0", build)],
      ["ubi-acme-hello/1.1.0/bin/hello", toolScript("hello", "1.1.0", build)]
    ]
    for (const [file, content] of expected) {
      expect(fs.readFileSync(path.join(installs, file), "utf8"), file).toBe(content)
      expect(fs.statSync(path.join(installs, file)).mode & 0o111, file).not.toBe(0)
      // Run from the unpacked rootfs: the tool prints the version and build it was picked as.
      expect((await exec(path.join(installs, file))).stdout, file).toBe(`hello ${file.split("/")[1]} ${build}\n`)
    }
    // ubi installs the executable alone; the other backends keep the archive's files.
    expect(fs.readdirSync(path.join(installs, "ubi-acme-hello", "1.1.0"))).toEqual(["bin"])
    expect(fs.existsSync(path.join(installs, "github-acme-hello", "1.1.0", "README.md"))).toBe(true)
  })
})
