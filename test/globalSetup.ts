import { execFileSync } from "node:child_process"
import * as path from "node:path"
import { repoRoot } from "./support/Cli"
import { ensureMise } from "./support/Mise"

/**
 * Runs once before any test file: bundles the CLI (tests run `apps/cli/bin/engine.cjs` and must never rebuild it
 * while another worker's `engine` is reading it), and installs the real mise 2026.9.15 from npm, handing its path to
 * every worker as MISE_BIN: the conformance tests in test/ and libs/layout compare against it and must not skip.
 */
export default function setup(): void {
  execFileSync(process.execPath, [path.join(repoRoot, "apps", "cli", "build.mjs")], { stdio: "inherit" })
  process.env.MISE_BIN = ensureMise()
  // Tests run each `engine` in a process of its own unless they test the daemon; none may leave a daemon behind.
  process.env.ENGINE_DAEMON = "0"
}
