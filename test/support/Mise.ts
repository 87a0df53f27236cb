import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { repoRoot } from "./Cli"

export const MISE_VERSION = "2026.9.15"

const prefix = path.join(repoRoot, "test", ".fixtures", "mise")
const bin = path.join(prefix, "node_modules", "@jdxcode", "mise", "bin", "mise")

/**
 * The real mise of the version we must match, installed from the npm registry into test/.fixtures on first use.
 * Failing to get it fails the test that needs it: a conformance test that silently skips proves nothing.
 */
export const ensureMise = (): string => {
  if (process.env.MISE_BIN !== undefined) return process.env.MISE_BIN
  if (!works(bin)) {
    fs.mkdirSync(prefix, { recursive: true })
    const r = spawnSync("npm", ["install", "--no-save", "--no-audit", "--no-fund", "--prefix", prefix, `@jdxcode/mise@${MISE_VERSION}`], {
      encoding: "utf8",
      timeout: 300_000
    })
    if (r.status !== 0 || !works(bin)) throw new Error(`could not install mise ${MISE_VERSION} from npm: ${r.stderr}`)
  }
  return bin
}

const works = (candidate: string): boolean =>
  fs.existsSync(candidate) && spawnSync(candidate, ["--version"], { encoding: "utf8" }).stdout?.startsWith(MISE_VERSION) === true
