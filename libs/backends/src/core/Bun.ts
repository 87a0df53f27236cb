import { Effect, Schema } from "effect"
import { readFileSync } from "node:fs"
import * as fsp from "node:fs/promises"
import * as NodePath from "node:path"
import type { BackendContext, BackendError, ToolRequest } from "../Backend"
import { DownloadError } from "../Downloader"
import { GITHUB_API, githubForge } from "../GitHub"
import { isRateLimited, resetTime } from "../Releases"
import { resolveFromList, sortVersions } from "../Versions"
import { type CoreTool, fail, fsStep, installing, knob, memo, publishedSha256, rejectRef, setting, type Upstream } from "./CoreTool"

export const DEFAULT_BUN_INDEX = "https://api.github.com/repos/oven-sh/bun/releases"
export const DEFAULT_BUN_MIRROR = "https://github.com/oven-sh/bun/releases/download"

const INDEX = knob("bun.index_url", "MISE_BUN_INDEX_URL")
const MIRROR = knob("bun.download_mirror", "MISE_BUN_DOWNLOAD_MIRROR")

/** GitHub's releases API, paged. */
const PER_PAGE = 100
/** oven-sh/bun has a few hundred releases; stop well after that rather than follow a misbehaving server forever. */
const MAX_PAGES = 20

const Releases = Schema.Array(Schema.Struct({
  tag_name: Schema.String,
  draft: Schema.optionalWith(Schema.Boolean, { default: () => false })
}))

/** Bun's default x64 build needs AVX2; mise picks the `-baseline` build on CPUs without it, as bun's installer does. */
const hasAvx2 = (): boolean => {
  try {
    return /\bavx2\b/.test(readFileSync("/proc/cpuinfo", "utf8"))
  } catch {
    return true
  }
}

/** `bun-linux-x64.zip` (`-baseline` without AVX2), `bun-linux-aarch64.zip`, as published with each release. */
export const bunAsset = (ctx: BackendContext, avx2 = hasAvx2()): string => {
  const os = ctx.platform.os === "macos" ? "darwin" : ctx.platform.os
  const arch = ctx.platform.arch === "arm64" ? "aarch64" : ctx.platform.arch
  return `bun-${os}-${arch === "x64" && os === "linux" && !avx2 ? "x64-baseline" : arch}.zip`
}

const mirrorOf = (ctx: BackendContext) => (setting(ctx, "bun.download_mirror", "MISE_BUN_DOWNLOAD_MIRROR") ?? DEFAULT_BUN_MIRROR).replace(/\/+$/, "")
const indexOf = (ctx: BackendContext) => setting(ctx, "bun.index_url", "MISE_BUN_INDEX_URL") ?? DEFAULT_BUN_INDEX

/** The first of mise's GitHub token variables that is set; sent only to api.github.com, never to a mirror of the list. */
const githubToken = (url: string, ctx: BackendContext): { readonly variable: string; readonly value: string } | undefined => {
  if (new URL(url).host !== "api.github.com") return undefined
  const variable = githubForge.tokenVars(GITHUB_API).find((v) => (ctx.env[v] ?? "") !== "")
  return variable === undefined ? undefined : { variable, value: ctx.env[variable]! }
}

/** GitHub's rate limit on the list, said as the github backend says it: when it resets and which token to set. */
const explainRateLimit = (tool: ToolRequest, url: string, token: ReturnType<typeof githubToken>) => (e: BackendError): BackendError => {
  if (!(e.cause instanceof DownloadError) || !isRateLimited(e.cause)) return e
  const reset = resetTime(e.cause.headers ?? {})
  const from = `HTTP ${e.cause.status} from ${url}${reset !== undefined ? `; it resets at ${reset}` : ""}`
  const what = token === undefined
    ? `(${from}); set GITHUB_TOKEN to a token to raise the limit`
    : `for the token in ${token.variable} (${from}); wait, or use another token`
  return fail(tool, `GitHub API rate limit exceeded ${what} (the list is set by ${INDEX})`, e.cause)
}

/** The mise settings (and their env vars) this tool reads, for `engine backends`. */
export const BUN_SETTINGS: ReadonlyArray<string> = ["bun.index_url (MISE_BUN_INDEX_URL)", "bun.download_mirror (MISE_BUN_DOWNLOAD_MIRROR)"]

export const makeBun = (upstream: Upstream): CoreTool => {
  const indexes = memo<ReadonlyArray<string>>()

  const listVersions = (tool: ToolRequest, ctx: BackendContext) => {
    const base = indexOf(ctx)
    return indexes(
      base,
      Effect.gen(function*() {
        const tags: Array<string> = []
        for (let page = 1; page <= MAX_PAGES; page++) {
          const url = `${base}${base.includes("?") ? "&" : "?"}per_page=${PER_PAGE}&page=${page}`
          const token = githubToken(url, ctx)
          const headers: Record<string, string> = token !== undefined ? { authorization: `Bearer ${token.value}` } : {}
          const releases = yield* upstream.json(tool, url, Releases, `the list is set by ${INDEX}`, headers).pipe(
            Effect.mapError(explainRateLimit(tool, url, token))
          )
          tags.push(...releases.filter((r) => !r.draft).map((r) => r.tag_name))
          if (releases.length < PER_PAGE) break
        }
        return sortVersions(tags.filter((t) => t.startsWith("bun-v")).map((t) => t.slice("bun-v".length)))
      })
    )
  }

  const install: CoreTool["install"] = (tool, dir, ctx) =>
    Effect.gen(function*() {
      const asset = bunAsset(ctx)
      const release = `${mirrorOf(ctx)}/bun-v${tool.resolved}`
      const checksum = yield* publishedSha256(
        upstream,
        tool,
        [{ sums: `${release}/SHASUMS256.txt`, file: asset }],
        ctx,
        `the mirror is set by ${MIRROR}`
      )
      const download = yield* upstream.download(tool, `${release}/${asset}`, checksum, ctx, `the mirror is set by ${MIRROR}`)
      // The zip holds `bun-<os>-<arch>/bun`; mise moves the executable to bin/ and links bunx to it.
      const bin = NodePath.join(dir, "bin")
      yield* upstream.extract(tool, download.path, bin, 1)
      const bun = NodePath.join(bin, "bun")
      const present = yield* Effect.promise(() => fsp.stat(bun).then((s) => s.isFile(), () => false))
      if (!present) return yield* fail(installing(tool), `${asset} has no \`bun\` executable in its top directory`)
      yield* fsStep(tool, "cannot set up bin/bun and bin/bunx", async () => {
        await fsp.chmod(bun, 0o755)
        await fsp.rm(NodePath.join(bin, "bunx"), { force: true })
        await fsp.symlink("./bun", NodePath.join(bin, "bunx"))
      })
      yield* upstream.cleanup(tool, ctx)
    })

  return {
    name: "bun",
    settings: BUN_SETTINGS,
    listVersions,
    resolveVersion: (tool, ctx) =>
      Effect.flatMap(rejectRef(tool), () => Effect.flatMap(listVersions(tool, ctx), (versions) => resolveFromList(tool.version, versions, tool.short))),
    install,
    binPaths: (dir) => [NodePath.join(dir, "bin")],
    execEnv: () => []
  }
}
