// Start-up cost: `engine --version` and `engine --help` against bare `node -e ''` in the same run (hyperfine if present).
import { spawnSync } from "node:child_process"
import { engineBin, fmt, median, time } from "./lib.mjs"

const runs = Number(process.argv[2] ?? 20)
if (spawnSync("sh", ["-c", "command -v hyperfine"]).status === 0) {
  spawnSync("hyperfine", ["-N", "--warmup", "3", "-r", String(runs), "node -e ''", `node ${engineBin} --version`, `node ${engineBin} backends`], {
    stdio: "inherit"
  })
}
const node = median(time(process.execPath, ["-e", ""], { runs }))
const version = median(time(process.execPath, [engineBin, "--version"], { runs }))
const backends = median(time(process.execPath, [engineBin, "backends"], { runs }))
console.log(`node -e ''          ${fmt(node)}`)
console.log(`engine --version    ${fmt(version)}  (+${fmt(version - node)} over node; budget +0.120 s)`)
console.log(`engine backends     ${fmt(backends)}  (+${fmt(backends - node)} over node: the full CLI bundle)`)
