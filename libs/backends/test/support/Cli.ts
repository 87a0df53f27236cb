import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

export const repoRoot = fileURLToPath(new URL("../../../..", import.meta.url)).replace(/\/$/, "")
export const engineBin = path.join(repoRoot, "apps", "cli", "bin", "engine.cjs")


/** The bundle is built once by test/globalSetup.ts; rebuilding it here could cut it under another test's feet. */
export const buildCli = async (): Promise<void> => {
  if (!fs.existsSync(path.join(repoRoot, "apps", "cli", "dist", "engine.cjs"))) {
    throw new Error("the CLI is not built: run the tests through vitest (test/globalSetup.ts builds it) or `npm run build`")
  }
}

export interface RunResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs the CLI with exactly `env`, without blocking: the fixture servers answering it live in this process. */
export const runEngine = (args: ReadonlyArray<string>, cwd: string, env: Record<string, string>): Promise<RunResult> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [engineBin, ...args], { cwd, env: { ENGINE_DAEMON: "0", ...env }, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d))
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d))
    child.on("error", reject)
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }))
  })
