import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { engine, readLayout, repoRoot } from "../../../../test/support/Cli"
import { skopeoInspect, umociUnpack } from "../../../../test/support/Validate"
import { tempDir } from "../support/Context"
import { startServer, type TestServer } from "../support/Server"
import { buildNodeTarball, NODE_VERSION, serveNodeMirror } from "./NodeMirror"

const MAJOR = NODE_VERSION.split(".")[0]!

let server: TestServer
let root: string
let mirror = ""

beforeAll(async () => {
  server = await startServer()
  root = tempDir("core-node-e2e")
  // The CLI bundle is built once by test/globalSetup.ts.
  const tarball = await buildNodeTarball(root)
  mirror = serveNodeMirror(server, "/dist/", tarball)
})
afterAll(async () => {
  await server.close()
  fs.rmSync(root, { recursive: true, force: true })
})

describe("engine build with a core tool", () => {
  it(`node = "${MAJOR}" from a [settings] node.mirror_url mirror becomes a layer whose node runs, on PATH`, async () => {
    const project = path.join(root, "project")
    fs.mkdirSync(project)
    fs.writeFileSync(path.join(project, "mise.toml"), `[tools]\nnode = "${MAJOR}"\n\n[settings]\nnode.mirror_url = "${mirror}"\n`)
    const out = path.join(root, "out")
    const result = await engine(["build", "--from", "scratch", "--no-mise", "-o", out, "-t", "e2e"], {
      cwd: project,
      env: { ENGINE_DATA_DIR: path.join(root, "data"), ENGINE_CACHE_DIR: path.join(root, "cache") }
    })
    expect(result.stderr).not.toMatch(/error/i)
    expect(result.code).toBe(0)
    expect(server.hits("/dist/index.json")).toBe(1)

    expect(skopeoInspect(out)).toMatchObject({ Os: "linux" })
    const rootfs = umociUnpack(out, "e2e")
    const node = path.join(rootfs, "mise", "installs", "node", NODE_VERSION, "bin", "node")
    expect(fs.statSync(node).mode & 0o777).toBe(0o755)
    expect(fs.readlinkSync(path.join(path.dirname(node), "npm"))).toBe("../lib/node_modules/npm/bin/npm-cli.js")
    const version = await new Promise<string>((resolve, reject) => {
      const child = spawn(node, ["--version"], { stdio: ["ignore", "pipe", "inherit"] })
      let stdout = ""
      child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d))
      child.on("error", reject)
      child.on("close", () => resolve(stdout.trim()))
    })
    expect(version).toBe(`v${NODE_VERSION}`)

    // The unpacked bundle holds a 100 MB node; it goes with the test.
    fs.rmSync(path.dirname(rootfs), { recursive: true, force: true })

    const pathEnv = readLayout(out).config.config.Env.find((e) => e.startsWith("PATH="))
    expect(pathEnv?.slice("PATH=".length).split(":")).toContain(`/mise/installs/node/${NODE_VERSION}/bin`)
  }, 60_000)
})
