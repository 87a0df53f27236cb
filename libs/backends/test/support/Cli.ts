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
