import { Effect } from "effect"
import * as fsp from "node:fs/promises"
import * as NodePath from "node:path"
import * as zlib from "node:zlib"
import type { BackendContext, ToolRequest } from "../Backend"
import { resolveFromList, sortVersions } from "../Versions"
import { type CoreTool, fail, fsStep, installing, knob, memo, publishedSha256, rejectRef, setting, type Upstream } from "./CoreTool"

/** The list of python-build-standalone files mise itself resolves against, one per arch and os. */
export const DEFAULT_PYTHON_INDEX = "https://mise-versions.jdx.dev/tools/python-precompiled-{arch}-{os}.gz"
export const DEFAULT_PYTHON_MIRROR = "https://github.com/astral-sh/python-build-standalone/releases/download"

const INDEX = knob("python.index_url", "MISE_PYTHON_INDEX_URL")
const MIRROR = knob("python.download_mirror", "MISE_PYTHON_DOWNLOAD_MIRROR")

/** One python-build-standalone archive: `cpython-3.12.4+20240713-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz`. */
export interface PythonBuild {
  readonly version: string
  /** The release tag (its date), the directory the file is published under. */
  readonly tag: string
  readonly file: string
}

/** mise's `python_arch`: its release binaries are built for baseline x86_64, so that is what they ask for. */
const archOf = (ctx: BackendContext) =>
  setting(ctx, "python.precompiled_arch", "MISE_PYTHON_PRECOMPILED_ARCH") ??
    (ctx.platform.arch === "x64" ? "x86_64" : ctx.platform.arch === "arm64" ? "aarch64" : ctx.platform.arch)

const osOf = (ctx: BackendContext) =>
  setting(ctx, "python.precompiled_os", "MISE_PYTHON_PRECOMPILED_OS") ??
    (ctx.platform.os === "macos" ? "apple-darwin" : ctx.platform.os === "windows" ? "pc-windows-msvc" : `unknown-${ctx.platform.os}-gnu`)

const flavorOf = (ctx: BackendContext) => setting(ctx, "python.precompiled_flavor", "MISE_PYTHON_PRECOMPILED_FLAVOR")

/** `x86_64-unknown-linux-gnu`, plus `-<flavor>` when one is set: what a file name must contain. */
export const pythonPlatform = (ctx: BackendContext): string => {
  const flavor = flavorOf(ctx)
  return flavor === undefined ? `${archOf(ctx)}-${osOf(ctx)}` : `${archOf(ctx)}-${osOf(ctx)}-${flavor}`
}

const indexUrlOf = (ctx: BackendContext) =>
  (setting(ctx, "python.index_url", "MISE_PYTHON_INDEX_URL") ?? DEFAULT_PYTHON_INDEX)
    .replaceAll("{arch}", archOf(ctx))
    .replaceAll("{os}", osOf(ctx))

const mirrorOf = (ctx: BackendContext) => (setting(ctx, "python.download_mirror", "MISE_PYTHON_DOWNLOAD_MIRROR") ?? DEFAULT_PYTHON_MIRROR).replace(/\/+$/, "")

/** mise's preference among files of one release: the flavor asked for, else install_only_stripped, then install_only. */
const installType = (file: string, flavor: string | undefined) => {
  if (flavor !== undefined) return file.replace(/\.tar\.gz$/, "").endsWith(flavor) ? 0 : 1
  return file.includes("install_only_stripped") ? 0 : file.includes("install_only") ? 1 : 2
}

/**
 * mise's `fetch_precompiled_remote_versions`: the files for this platform (free-threaded builds only when the flavor
 * asks for them), one per version: the newest release, then the preferred install type.
 */
export const pythonBuilds = (lines: ReadonlyArray<string>, platform: string, flavor: string | undefined): ReadonlyArray<PythonBuild> => {
  const candidates = lines
    .map((line) => line.trim())
    .filter((line) => line.includes(platform) && (flavor?.includes("freethreaded") === true || !line.includes("freethreaded")))
    .flatMap((line) => {
      const m = /^cpython-(\d+\.\d+\.[\da-z]+)\+(\d+).*/.exec(line)
      return m === null ? [] : [{ version: m[1]!, tag: m[2]!, file: m[0] }]
    })
    .sort((a, b) => Number(b.tag) - Number(a.tag) || installType(a.file, flavor) - installType(b.file, flavor))
  const best = new Map<string, PythonBuild>()
  for (const c of candidates) if (!best.has(c.version)) best.set(c.version, c)
  return sortVersions(best.keys()).map((v) => best.get(v)!)
}

