import { Effect, Either, Schema } from "effect"
import * as fsp from "node:fs/promises"
import * as NodePath from "node:path"
import type { BackendContext, ToolRequest } from "../Backend"
import { fileNameFromUrl } from "../Http"
import { resolveFromList, sortVersions } from "../Versions"
import { type CoreTool, fail, fsStep, installing, knob, memo, rejectRef, setting, sha256, type Upstream } from "./CoreTool"

export const DEFAULT_ZIG_INDEX = "https://ziglang.org/download/index.json"

const INDEX = knob("zig.index_url", "MISE_ZIG_INDEX_URL")
const MIRROR = knob("zig.download_mirror", "MISE_ZIG_DOWNLOAD_MIRROR")

/** ziglang.org's `index.json`: `{ "0.13.0": { "date": ..., "x86_64-linux": { tarball, shasum, size } }, "master": ... }`. */
const ZigIndex = Schema.Record({ key: Schema.String, value: Schema.Record({ key: Schema.String, value: Schema.Unknown }) })
type ZigIndex = typeof ZigIndex.Type

const ZigBuild = Schema.Struct({ tarball: Schema.String, shasum: Schema.String })
const decodeBuild = Schema.decodeUnknownEither(ZigBuild)

const zigArch = (arch: string) => (arch === "x64" ? "x86_64" : arch === "arm64" ? "aarch64" : arch)

/** `x86_64-linux`: the key a release lists its build for this platform under. */
export const zigPlatform = (ctx: BackendContext): string => `${zigArch(ctx.platform.arch)}-${ctx.platform.os}`

const indexOf = (ctx: BackendContext) => setting(ctx, "zig.index_url", "MISE_ZIG_INDEX_URL") ?? DEFAULT_ZIG_INDEX
const mirrorOf = (ctx: BackendContext) => setting(ctx, "zig.download_mirror", "MISE_ZIG_DOWNLOAD_MIRROR")?.replace(/\/+$/, "")

/** The mise settings (and their env vars) this tool reads, for `engine backends`. */
export const ZIG_SETTINGS: ReadonlyArray<string> = ["zig.index_url (MISE_ZIG_INDEX_URL)", "zig.download_mirror (MISE_ZIG_DOWNLOAD_MIRROR)"]

export const makeZig = (upstream: Upstream): CoreTool => {
  const indexes = memo<ZigIndex>()

  const index = (tool: ToolRequest, ctx: BackendContext) => {
    const url = indexOf(ctx)
    return indexes(url, upstream.json(tool, url, ZigIndex, `the index is set by ${INDEX}`))
  }

  /** mise lists every key, `master` included; `latest` and prefixes skip it as it does not start with a digit. */
  const listVersions = (tool: ToolRequest, ctx: BackendContext) => Effect.map(index(tool, ctx), (entries) => sortVersions(Object.keys(entries)))

  /** `master` is a channel: it resolves to the dev build the index names today, as mise does. */
  const resolveVersion = (tool: ToolRequest, ctx: BackendContext) =>
    Effect.gen(function*() {
      yield* rejectRef(tool)
      const entries = yield* index(tool, ctx)
      if (tool.version === "master") {
        const version = entries.master?.version
        if (typeof version === "string") return version
        return yield* fail(tool, `${indexOf(ctx)} names no master build`)
      }
      return yield* resolveFromList(tool.version, Object.keys(entries), tool.short)
    })

  const install: CoreTool["install"] = (tool, dir, ctx) =>
    Effect.gen(function*() {
      const request = installing(tool)
      const entries = yield* index(request, ctx)
      const release = entries[tool.resolved] ?? Object.values(entries).find((e) => e.version === tool.resolved)
      if (release === undefined) return yield* fail(request, `${indexOf(ctx)} has no release ${tool.resolved}`)
      const platform = zigPlatform(ctx)
      const build = decodeBuild(release[platform])
      if (Either.isLeft(build)) {
        const builds = Object.keys(release).filter((k) => Either.isRight(decodeBuild(release[k])) && k !== "src")
        return yield* fail(request, `no build for ${platform} in ${indexOf(ctx)} (builds: ${builds.join(", ") || "none"})`)
      }
      const mirror = mirrorOf(ctx)
      // A community mirror serves ziglang.org's files by name; the index's sha256 still vouches for them.
      const url = mirror === undefined ? build.right.tarball : `${mirror}/${fileNameFromUrl(build.right.tarball)}`
      const download = yield* upstream.download(tool, url, sha256(build.right.shasum), ctx, `the mirror is set by ${MIRROR}`)
      // The archive holds one `zig-<arch>-<os>-<version>/` directory with `zig` at its top; mise links bin/zig to it.
      yield* upstream.extract(tool, download.path, dir, 1)
      yield* fsStep(tool, "cannot link bin/zig", async () => {
        await fsp.mkdir(NodePath.join(dir, "bin"), { recursive: true })
        await fsp.symlink("../zig", NodePath.join(dir, "bin", "zig"))
      })
      yield* upstream.cleanup(tool, ctx)
    })

  return {
    name: "zig",
    settings: ZIG_SETTINGS,
    listVersions,
    resolveVersion,
    install,
    binPaths: (dir) => [NodePath.join(dir, "bin")],
    execEnv: () => []
  }
}
