// engine build vs `mise oci build --no-mise --no-cache` on the same installed tools (one data dir), three sizes.
// Prints medians and the ratio engine/mise. Usage: node bench/build-vs-mise.mjs [runs]
// The engine runs without its daemon (ENGINE_DAEMON=0): a process per build, start-up included, as in CI.
import * as fs from "node:fs"
import * as path from "node:path"
import { benchEnv, daemonEnv, engineBin, ensureMise, fmt, makeTool, median, repo, time, toolToml } from "./lib.mjs"

const runs = Number(process.argv[2] ?? 5)
const work = path.join(repo, "bench", ".work", "build")
const data = path.join(work, "data")
const mise = ensureMise()

const scenarios = [
  { name: "small (1 tool, 1 MB)", tools: [["tiny", "1.0.0", 1]] },
  { name: "medium (8 tools, 60 MB)", tools: Array.from({ length: 8 }, (_, i) => [`mid${i}`, "1.0.0", i < 4 ? 10 : 5]) },
  { name: "big (1 tool, 150 MB)", tools: [["big", "1.0.0", 150]] }
]

const rows = []
for (const s of scenarios) {
  for (const [name, version, mb] of s.tools) makeTool(data, name, version, mb)
  const proj = path.join(work, s.name.split(" ")[0])
  fs.mkdirSync(proj, { recursive: true })
  fs.writeFileSync(path.join(proj, "mise.toml"), toolToml(s.tools))
  const env = { ...benchEnv(work, data, proj), ...daemonEnv(work, false) }
  const m = median(time(mise, ["oci", "build", "--from", "scratch", "--no-mise", "--no-cache", "-o", "out-mise"], { runs, env, cwd: proj }))
  const e = median(time(engineBin, ["build", "--from", "scratch", "--no-mise", "--no-cache", "-o", "out-engine"], { runs, env, cwd: proj }))
  const ew = median(time(engineBin, ["build", "--from", "scratch", "--no-mise", "-o", "out-engine"], { runs, env, cwd: proj }))
  rows.push({ scenario: s.name, mise: m, engine: e, ratio: e / m, engineWarm: ew })
}

console.log(`engine build vs mise oci build --no-mise --no-cache (${runs} runs each, medians, 2 cores)`)
console.log("scenario                    mise        engine      engine/mise   engine (warm cache)")
for (const r of rows) {
  console.log(`${r.scenario.padEnd(27)} ${fmt(r.mise).padEnd(11)} ${fmt(r.engine).padEnd(11)} ${r.ratio.toFixed(2).padEnd(13)} ${fmt(r.engineWarm)}`)
}
