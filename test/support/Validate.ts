import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/** `skopeo inspect oci:DIR` as parsed JSON; throws with skopeo's stderr when the layout is invalid. */
export const skopeoInspect = (dir: string, config = false): Record<string, unknown> => {
  const args = ["inspect", ...(config ? ["--config"] : []), `oci:${dir}`]
  const out = spawnSync("skopeo", args, { encoding: "utf8" })
  if (out.status !== 0) throw new Error(`skopeo ${args.join(" ")} failed: ${out.stderr}`)
  return JSON.parse(out.stdout) as Record<string, unknown>
}

const bundles: Array<string> = []
// Unpacked bundles can be large (a node binary); they go when the test worker does.
process.on("exit", () => bundles.forEach((b) => fs.rmSync(b, { recursive: true, force: true })))

/** `umoci unpack` of the layout's `tag` into a fresh bundle (removed at exit); returns the rootfs path. */
export const umociUnpack = (dir: string, tag: string): string => {
  const bundle = fs.mkdtempSync(path.join(os.tmpdir(), "engine-umoci-"))
  bundles.push(bundle)
  fs.rmSync(bundle, { recursive: true })
  const out = spawnSync("umoci", ["unpack", "--image", `${dir}:${tag}`, bundle], { encoding: "utf8" })
  if (out.status !== 0) throw new Error(`umoci unpack ${dir}:${tag} failed: ${out.stderr}`)
  return path.join(bundle, "rootfs")
}

/** Lists a gzip'd tar blob with GNU tar: `mode owner size name -> target` lines. */
export const listLayer = (blob: string): Array<string> =>
  execFileSync("tar", ["--numeric-owner", "-tvzf", blob], { encoding: "utf8" }).trim().split("\n")

export const hasCommand = (cmd: string): boolean => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0