/** PEP 440 pre-releases (`3.14.0a5`, `3.13.0b1`, `3.13.0rc2`), which only an exact spec selects. */
const isPythonPrerelease = (v: string) => /\d(a|b|rc)\d+$/.test(v)

const text = (bytes: Buffer) => (bytes[0] === 0x1f && bytes[1] === 0x8b ? zlib.gunzipSync(bytes) : bytes).toString("utf8")

/** The mise settings (and their env vars) this tool reads, for `engine backends`. */
export const PYTHON_SETTINGS: ReadonlyArray<string> = [
  "python.precompiled_arch (MISE_PYTHON_PRECOMPILED_ARCH)",
  "python.precompiled_os (MISE_PYTHON_PRECOMPILED_OS)",
  "python.precompiled_flavor (MISE_PYTHON_PRECOMPILED_FLAVOR)",
  "python.index_url (MISE_PYTHON_INDEX_URL)",
  "python.download_mirror (MISE_PYTHON_DOWNLOAD_MIRROR)"
]

export const makePython = (upstream: Upstream): CoreTool => {
  const indexes = memo<ReadonlyArray<PythonBuild>>()

  const builds = (tool: ToolRequest, ctx: BackendContext) => {
    const url = indexUrlOf(ctx)
    return indexes(
      `${url}\n${pythonPlatform(ctx)}`,
      Effect.map(upstream.bytes(tool, url, ctx, `the list is set by ${INDEX}`), (bytes) =>
        pythonBuilds(text(bytes).split("\n"), pythonPlatform(ctx), flavorOf(ctx)))
    )
  }

  const listVersions = (tool: ToolRequest, ctx: BackendContext) => Effect.map(builds(tool, ctx), (all) => all.map((b) => b.version))

  const resolveVersion = (tool: ToolRequest, ctx: BackendContext) =>
    Effect.gen(function*() {
      yield* rejectRef(tool)
      const versions = yield* listVersions(tool, ctx)
      if (versions.includes(tool.version)) return tool.version
      return yield* resolveFromList(tool.version, versions.filter((v) => !isPythonPrerelease(v)), tool.short)
    })

  const install: CoreTool["install"] = (tool, dir, ctx) =>
    Effect.gen(function*() {
      const request = installing(tool)
      const build = (yield* builds(request, ctx)).find((b) => b.version === tool.resolved)
      if (build === undefined) {
        return yield* fail(request, `no precompiled python ${tool.resolved} for ${pythonPlatform(ctx)} in ${indexUrlOf(ctx)}`)
      }
      const mirror = mirrorOf(ctx)
      const url = `${mirror}/${build.tag}/${build.file}`
      const checksum = yield* publishedSha256(
        upstream,
        tool,
        [{ sums: `${mirror}/${build.tag}/SHA256SUMS`, file: build.file }, { single: `${url}.sha256` }],
        ctx,
        `the mirror is set by ${MIRROR}`
      )
      const download = yield* upstream.download(tool, url, checksum, ctx, `the mirror is set by ${MIRROR}`)
      // Every install_only archive holds one `python/` directory.
      yield* upstream.extract(tool, download.path, dir, 1)
      // Only `python3` ships; mise adds `python` beside it.
      const python = NodePath.join(dir, "bin", "python")
      yield* fsStep(tool, "cannot link bin/python", async () => {
        const present = await fsp.lstat(python).then(() => true, () => false)
        if (!present) await fsp.symlink("python3", python)
      })
      yield* upstream.cleanup(tool, ctx)
    })

  return {
    name: "python",
    settings: PYTHON_SETTINGS,
    listVersions,
    resolveVersion,
    install,
    binPaths: (dir) => [NodePath.join(dir, "bin")],
    execEnv: () => []
  }
}
