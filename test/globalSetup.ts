import { ensureMise } from "./support/Mise"

/**
 * Installs the real mise 2026.9.15 from npm once, before any test file runs, and hands its path to every worker
 * as MISE_BIN: the conformance tests in test/ and libs/layout compare against it and must not skip.
 */
export default function setup(): void {
  process.env.MISE_BIN = ensureMise()
}
