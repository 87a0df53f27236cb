import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { engine, readLayout, type RunResult } from "../../../../test/support/Cli"
import { skopeoInspect, umociUnpack } from "../../../../test/support/Validate"
import { tempDir } from "../support/Context"
import { startServer, type TestServer } from "../support/Server"
import { type CoreUpstreams, serveCoreUpstreams } from "./CoreMirrors"
import { buildNodeTarball, NODE_VERSION, serveNodeMirror } from "./NodeMirror"

// One image holding every core tool, each from its own loopback upstream in the real format, built once by the CLI
// and validated once: node (this machine's node), go (Debian's go), python (the system python), java, deno, bun, zig.

const MAJOR = NODE_VERSION.split(".")[0]!
/** Asynchronous: the fixture server lives in this process. */
const exec = promisify(execFile)

let server: TestServer
let root: string
let core: CoreUpstreams
let out = ""
let result: RunResult
let rootfs = ""

beforeAll(async () => {
  server = await startServer()
  root = tempDir("core-e2e")
  // The CLI bundle is built once by test/globalSetup.ts.
  const mirror = serveNodeMirror(server, "/dist/", await buildNodeTarball(root))
  core = await serveCoreUpstreams(server, root)
  const project = path.join(root, "project")
  fs.mkdirSync(project)
  fs.writeFileSync(
    path.join(project, "mise.toml"),
    `[tools]
node = "${MAJOR}"
go = "latest"
python = "${core.versions.python.split(".").slice(0, 2).join(".")}"
java = "lts"
deno = "2"
bun = "latest"
zig = "0.13"

[settings]
node.mirror_url = "${mirror}"
${core.settings}
`
  )
  out = path.join(root, "out")
  result = await engine(["build", "--from", "scratch", "--no-mise", "-o", out, "-t", "e2e"], {
    cwd: project,
    env: { ENGINE_DATA_DIR: path.join(root, "data"), ENGINE_CACHE_DIR: path.join(root, "cache"), HOME: path.join(root, "home") }
  })
}, 120_000)

afterAll(async () => {
  await server?.close()
  if (root !== undefined) fs.rmSync(root, { recursive: true, force: true })
  // The unpacked bundle holds a 100 MB node; it goes with the test.
  if (rootfs !== "") fs.rmSync(path.dirname(rootfs), { recursive: true, force: true })
})

const installs = (tool: string, version: string) => `/mise/installs/${tool}/${version}`

describe("engine build with every core tool in one image", () => {
  it("resolves node, go latest, python, java lts, deno, bun latest and zig against their upstreams: one layer each", () => {
    expect(result.code, result.stderr).toBe(0)
    expect(result.stderr).not.toMatch(/error|warning/i)
    const layers = result.stdout.split("\n").filter((l) => l.startsWith("  ")).map((l) => l.trim().split(/\s+/)[0])
    expect(layers.sort()).toEqual([
      `bun@${core.versions.bun}`,
      `deno@${core.versions.deno}`,
      `go@${core.versions.go}`,
      `java@${core.versions.java}`,
      `node@${NODE_VERSION}`,
      `python@${core.versions.python}`,
      `zig@${core.versions.zig}`
    ])
    expect(server.hits("/dist/index.json")).toBe(1)
  })

  it("is a layout skopeo inspects and umoci unpacks", () => {
    expect(skopeoInspect(out)).toMatchObject({ Os: "linux" })
    const tools = readLayout(out).manifest.layers.map((l) => l.annotations?.["dev.mise.tool.short"]).filter((t) => t !== undefined)
    expect(tools.sort()).toEqual(["bun", "deno", "go", "java", "node", "python", "zig"])
    rootfs = umociUnpack(out, "e2e")
    expect(fs.readdirSync(path.join(rootfs, "mise", "installs")).sort()).toEqual(["bun", "deno", "go", "java", "node", "python", "zig"])
  })

  it("every tool runs from the unpacked rootfs and prints the fixture's version", async () => {
    const at = (p: string) => path.join(rootfs, p)
    const v = core.versions
    const stdout = async (file: string, args: ReadonlyArray<string>) => (await exec(at(file), args, { env: { PATH: "/usr/bin:/bin" } })).stdout
    const node = at(`${installs("node", NODE_VERSION)}/bin/node`)
    expect(fs.statSync(node).mode & 0o777).toBe(0o755)
    expect(fs.readlinkSync(path.join(path.dirname(node), "npm"))).toBe("../lib/node_modules/npm/bin/npm-cli.js")
    expect(await stdout(`${installs("node", NODE_VERSION)}/bin/node`, ["--version"])).toBe(`v${NODE_VERSION}\n`)
    // Debian's go, with no GOROOT in its env: it finds its root from its own path, which is the install dir.
    expect(await stdout(`${installs("go", v.go)}/bin/go`, ["version"])).toBe(`go version go${v.go} linux/${process.arch === "x64" ? "amd64" : "arm64"}\n`)
    expect(await stdout(`${installs("go", v.go)}/bin/go`, ["env", "GOROOT"])).toBe(`${at(installs("go", v.go))}\n`)
    expect(await stdout(`${installs("python", v.python)}/bin/python`, ["--version"])).toBe(`Python ${v.python}\n`)
    expect(await stdout(`${installs("python", v.python)}/bin/python3`, ["-c", "import sys; print(sys.executable)"])).toBe(
      `${at(installs("python", v.python))}/bin/python3\n`
    )
    expect((await exec(at(`${installs("java", v.java)}/bin/java`), ["-version"])).stderr).toBe("openjdk version \"21.0.4\" 2024-07-16 LTS\n")
    expect(await stdout(`${installs("deno", v.deno)}/bin/deno`, ["--version"])).toMatch(/^deno 2\.1\.4 \(stable, release, /)
    expect(await stdout(`${installs("bun", v.bun)}/bin/bunx`, ["--version"])).toBe("1.1.38\n")
    expect(fs.readlinkSync(at(`${installs("bun", v.bun)}/bin/bunx`))).toBe("./bun")
    expect(await stdout(`${installs("zig", v.zig)}/bin/zig`, ["version"])).toBe("0.13.0\n")
  })

  it("puts each tool's exec env in the image config: JAVA_HOME, GOBIN and GOROOT, DENO_INSTALL_ROOT, every bin dir on PATH", () => {
    const v = core.versions
    const env = readLayout(out).config.config.Env
    const value = (name: string) => env.find((e) => e.startsWith(`${name}=`))?.slice(name.length + 1)
    expect(value("JAVA_HOME")).toBe(installs("java", v.java))
    expect(value("GOBIN")).toBe(`${installs("go", v.go)}/bin`)
    expect(value("GOROOT")).toBe(installs("go", v.go))
    expect(value("DENO_INSTALL_ROOT")).toBe(`${installs("deno", v.deno)}/.deno`)
    expect(value("PATH")?.split(":")).toEqual(expect.arrayContaining([
      `${installs("node", NODE_VERSION)}/bin`,
      `${installs("go", v.go)}/bin`,
      `${installs("python", v.python)}/bin`,
      `${installs("java", v.java)}/bin`,
      `${installs("deno", v.deno)}/bin`,
      `${installs("deno", v.deno)}/.deno/bin`,
      `${installs("bun", v.bun)}/bin`,
      `${installs("zig", v.zig)}/bin`
    ]))
  })
})
