// engine push vs mise oci push vs skopeo copy, same 150 MB layout, to Debian's docker-registry on 127.0.0.1:
// cold (a new repository each run) and warm (the same repository again). Medians and ratios.
// Usage: node bench/push.mjs [runs]   (needs the layout of bench/build-vs-mise.mjs's "big" scenario)
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { daemonEnv, engineBin, ensureMise, fmt, median, repo, startDaemon, stopDaemon, time } from "./lib.mjs"

const runs = Number(process.argv[2] ?? 3)
const layout = path.join(repo, "bench", ".work", "build", "big", "out-engine")
if (!fs.existsSync(path.join(layout, "index.json"))) throw new Error(`no layout at ${layout}: run node bench/build-vs-mise.mjs first`)
const mise = ensureMise()

const freePort = () =>
  new Promise((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })

const work = fs.mkdtempSync(path.join(repo, "bench", ".work", "push-"))
const port = await freePort()
fs.writeFileSync(
  path.join(work, "config.yml"),
  `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${work}/storage\nhttp:\n  addr: 127.0.0.1:${port}\n`
)
const registry = spawn("docker-registry", ["serve", path.join(work, "config.yml")], { stdio: "ignore" })
for (let i = 0; i < 100; i++) {
  if (spawnSync("sh", ["-c", `exec 3<>/dev/tcp/127.0.0.1/${port}`], { shell: "/bin/bash" }).status === 0) break
  await new Promise((r) => setTimeout(r, 100))
}
const host = `127.0.0.1:${port}`
const env = { ...process.env, HOME: path.join(work, "home"), MISE_EXPERIMENTAL: "1", ENGINE_QUIET: "1" }
// skopeo's blob-info cache would turn "cold" copies into cross-repository mounts.
const clearSkopeoCache = () => fs.rmSync("/var/lib/containers/cache/blob-info-cache-v1.boltdb", { force: true })

// `engine` as users run it locally (through its daemon, started once before timing), and with the daemon off (CI).
const engineEnv = { ...env, ...daemonEnv(work, true) }

let n = 0
const tools = {
  engine: (dest) => [engineBin, ["push", "--image-dir", layout, dest], engineEnv],
  "engine-nd": (dest) => [engineBin, ["push", "--image-dir", layout, dest], { ...env, ...daemonEnv(work, false) }],
  mise: (dest) => [mise, ["oci", "push", "--image-dir", layout, dest]],
  skopeo: (dest) => ["skopeo", ["copy", "--quiet", "--dest-tls-verify=false", `oci:${layout}`, `docker://${dest}`]]
}
const results = {}
try {
  startDaemon(engineEnv)
  for (const [name, cmd] of Object.entries(tools)) {
    const cold = []
    const warm = []
    for (let i = 0; i < runs; i++) {
      const dest = `${host}/bench/${name}-${n++}:v1`
      clearSkopeoCache()
      const [program, argv, toolEnv = env] = cmd(dest)
      cold.push(...time(program, argv, { runs: 1, warmup: false, env: toolEnv }))
      clearSkopeoCache()
      warm.push(...time(program, argv, { runs: 1, warmup: false, env: toolEnv }))
    }
    results[name] = { cold: median(cold), warm: median(warm) }
  }
} finally {
  stopDaemon(engineEnv)
  registry.kill("SIGTERM")
  fs.rmSync(work, { recursive: true, force: true })
}

console.log(`push of a 150 MB layout to docker-registry on loopback (${runs} runs each, medians)`)
console.log("tool      cold        warm")
for (const [name, r] of Object.entries(results)) console.log(`${name.padEnd(9)} ${fmt(r.cold).padEnd(11)} ${fmt(r.warm)}`)
console.log(`engine/mise: cold ${(results.engine.cold / results.mise.cold).toFixed(2)} (target <= 0.8), warm ${(results.engine.warm / results.mise.warm).toFixed(2)} (target <= 1.0)`)
console.log(`engine without its daemon (ENGINE_DAEMON=0, as in CI)/mise: cold ${(results["engine-nd"].cold / results.mise.cold).toFixed(2)}, warm ${(results["engine-nd"].warm / results.mise.warm).toFixed(2)}`)
console.log(`engine/skopeo: cold ${(results.engine.cold / results.skopeo.cold).toFixed(2)}, warm ${(results.engine.warm / results.skopeo.warm).toFixed(2)}`)
