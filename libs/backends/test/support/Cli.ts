import { execFile } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"

export const repoRoot = fileURLToPath(new URL("../../../..", import.meta.url)).replace(/\/$/, "")
export const engineBin = path.join(repoRoot, "apps", "cli", "bin", "engine.cjs")

const exec = promisify(execFile)
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** A build older than this is taken for one whose worker died holding the lock. */
const STALE_MS = 120_000

/**
 * `node apps/cli/build.mjs`, run asynchronously and one at a time across test workers: two builds writing the
 * bundle at once can leave another test's `engine` reading half a file.
 */
export const buildCli = async (): Promise<void> => {
  const key = createHash("sha256").update(repoRoot).digest("hex").slice(0, 12)
  const lock = path.join(os.tmpdir(), `engine-cli-build-${key}.lock`)
  for (;;) {
    try {
      fs.mkdirSync(lock)
      break
    } catch {
      const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now())
      if (age > STALE_MS) fs.rmSync(lock, { recursive: true, force: true })
      await sleep(100)
    }
  }
  try {
    await exec(process.execPath, [path.join(repoRoot, "apps", "cli", "build.mjs")], { cwd: repoRoot })
  } finally {
    fs.rmSync(lock, { recursive: true, force: true })
  }
}
