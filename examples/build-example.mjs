// Builds examples/hello into examples/hello/out offline: the `hello` tool's release archive is
// generated here and served from 127.0.0.1:48199 for the duration of the build.
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const here = path.dirname(fileURLToPath(import.meta.url))
const project = path.join(here, "hello")
const dist = fs.mkdtempSync(path.join(os.tmpdir(), "engine-example-"))

const stage = path.join(dist, "hello-1.0.0")
fs.mkdirSync(path.join(stage, "bin"), { recursive: true })
fs.writeFileSync(path.join(stage, "bin", "hello"), '#!/bin/sh\necho "hello 1.0.0"\n', { mode: 0o755 })
fs.writeFileSync(path.join(stage, "README"), "hello!\n")
const tar = execFileSync("tar", ["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "-C", dist, "-cf", "-", "hello-1.0.0"])
fs.writeFileSync(path.join(dist, "hello-1.0.0.tar.gz"), execFileSync("gzip", ["-n"], { input: tar }))

const server = http.createServer((req, res) => {
  const file = path.join(dist, path.basename(new URL(req.url ?? "/", "http://x").pathname))
  if (!fs.existsSync(file) || !fs.statSync(file).isFile()) return res.writeHead(404).end()
  res.writeHead(200, { "content-length": fs.statSync(file).size })
  fs.createReadStream(file).pipe(res)
})
server.on("error", (e) => {
  console.error(`cannot serve the example's tool on 127.0.0.1:48199: ${e.message}`)
  process.exit(1)
})
server.listen(48199, "127.0.0.1", () => {
  const engine = path.join(here, "..", "apps", "cli", "bin", "engine.cjs")
  const dataDir = process.env.ENGINE_DATA_DIR ?? path.join(here, "hello", ".engine-data")
  const args = ["build", "--no-mise", "-o", "out", ...process.argv.slice(2)]
  console.error(`$ engine ${args.join(" ")}   (in examples/hello, ENGINE_DATA_DIR=${dataDir})`)
  // Not spawnSync: this process must stay free to answer the build's downloads.
  const child = spawn(process.execPath, [engine, ...args], {
    cwd: project,
    stdio: "inherit",
    env: { ...process.env, ENGINE_DATA_DIR: dataDir, ENGINE_DAEMON: process.env.ENGINE_DAEMON ?? "0" }
  })
  child.on("close", (code) => {
    server.close()
    fs.rmSync(dist, { recursive: true, force: true })
    process.exit(code ?? 1)
  })
})
