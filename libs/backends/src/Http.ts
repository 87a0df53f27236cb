import { Effect, Either } from "effect"
import * as fsp from "node:fs/promises"
import * as NodePath from "node:path"
import { type ArchiveFormat, formatFromExtension, formatFromFileName } from "./Archive"
import { discoverBinPaths, insideInstallDir, installArtifact } from "./Artifact"
import type { Backend, BackendContext, ResolvedTool, ToolRequest } from "./Backend"
import { BackendError } from "./Backend"
import { type Checksum, type DownloaderShape, parseChecksum } from "./Downloader"
import { toolDirName } from "./Naming"
import { platformKey, platformOption, platformsWithOption } from "./Platform"
import { renderTemplate } from "./Template"

export const httpInfo = {
  id: "http",
  specForm: "http:<name>",
  options: ["url", "checksum", "bin_path", "strip_components", "bin", "format", "size", "platforms.<os>-<arch>.<option>"],
  description: "Download one file from a URL (version given as-is) and unpack it: tar.gz, tar.xz, tar, zip, gz, xz or a bare binary"
} as const

const label = (tool: ToolRequest) => `${tool.short}@${tool.version}`

const fail = (tool: ToolRequest, message: string, cause?: unknown) =>
  new BackendError({ tool: tool.short, message: `${label(tool)}: ${message}`, ...(cause !== undefined ? { cause } : {}) })

const template = (tool: ToolRequest, text: string, what: string, ctx: BackendContext) =>
  Either.match(renderTemplate(text, { version: tool.version, platform: ctx.platform, env: ctx.env }), {
    onLeft: (reason) => Effect.fail(fail(tool, `cannot fill in the ${what} template "${text}": ${reason}`)),
    onRight: Effect.succeed
  })

/** A relative path inside the install dir, or an error (`bin_path` must not point elsewhere). */
const insidePath = (tool: ToolRequest, option: string, value: string) =>
  insideInstallDir(value) === undefined
    ? Effect.fail(fail(tool, `${option} "${value}" must be a path inside the install dir`))
    : Effect.succeed(value)

const binPathOf = (tool: ToolRequest, ctx: BackendContext) => {
  const raw = platformOption(tool.options, "bin_path", ctx.platform)
  return raw === undefined
    ? Effect.succeed(undefined)
    : Effect.flatMap(template(tool, raw, "bin_path", ctx), (p) => insidePath(tool, "bin_path", p))
}

const urlOf = (tool: ToolRequest, ctx: BackendContext) => {
  const raw = platformOption(tool.options, "url", ctx.platform)
  if (raw !== undefined) return template(tool, raw, "url", ctx)
  const key = platformKey(ctx.platform)
  const available = platformsWithOption(tool.options, "url")
  return Effect.fail(
    fail(
      tool,
      available.length > 0
        ? `no URL for platform ${key} (available: ${available.join(", ")}); add 'url' or 'platforms.${key}.url'`
        : `the http backend needs a 'url' option, e.g. "${tool.short}" = { version = "${tool.version}", url = "https://example.com/tool-{{ version }}.tar.gz" }`
    )
  )
}

const checksumOf = (tool: ToolRequest, ctx: BackendContext): Effect.Effect<Checksum | undefined, BackendError> => {
  const raw = platformOption(tool.options, "checksum", ctx.platform)
  if (raw === undefined) return Effect.succeed(undefined)
  const parsed = parseChecksum(raw)
  return typeof parsed === "string" ? Effect.fail(fail(tool, parsed)) : Effect.succeed(parsed)
}

const stripOf = (tool: ToolRequest, ctx: BackendContext): Effect.Effect<number | undefined, BackendError> => {
  const raw = platformOption(tool.options, "strip_components", ctx.platform)
  if (raw === undefined) return Effect.succeed(undefined)
  return /^\d+$/.test(raw.trim())
    ? Effect.succeed(Number(raw.trim()))
    : Effect.fail(fail(tool, `strip_components must be a whole number (got "${raw}")`))
}

/** mise's `get_filename_from_url`: the last path segment, percent-decoded. */
export const fileNameFromUrl = (url: string): string => {
  let last: string
  try {
    last = new URL(url).pathname.split("/").pop() ?? url
  } catch {
    last = url.split("/").pop() ?? url
  }
  try {
    return decodeURIComponent(last)
  } catch {
    return last
  }
}

