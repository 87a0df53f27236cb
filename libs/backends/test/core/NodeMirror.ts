import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { promisify } from "node:util"
import type { TestServer } from "../support/Server"
import { sha256Hex } from "./Harness"

/** The fixture's node is this machine's own binary, so the version it prints is the one it is published as. */
export const NODE_VERSION = process.version.slice(1)
const MAJOR = Number(NODE_VERSION.split(".")[0])

/** Releases around the real one, newest first as nodejs.org lists them, with LTS codenames. */
export const nodeIndex = [
  { version: `v${MAJOR + 3}.1.0`, lts: false, files: ["linux-x64", "linux-arm64"] },
  { version: `v${MAJOR + 2}.12.0`, lts: "Jod", files: ["linux-x64", "linux-arm64", "linux-x64-musl"] },
  { version: `v${MAJOR + 2}.5.0`, lts: false, files: ["linux-x64", "linux-arm64"] },
  { version: `v${MAJOR + 1}.7.3`, lts: false, files: ["linux-x64", "linux-arm64"] },
  { version: `v${NODE_VERSION}`, lts: "Iron", files: ["linux-x64", "linux-arm64", "src"] },
  { version: `v${MAJOR}.1.0`, lts: false, files: ["linux-x64", "linux-arm64"] },
  { version: `v${MAJOR - 2}.20.4`, lts: "Hydrogen", files: ["linux-x64"] }
].map((e) => ({ ...e, date: "2026-01-01", npm: "10.8.2", security: false }))

export const tarballName = `node-v${NODE_VERSION}-linux-x64.tar.gz`

/**
 * `node-v<ver>-linux-x64.tar.gz` laid out as nodejs.org packs it: one top directory with bin/node (a copy of the
 * running node), npm's entry point under lib/ and bin/npm linking to it.
 */
export const buildNodeTarball = async (work: string): Promise<Buffer> => {
  const top = `node-v${NODE_VERSION}-linux-x64`
  const stage = path.join(work, "node-stage")
  const npmCli = path.join(stage, top, "lib", "node_modules", "npm", "bin", "npm-cli.js")
  fs.mkdirSync(path.join(stage, top, "bin"), { recursive: true })
  fs.mkdirSync(path.dirname(npmCli), { recursive: true })
  fs.copyFileSync(process.execPath, path.join(stage, top, "bin", "node"))
  fs.chmodSync(path.join(stage, top, "bin", "node"), 0o755)
  fs.writeFileSync(npmCli, "#!/usr/bin/env node\nconsole.log('10.8.2')\n", { mode: 0o755 })
  fs.symlinkSync("../lib/node_modules/npm/bin/npm-cli.js", path.join(stage, top, "bin", "npm"))
  fs.writeFileSync(path.join(stage, top, "README.md"), "Node.js\n")
  const out = path.join(work, tarballName)
  // Fast gzip: the binary is ~100 MB and the level does not matter to the test.
  await promisify(execFile)("tar", ["-I", "gzip -1", "-cf", out, "-C", stage, top])
  fs.rmSync(stage, { recursive: true, force: true })
  const bytes = fs.readFileSync(out)
  fs.rmSync(out)
  return bytes
}

/** Serves a nodejs.org/dist-shaped mirror under `prefix`; `wrongSum` publishes a SHASUMS256.txt that does not match. */
export const serveNodeMirror = (server: TestServer, prefix: string, tarball: Buffer, opts: { readonly wrongSum?: boolean } = {}) => {
  const sum = opts.wrongSum === true ? "0".repeat(64) : sha256Hex(tarball)
  server.route(`${prefix}index.json`, JSON.stringify(nodeIndex))
  server.route(
    `${prefix}v${NODE_VERSION}/SHASUMS256.txt`,
    [
      `${"a".repeat(64)}  node-v${NODE_VERSION}-linux-arm64.tar.gz`,
      `${"b".repeat(64)}  node-v${NODE_VERSION}-linux-arm64.tar.xz`,
      `${sum}  ${tarballName}`,
      `${"c".repeat(64)}  node-v${NODE_VERSION}-linux-x64.tar.xz`,
      `${"d".repeat(64)}  node-v${NODE_VERSION}.tar.gz`
    ].join("\n") + "\n"
  )
  server.route(`${prefix}v${NODE_VERSION}/${tarballName}`, tarball)
  return `${server.url}${prefix}`
}
