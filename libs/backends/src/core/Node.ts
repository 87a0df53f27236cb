import { Effect, Schema } from "effect"
import * as NodePath from "node:path"
import type { BackendContext, ToolRequest } from "../Backend"
import { describeAvailable, resolveFromList, sortVersions } from "../Versions"
import { type CoreTool, fail, installing, knob, memo, parseShasums, rejectRef, setting, sha256, type Upstream, withSlash } from "./CoreTool"

export const DEFAULT_NODE_MIRROR = "https://nodejs.org/dist/"
/** Where nodejs.org's musl (and other flavor) builds live; mise switches to it for musl on the default mirror. */
export const UNOFFICIAL_NODE_MIRROR = "https://unofficial-builds.nodejs.org/download/release/"

const MIRROR = knob("node.mirror_url", "MISE_NODE_MIRROR_URL")

/** nodejs.org's `index.json`: every release, newest first, with the builds it has and its LTS codename. */
const NodeIndex = Schema.Array(Schema.Struct({
  version: Schema.String,
  files: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] }),
  lts: Schema.optionalWith(Schema.Union(Schema.String, Schema.Boolean, Schema.Null), { default: () => false })
}))
type NodeIndex = typeof NodeIndex.Type

/** `node.mirror_url` (env `MISE_NODE_MIRROR_URL`), then node-build's `NODE_BUILD_MIRROR_URL`, then nodejs.org. */
export const nodeMirror = (ctx: BackendContext): string =>
  withSlash(setting(ctx, "node.mirror_url", "MISE_NODE_MIRROR_URL") ?? ctx.env.NODE_BUILD_MIRROR_URL ?? DEFAULT_NODE_MIRROR)

const flavorOf = (ctx: BackendContext) => setting(ctx, "node.flavor", "MISE_NODE_FLAVOR")

const nodeOs = (os: string) => (os === "macos" ? "darwin" : os === "windows" ? "win" : os)
const nodeArch = (arch: string) => (arch === "arm" ? "armv7l" : arch)

/** `linux-x64`, or `linux-x64-musl` with `node.flavor = "musl"`: the key index.json lists builds by. */
export const nodePlatform = (ctx: BackendContext): string => {
  const flavor = flavorOf(ctx)
  const base = `${nodeOs(ctx.platform.os)}-${nodeArch(ctx.platform.arch)}`
  return flavor === undefined ? base : `${base}-${flavor}`
}

/** `node-v20.20.2-linux-x64.tar.gz`: the archive mise downloads (it uses the .tar.gz, not the .tar.xz). */
export const nodeTarball = (version: string, ctx: BackendContext): string => `node-v${version}-${nodePlatform(ctx)}.tar.gz`

const versionOf = (raw: string) => (/^v\d+\./.test(raw) ? raw.slice(1) : raw)

const isLts = (lts: NodeIndex[number]["lts"]): lts is string | true => lts === true || (typeof lts === "string" && lts !== "")

/** `lts`, `lts/*`, `lts/iron`, `lts-iron` → the LTS line asked for (`*` for any), else undefined. */
const ltsLine = (spec: string): string | undefined => {
  if (spec === "lts" || spec === "lts/*") return "*"
  const m = /^lts[/-]([a-z]+)$/i.exec(spec)
  return m === null ? undefined : m[1]!.toLowerCase()
}

/** The mise settings (and their env vars) this tool reads, for `engine backends`. */
export const NODE_SETTINGS: ReadonlyArray<string> = ["node.mirror_url (MISE_NODE_MIRROR_URL)", "node.flavor (MISE_NODE_FLAVOR)"]

export const makeNode = (upstream: Upstream): CoreTool => {
  const indexes = memo<NodeIndex>()

  const index = (tool: ToolRequest, ctx: BackendContext) => {
    const url = `${nodeMirror(ctx)}index.json`
    return indexes(url, upstream.json(tool, url, NodeIndex, `the mirror is set by ${MIRROR}`))
  }

  /** mise's list: every release, or only those with a build of the configured `node.flavor`. */
  const releases = (tool: ToolRequest, ctx: BackendContext) =>
    Effect.map(index(tool, ctx), (entries) => {
      const flavor = flavorOf(ctx)
      const platform = nodePlatform(ctx)
      return entries.filter((e) => flavor === undefined || e.files.includes(platform))
    })

  const listVersions = (tool: ToolRequest, ctx: BackendContext) =>
    Effect.map(releases(tool, ctx), (entries) => sortVersions(entries.map((e) => versionOf(e.version))))

  const resolveVersion = (tool: ToolRequest, ctx: BackendContext) =>
    Effect.gen(function*() {
      yield* rejectRef(tool)
      const entries = yield* releases(tool, ctx)
      const line = ltsLine(tool.version)
      if (line === undefined) return yield* resolveFromList(tool.version, entries.map((e) => versionOf(e.version)), tool.short)
      const lts = entries.filter((e) => isLts(e.lts) && (line === "*" || String(e.lts).toLowerCase() === line))
      if (lts.length === 0) {
        const names = new Set(entries.flatMap((e) => (typeof e.lts === "string" && e.lts !== "" ? [e.lts.toLowerCase()] : [])))
        return yield* fail(tool, `no LTS release line "${line}" in ${nodeMirror(ctx)}index.json (lines: ${[...names].join(", ") || "none"})`)
      }
      const versions = sortVersions(lts.map((e) => versionOf(e.version)))
      return versions[versions.length - 1]!
    })

  const install: CoreTool["install"] = (tool, dir, ctx) =>
    Effect.gen(function*() {
      const request = installing(tool)
      const name = nodeTarball(tool.resolved, ctx)
      const mirror = nodeMirror(ctx)
      // nodejs.org/dist has no musl builds; mise fetches those from unofficial-builds unless a mirror was chosen.
      const base = name.includes("-musl") && mirror === DEFAULT_NODE_MIRROR ? UNOFFICIAL_NODE_MIRROR : mirror
      const shasumsUrl = `${base}v${tool.resolved}/SHASUMS256.txt`
      const sums = parseShasums(yield* upstream.text(request, shasumsUrl, `the mirror is set by ${MIRROR}`))
      const sum = sums.get(name)
      if (sum === undefined) {
        const builds = [...sums.keys()]
          .map((f) => new RegExp(`^node-v${tool.resolved.replace(/\./g, "\\.")}-(.+)\\.tar\\.gz$`).exec(f)?.[1])
          .filter((p): p is string => p !== undefined)
        return yield* fail(
          request,
          `no build for ${nodePlatform(ctx)}: ${name} is not listed in ${shasumsUrl} (builds: ${describeAvailable(builds)})` +
            (flavorOf(ctx) !== undefined ? "; check node.flavor (MISE_NODE_FLAVOR)" : "")
        )
      }
      const download = yield* upstream.download(tool, `${base}v${tool.resolved}/${name}`, sha256(sum), ctx, `the mirror is set by ${MIRROR}`)
      // The archive holds one `node-v<ver>-<platform>/` directory; its contents are the install.
      yield* upstream.extract(tool, download.path, dir, 1)
      yield* upstream.cleanup(tool, ctx)
    })

  return {
    name: "node",
    settings: NODE_SETTINGS,
    listVersions,
    resolveVersion,
    install,
    binPaths: (dir) => [NodePath.join(dir, "bin")],
    execEnv: () => []
  }
}
