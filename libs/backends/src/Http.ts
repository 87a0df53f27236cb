import { Effect } from "effect"
import * as NodePath from "node:path"
import { downloadsOf, dropDownloads } from "./Artifact"
import type { Backend, BackendContext, ResolvedTool, ToolRequest } from "./Backend"
import type { DownloaderShape } from "./Downloader"
import {
  binPathOf,
  binPathsOf,
  checksumOf,
  fail,
  formatOf,
  insidePath,
  label,
  option,
  template,
  unpackFile,
  urlOption,
  wholeNumber
} from "./FileOptions"

export const httpInfo = {
  id: "http",
  specForm: "http:<name>",
  options: ["url", "checksum", "bin_path", "strip_components", "bin", "format", "size", "platforms.<os>-<arch>.<option>"],
  description: "Download one file from a URL (version given as-is) and unpack it: tar.gz, tar.xz, tar, zip, gz, xz or a bare binary"
} as const

const urlOf = (tool: ToolRequest, ctx: BackendContext) =>
  Effect.flatMap(
    urlOption(tool, ctx, "http", "https://example.com/tool-{{ version }}.tar.gz"),
    (raw) => template(tool, raw, "url", ctx)
  )

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

const install = (downloader: DownloaderShape) => (tool: ResolvedTool, dir: string, ctx: BackendContext) =>
  Effect.gen(function*() {
    yield* unpack(downloader, tool, dir, downloadsOf(tool, ctx), ctx)
    yield* dropDownloads(tool, ctx)
  })

const unpack = (downloader: DownloaderShape, tool: ResolvedTool, dir: string, downloads: string, ctx: BackendContext) =>
  Effect.gen(function*() {
    const request: ToolRequest = { ...tool, version: tool.resolved }
    const url = yield* urlOf(request, ctx)
    const checksum = yield* checksumOf(request, ctx)
    const strip = yield* wholeNumber(request, "strip_components", option(request, "strip_components", ctx))
    const binPath = yield* binPathOf(request, ctx)
    const fileName = fileNameFromUrl(url)
    if (fileName === "") return yield* fail(request, `cannot tell a file name from the URL ${url}`)
    const dest = NodePath.join(downloads, fileName)

    ctx.log(`${label(request)}: download ${url}`)
    const download = yield* downloader.download({ url, dest, ...(checksum !== undefined ? { checksum } : {}) }).pipe(
      Effect.mapError((e) => fail(request, e.message, e))
    )
    const size = option(request, "size", ctx)
    if (size !== undefined && Number(size) !== download.size) {
      return yield* fail(request, `size mismatch for ${url}: expected ${size} bytes, got ${download.size}`)
    }

    const served = [fileNameFromUrl(download.finalUrl), ...(download.suggestedName !== undefined ? [download.suggestedName] : [])]
    const format = yield* formatOf(request, ctx, fileName, served)
    const bin = option(request, "bin", ctx)
    if (bin !== undefined) yield* insidePath(request, "bin", bin)
    yield* unpackFile(request, download.path, dir, { fileName, format, strip, binPath, bin }, ctx)
  })

/** The `http` backend: one configured version, one URL per platform, unpacked into the install dir. */
export const makeHttpBackend = (downloader: DownloaderShape): Backend => ({
  ...httpInfo,
  listVersions: (tool) => Effect.succeed([tool.version]),
  resolveVersion: (tool) => Effect.succeed(tool.version),
  install: install(downloader),
  binPaths: binPathsOf,
  execEnv: () => Effect.succeed([])
})
