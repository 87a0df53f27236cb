import { type BackendContext, type ResolvedTool, type ToolRequest, versionDirName } from "@engine/backends"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/** A fresh temp dir, removed by the caller's afterAll via `cleanup`. */
export const tempDir = (prefix: string) => fs.mkdtempSync(path.join(os.tmpdir(), `engine-backends-${prefix}-`))

export const testContext = (root: string, overrides: Partial<BackendContext> = {}): BackendContext & {
  readonly warnings: Array<string>
} => {
  const warnings: Array<string> = []
  return {
    settings: {},
    env: { ...process.env },
    dataDir: path.join(root, "data"),
    downloadDir: path.join(root, "downloads"),
    platform: { os: "linux", arch: "x64" },
    log: () => undefined,
    warn: (m) => warnings.push(m),
    ...overrides,
    warnings
  }
}

/** Every path under `dir`, relative, `/`-separated, with a type mark: `d` dir, `f` file, `l` link (and its target). */
export const tree = (dir: string): Array<string> => {
  const out: Array<string> = []
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const p = rel === "" ? name : `${rel}/${name}`
      const st = fs.lstatSync(path.join(dir, p))
      if (st.isSymbolicLink()) out.push(`l ${p} -> ${fs.readlinkSync(path.join(dir, p))}`)
      else if (st.isDirectory()) {
        out.push(`d ${p}`)
        walk(p)
      } else out.push(`f ${p} ${(st.mode & 0o777).toString(8)}`)
    }
  }
  walk("")
  return out
}

/** `request` / `resolved` builders for one backend's tools, as the engine would hand them over. */
export const toolsOf = (backend: string) => {
  const request = (name: string, version = "latest", options: ToolRequest["options"] = {}): ToolRequest => ({
    short: `${backend}:${name}`,
    backend,
    name,
    version,
    options
  })
  const resolved = (name: string, version: string, options: ToolRequest["options"] = {}): ResolvedTool => ({
    ...request(name, version, options),
    resolved: version,
    versionDir: versionDirName(version)
  })
  return { request, resolved }
}
