// Start-up cost: `engine --version` and `engine backends` against bare `node -e ''` in the same run (hyperfine if
// present), without the daemon (a process per command: Node starts and loads the bundle) and through it.
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { daemonEnv, engineBin, fmt, median, startDaemon, stopDaemon, time } from "./lib.mjs"

const runs = Number(process.argv[2] ?? 20)
const work = fs.mkdtempSync(path.join(os.tmpdir(), "engine-startup-"))
const alone = { ...process.env, ...daemonEnv(work, false) }
const daemon = { ...process.env, ...daemonEnv(work, true) }
if (spawnSync("sh", ["-c", "command -v hyperfine"]).status === 0) {
  spawnSync("hyperfine", ["-N", "--warmup", "3", "-r", String(runs), "node -e ''", `${engineBin} --version`, `${engineBin} backends`], {
    stdio: "inherit",
    env: alone
  })
}
const node = median(time(process.execPath, ["-e", ""], { runs }))
const version = median(time(engineBin, ["--version"], { runs, env: alone }))
const backends = median(time(engineBin, ["backends"], { runs, env: alone }))
startDaemon(daemon)
const viaDaemon = median(time(engineBin, ["backends"], { runs, env: daemon }))
stopDaemon(daemon)
fs.rmSync(work, { recursive: true, force: true })
console.log(`node -e ''                    ${fmt(node)}`)
console.log(`engine --version              ${fmt(version)}  (+${fmt(version - node)} over node; budget +0.120 s)`)
console.log(`engine backends, no daemon    ${fmt(backends)}  (+${fmt(backends - node)} over node: the full CLI bundle)`)
console.log(`engine backends, daemon       ${fmt(viaDaemon)}  (the native client hands it to the running daemon)`)
