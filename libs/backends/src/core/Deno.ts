import { Effect, Schema } from "effect"
import * as fsp from "node:fs/promises"
import * as NodePath from "node:path"
import type { BackendContext, ToolRequest } from "../Backend"
import { resolveFromList, sortVersions } from "../Versions"
import { type CoreTool, fail, fsStep, installing, knob, memo, publishedSha256, rejectRef, setting, type Upstream } from "./CoreTool"

export const DEFAULT_DENO_INDEX = "https://deno.com/versions.json"
export const DEFAULT_DENO_MIRROR = "https://dl.deno.land/release"

const INDEX = knob("deno.index_url", "MISE_DENO_INDEX_URL")
const MIRROR = knob("deno.download_mirror", "MISE_DENO_DOWNLOAD_MIRROR")

/** deno.com's `versions.json`: `{ "cli": ["v2.1.4", ...] }`. */
const DenoVersions = Schema.Struct({ cli: Schema.Array(Schema.String) })

const denoArch = (arch: string) => (arch === "x64" ? "x86_64" : arch === "arm64" ? "aarch64" : arch)
const denoOs = (os: string) => (os === "macos" ? "apple-darwin" : os === "windows" ? "pc-windows-msvc" : `unknown-${os}-gnu`)

/** `deno-x86_64-unknown-linux-gnu.zip`, as on dl.deno.land. */
export const denoAsset = (ctx: BackendContext): string => `deno-${denoArch(ctx.platform.arch)}-${denoOs(ctx.platform.os)}.zip`

const mirrorOf = (ctx: BackendContext) => (setting(ctx, "deno.download_mirror", "MISE_DENO_DOWNLOAD_MIRROR") ?? DEFAULT_DENO_MIRROR).replace(/\/+$/, "")
const indexOf = (ctx: BackendContext) => setting(ctx, "deno.index_url", "MISE_DENO_INDEX_URL") ?? DEFAULT_DENO_INDEX

/** The mise settings (and their env vars) this tool reads, for `engine backends`. */
export const DENO_SETTINGS: ReadonlyArray<string> = ["deno.index_url (MISE_DENO_INDEX_URL)", "deno.download_mirror (MISE_DENO_DOWNLOAD_MIRROR)"]

export const makeDeno = (upstream: Upstream): CoreTool => {
  const indexes = memo<ReadonlyArray<string>>()

  const listVersions = (tool: ToolRequest, ctx: BackendContext) => {
    const url = indexOf(ctx)
    return indexes(
      url,
      Effect.map(upstream.json(tool, url, DenoVersions, `the list is set by ${INDEX}`), (v) =>
        sortVersions(v.cli.filter((c) => c.startsWith("v")).map((c) => c.slice(1))))
    )
  }

  const install: CoreTool["install"] = (tool, dir, ctx) =>
    Effect.gen(function*() {
      const url = `${mirrorOf(ctx)}/v${tool.resolved}/${denoAsset(ctx)}`
      const checksum = yield* publishedSha256(upstream, tool, [{ single: `${url}.sha256sum` }], ctx, `the mirror is set by ${MIRROR}`)
      const download = yield* upstream.download(tool, url, checksum, ctx, `the mirror is set by ${MIRROR}`)
      // The zip holds the single `deno` executable, which mise moves to bin/.
      const bin = NodePath.join(dir, "bin")
      yield* upstream.extract(tool, download.path, bin, 0)
      const deno = NodePath.join(bin, "deno")
      const present = yield* Effect.promise(() => fsp.stat(deno).then((s) => s.isFile(), () => false))
      if (!present) return yield* fail(installing(tool), `${NodePath.basename(download.path)} has no \`deno\` executable at its top level`)
      yield* fsStep(tool, "cannot make bin/deno executable", () => fsp.chmod(deno, 0o755))
      yield* upstream.cleanup(tool, ctx)
    })

  return {
    name: "deno",
    settings: DENO_SETTINGS,
    listVersions,
    resolveVersion: (tool, ctx) =>
      Effect.flatMap(rejectRef(tool), () => Effect.flatMap(listVersions(tool, ctx), (versions) => resolveFromList(tool.version, versions, tool.short))),
    install,
    // `deno install` puts scripts under DENO_INSTALL_ROOT/bin, so mise adds that to PATH too.
    binPaths: (dir) => [NodePath.join(dir, "bin"), NodePath.join(dir, ".deno", "bin")],
    execEnv: (dir) => [["DENO_INSTALL_ROOT", NodePath.join(dir, ".deno")]]
  }
}