const formatOf = (tool: ToolRequest, ctx: BackendContext, fileName: string, served: ReadonlyArray<string>) => {
  const explicit = platformOption(tool.options, "format", ctx.platform)
  if (explicit !== undefined) {
    const format = formatFromExtension(explicit)
    return format === undefined
      ? Effect.fail(fail(tool, `unknown format "${explicit}" (e.g. tar.gz, tar.xz, tar, zip, gz, xz, raw)`))
      : Effect.succeed(format)
  }
  // Like mise, a name from the response (redirect target, Content-Disposition) counts when the URL's own says nothing.
  const own = formatFromFileName(fileName)
  if (own !== "raw") return Effect.succeed(own)
  const other = served.map(formatFromFileName).find((f) => f !== "raw")
  return Effect.succeed<ArchiveFormat>(other ?? "raw")
}

/** mise's http backend bin paths: `bin_path` if set, else `discoverBinPaths`. */
const binPaths = (tool: ResolvedTool, dir: string, ctx: BackendContext) =>
  Effect.gen(function*() {
    const binPath = yield* binPathOf(tool, ctx)
    return binPath !== undefined ? [NodePath.join(dir, binPath)] : yield* discoverBinPaths(dir)
  })

/** mise drops the download once installed unless `always_keep_download` is set. */
const keepDownload = (ctx: BackendContext) => {
  const v = ctx.settings["always_keep_download"]
  return v === true || v === "true" || v === 1 || v === "1"
}

const install = (downloader: DownloaderShape) => (tool: ResolvedTool, dir: string, ctx: BackendContext) =>
  Effect.gen(function*() {
    const downloads = NodePath.join(ctx.downloadDir, toolDirName(tool.short), tool.versionDir)
    yield* unpack(downloader, tool, dir, downloads, ctx)
    if (!keepDownload(ctx)) yield* Effect.promise(() => fsp.rm(downloads, { recursive: true, force: true }))
  })

const unpack = (downloader: DownloaderShape, tool: ResolvedTool, dir: string, downloads: string, ctx: BackendContext) =>
  Effect.gen(function*() {
    const request: ToolRequest = { ...tool, version: tool.resolved }
    const url = yield* urlOf(request, ctx)
    const checksum = yield* checksumOf(request, ctx)
    const strip = yield* stripOf(request, ctx)
    const binPath = yield* binPathOf(request, ctx)
    const fileName = fileNameFromUrl(url)
    if (fileName === "") return yield* fail(request, `cannot tell a file name from the URL ${url}`)
    const dest = NodePath.join(downloads, fileName)

    ctx.log(`${label(request)}: download ${url}`)
    const download = yield* downloader.download({ url, dest, ...(checksum !== undefined ? { checksum } : {}) }).pipe(
      Effect.mapError((e) => fail(request, e.message, e))
    )
    const size = platformOption(tool.options, "size", ctx.platform)
    if (size !== undefined && Number(size) !== download.size) {
      return yield* fail(request, `size mismatch for ${url}: expected ${size} bytes, got ${download.size}`)
    }

    const served = [fileNameFromUrl(download.finalUrl), ...(download.suggestedName !== undefined ? [download.suggestedName] : [])]
    const format = yield* formatOf(request, ctx, fileName, served)
    const bin = platformOption(tool.options, "bin", ctx.platform)
    if (bin !== undefined) yield* insidePath(request, "bin", bin)
    const summary = yield* installArtifact(download.path, dir, {
      fileName,
      format,
      toolName: tool.name,
      ...(strip !== undefined ? { stripComponents: strip } : {}),
      ...(binPath !== undefined ? { binPath } : {}),
      ...(bin !== undefined ? { bin } : {})
    }).pipe(Effect.mapError((e) => fail(request, e.message, e)))
    if (summary !== undefined && summary.skipped.length > 0) {
      ctx.warn(`${label(request)}: skipped special files in the archive: ${summary.skipped.join(", ")}`)
    }
  })

/** The `http` backend: one configured version, one URL per platform, unpacked into the install dir. */
export const makeHttpBackend = (downloader: DownloaderShape): Backend => ({
  ...httpInfo,
  listVersions: (tool) => Effect.succeed([tool.version]),
  resolveVersion: (tool) => Effect.succeed(tool.version),
  install: install(downloader),
  binPaths,
  execEnv: () => Effect.succeed([])
})
