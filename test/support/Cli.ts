import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

export const repoRoot = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/$/, "")
export const engineBin = path.join(repoRoot, "apps", "cli", "bin", "engine.cjs")

export interface RunResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/**
 * Runs the built `engine` CLI as a user would, with a clean, explicit environment. Asynchronous on purpose:
 * the fixture servers live in the test process, and a blocking spawn would stop them from answering.
 */
export const engine = (
  args: ReadonlyArray<string>,
  opts: { cwd: string; env?: Record<string, string> }
): Promise<RunResult> => {
  if (!fs.existsSync(path.join(repoRoot, "apps", "cli", "dist", "engine.cjs"))) {
    throw new Error("the CLI is not built: run `npm run build` first (npm test does)")
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [engineBin, ...args], {
      cwd: opts.cwd,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", ENGINE_DAEMON: "0", ...opts.env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d))
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d))
    const timer = setTimeout(() => child.kill("SIGKILL"), 300_000)
    child.on("error", reject)
    child.on("close", (code) => {
      clearTimeout(timer)
      resolve({ code: code ?? -1, stdout, stderr })
    })
  })
}

export interface LayoutView {
  readonly index: { manifests: Array<{ digest: string; size: number; annotations?: Record<string, string> }> }
  readonly manifest: {
    config: { digest: string }
    layers: Array<{ mediaType: string; digest: string; size: number; annotations?: Record<string, string> }>
  }
  readonly config: {
    created: string
    architecture: string
    os: string
    config: { Env: Array<string>; WorkingDir?: string; Labels?: Record<string, string>; User?: string; Cmd?: Array<string>; Entrypoint?: Array<string> }
    rootfs: { diff_ids: Array<string> }
  }
  readonly configRaw: string
  readonly blob: (digest: string) => string
}

/** Reads an OCI layout back the way a runtime would: index → manifest → config. */
export const readLayout = (dir: string): LayoutView => {
  const blob = (digest: string) => path.join(dir, "blobs", "sha256", digest.replace(/^sha256:/, ""))
  const index = JSON.parse(fs.readFileSync(path.join(dir, "index.json"), "utf8")) as LayoutView["index"]
  const manifest = JSON.parse(fs.readFileSync(blob(index.manifests[0]!.digest), "utf8")) as LayoutView["manifest"]
  const configRaw = fs.readFileSync(blob(manifest.config.digest), "utf8")
  return { index, manifest, config: JSON.parse(configRaw) as LayoutView["config"], configRaw, blob }
}
