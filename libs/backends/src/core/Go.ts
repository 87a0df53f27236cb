import { Effect, Either, Schema } from "effect"
import * as NodePath from "node:path"
import type { BackendContext, ToolRequest } from "../Backend"
import { describeAvailable, resolveFromList, sortVersions } from "../Versions"
import { type CoreTool, fail, flag, installing, knob, memo, rejectRef, setting, sha256, singleSha256, type Upstream } from "./CoreTool"

export const DEFAULT_GO_MIRROR = "https://dl.google.com/go"
export const DEFAULT_GO_INDEX = "https://go.dev/dl/?mode=json&include=all"

const MIRROR = knob("go.download_mirror", "MISE_GO_DOWNLOAD_MIRROR")
const INDEX = knob("go.index_url", "MISE_GO_INDEX_URL")

/** go.dev/dl's JSON: every release with its files and their sha256. */
const GoIndex = Schema.Array(Schema.Struct({
  version: Schema.String,
  files: Schema.optionalWith(
    Schema.Array(Schema.Struct({ filename: Schema.String, os: Schema.String, arch: Schema.String, sha256: Schema.String })),
    { default: () => [] }
  )
}))
type GoIndex = typeof GoIndex.Type

const goOs = (os: string) => (os === "macos" ? "darwin" : os)
const goArch = (arch: string) => (arch === "x64" ? "amd64" : arch === "arm" ? "armv6l" : arch)

/** `go1.22.1.linux-amd64.tar.gz`, as on dl.google.com/go. */
export const goTarball = (version: string, ctx: BackendContext): string =>
  `go${version}.${goOs(ctx.platform.os)}-${goArch(ctx.platform.arch)}.tar.gz`

/** mise leaves out the bare `go1` tag and betas/rcs. */
const isListed = (v: string) => v !== "1" && !/(beta|rc)[0-9]*$/.test(v)

const mirrorOf = (ctx: BackendContext) => (setting(ctx, "go.download_mirror", "MISE_GO_DOWNLOAD_MIRROR") ?? DEFAULT_GO_MIRROR).replace(/\/+$/, "")
const indexOf = (ctx: BackendContext) => setting(ctx, "go.index_url", "MISE_GO_INDEX_URL") ?? DEFAULT_GO_INDEX

/**
 * mise's go exec env: GOBIN=<install>/bin unless GOBIN is already set (`go.set_gobin = true` forces it, `false`
 * drops it); GOROOT=<install> while `go.set_goroot` is on, which is mise's default.
 */
export const goExecEnv = (dir: string, ctx: BackendContext): ReadonlyArray<readonly [string, string]> => {
  const setGobin = flag(ctx, "go.set_gobin", "MISE_GO_SET_GOBIN")
  const gobin = setGobin === true || (setGobin === undefined && ctx.env.GOBIN === undefined)
  const goroot = flag(ctx, "go.set_goroot", "MISE_GO_SET_GOROOT") ?? true
  return [
    ...(gobin ? [["GOBIN", NodePath.join(dir, "bin")] as const] : []),
    ...(goroot ? [["GOROOT", dir] as const] : [])
  ]
}

/** The mise settings (and their env vars) this tool reads, for `engine backends`. */
export const GO_SETTINGS: ReadonlyArray<string> = [
  "go.download_mirror (MISE_GO_DOWNLOAD_MIRROR)",
  "go.index_url (MISE_GO_INDEX_URL)",
  "go.set_goroot",
  "go.set_gobin",
  "go.skip_checksum"
]

export const makeGo = (upstream: Upstream): CoreTool => {
  const indexes = memo<GoIndex>()

  const index = (tool: ToolRequest, ctx: BackendContext) => {
    const url = indexOf(ctx)
    return indexes(url, upstream.json(tool, url, GoIndex, `the index is set by ${INDEX}`))
  }

  const listVersions = (tool: ToolRequest, ctx: BackendContext) =>
    Effect.map(index(tool, ctx), (releases) => sortVersions(releases.map((r) => r.version.replace(/^go/, "")).filter(isListed)))

  /** The sha256 go.dev publishes for this file; without an index entry for the version, mise's `<url>.sha256`. */
  const checksumOf = (tool: ToolRequest, name: string, url: string, ctx: BackendContext) =>
    Effect.gen(function*() {
      if (flag(ctx, "go.skip_checksum", "MISE_GO_SKIP_CHECKSUM") === true) return undefined
      // A pinned version installs from the mirror alone when the index cannot be reached.
      const releases = yield* Effect.either(index(tool, ctx))
      const release = Either.isRight(releases) ? releases.right.find((r) => r.version === `go${tool.version}`) : undefined
      if (release !== undefined) {
        const file = release.files.find((f) => f.filename === name)
        if (file !== undefined) return sha256(file.sha256)
        const builds = release.files.filter((f) => f.filename.endsWith(".tar.gz") && f.os !== "").map((f) => `${f.os}-${f.arch}`)
        return yield* fail(tool, `no build for ${goOs(ctx.platform.os)}-${goArch(ctx.platform.arch)}: ${name} is not in ${indexOf(ctx)} (builds: ${describeAvailable(builds)})`)
      }
      const hex = singleSha256(yield* upstream.text(tool, `${url}.sha256`, `the mirror is set by ${MIRROR}`))
      return hex === undefined ? yield* fail(tool, `${url}.sha256 holds no sha256 checksum`) : sha256(hex)
    })

  const install: CoreTool["install"] = (tool, dir, ctx) =>
    Effect.gen(function*() {
      const request = installing(tool)
      const name = goTarball(tool.resolved, ctx)
      const url = `${mirrorOf(ctx)}/${name}`
      const checksum = yield* checksumOf(request, name, url, ctx)
      const download = yield* upstream.download(tool, url, checksum, ctx, `the mirror is set by ${MIRROR}`)
      // The tarball holds one `go/` directory, which mise renames to the install dir.
      yield* upstream.extract(tool, download.path, dir, 1)
      yield* upstream.cleanup(tool, ctx)
    })

  return {
    name: "go",
    settings: GO_SETTINGS,
    listVersions,
    resolveVersion: (tool, ctx) =>
      Effect.flatMap(rejectRef(tool), () => Effect.flatMap(listVersions(tool, ctx), (versions) => resolveFromList(tool.version, versions, tool.short))),
    install,
    binPaths: (dir) => [NodePath.join(dir, "bin")],
    execEnv: goExecEnv
  }
}
