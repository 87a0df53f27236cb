// Shared helpers for the benchmarks: deterministic tool trees, the real mise, timing and medians.
import { execFileSync, spawnSync } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
/** `engine` as a user runs it (the launcher npm links); `ENGINE_BIN` points at another build, for A/B runs. */
export const engineBin = process.env.ENGINE_BIN ?? path.join(repo, "apps", "cli", "bin", "engine")

/**
 * The daemon for a benchmark: `on`, a private daemon (its socket under `work`), started before timing so no timed
 * run pays its start; off, `ENGINE_DAEMON=0`: every command starts Node and loads the engine, as in CI.
 */
export const daemonEnv = (work, on) => (on ? { ENGINE_DAEMON: "1", ENGINE_DAEMON_DIR: path.join(work, "daemon") } : { ENGINE_DAEMON: "0" })
export const startDaemon = (env) => {
  const r = spawnSync(engineBin, ["daemon", "start"], { env, encoding: "utf8" })
  if (r.status !== 0) throw new Error(`engine daemon start failed: ${r.stderr}`)
}
export const stopDaemon = (env) => spawnSync(engineBin, ["daemon", "stop"], { env, encoding: "utf8" })
export const MISE_VERSION = "2026.9.15"

/** Deterministic bytes: half text-like (compressible), half pseudo-random (not), like real tool installs. */
const bytes = (seed, size) => {
  const out = Buffer.alloc(size)
  let block = crypto.createHash("sha256").update(seed).digest()
  for (let off = 0; off < size; off += 32) {
    block = crypto.createHash("sha256").update(block).digest()
    block.copy(out, off, 0, Math.min(32, size - off))
  }
  const text = Buffer.from("export function f(x) { return x * 2 } // lorem ipsum dolor sit amet\n")
  for (let off = 0; off < size / 2; off += text.length) text.copy(out, off, 0, Math.min(text.length, size / 2 - off))
  return out
}

/** An installed tool of about `mb` MB at `<data>/installs/http-<name>/<version>` (files of 1 MB plus a bin). */
export const makeTool = (data, name, version, mb) => {
  const root = path.join(data, "installs", `http-${name}`, version)
  // The marker sits beside the version dir so it is not part of the layer.
  const marker = path.join(path.dirname(root), `.${version}.bench-complete`)
  if (fs.existsSync(marker)) return root
  fs.rmSync(root, { recursive: true, force: true })
  fs.mkdirSync(path.join(root, "bin"), { recursive: true })
  fs.mkdirSync(path.join(root, "lib"), { recursive: true })
  fs.writeFileSync(path.join(root, "bin", name), `#!/bin/sh\necho ${name} ${version}\n`, { mode: 0o755 })
  for (let i = 0; i < mb; i++) fs.writeFileSync(path.join(root, "lib", `part-${String(i).padStart(4, "0")}.bin`), bytes(`${name}-${version}-${i}`, 1 << 20))
  fs.writeFileSync(marker, "")
  return root
}

export const toolToml = (tools) =>
  "[tools]\n" + tools.map(([name, version]) => `"http:${name}" = { version = "${version}", url = "http://127.0.0.1:9/${name}.tar.gz" }`).join("\n") + "\n"

/** The real mise from npm, installed once under bench/.work. */
export const ensureMise = () => {
  if (process.env.MISE_BIN) return process.env.MISE_BIN
  const prefix = path.join(repo, "bench", ".work", "mise")
  const bin = path.join(prefix, "node_modules", "@jdxcode", "mise", "bin", "mise")
  if (!fs.existsSync(bin)) {
    fs.mkdirSync(prefix, { recursive: true })
    execFileSync("npm", ["install", "--no-save", "--no-audit", "--no-fund", "--prefix", prefix, `@jdxcode/mise@${MISE_VERSION}`], { stdio: "inherit" })
  }
  return bin
}

/** Runs `cmd args` `runs` times (after one warm-up unless `warmup` is false); returns wall-clock seconds. */
export const time = (cmd, args, { runs = 5, warmup = true, env, cwd, before } = {}) => {
  const samples = []
  for (let i = warmup ? -1 : 0; i < runs; i++) {
    if (before) before()
    const t0 = process.hrtime.bigint()
    const r = spawnSync(cmd, args, { env, cwd, encoding: "utf8" })
    const dt = Number(process.hrtime.bigint() - t0) / 1e9
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stderr}`)
    if (i >= 0) samples.push(dt)
  }
  return samples
}

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

export const fmt = (s) => `${s.toFixed(3)} s`

/** The environment both builders run with: one data dir, private caches and configs, a fixed SOURCE_DATE_EPOCH. */
export const benchEnv = (work, data, proj) => ({
  PATH: process.env.PATH,
  HOME: path.join(work, "home"),
  MISE_EXPERIMENTAL: "1",
  MISE_DATA_DIR: data,
  MISE_CACHE_DIR: path.join(work, "mise-cache"),
  MISE_CONFIG_DIR: path.join(work, "mise-config"),
  MISE_TRUSTED_CONFIG_PATHS: proj,
  ENGINE_CACHE_DIR: path.join(work, "engine-cache"),
  ENGINE_QUIET: "1",
  SOURCE_DATE_EPOCH: "1700000000"
})
