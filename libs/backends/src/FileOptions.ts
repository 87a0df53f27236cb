import { Effect, Either } from "effect"
import * as NodePath from "node:path"
import { type ArchiveFormat, formatFromExtension, formatFromFileName } from "./Archive"
import { discoverBinPaths, insideInstallDir, installArtifact } from "./Artifact"
import type { BackendContext, ToolRequest } from "./Backend"
import { BackendError } from "./Backend"
import { type Checksum, parseChecksum } from "./Downloader"
import { platformKey, platformOption, platformsWithOption } from "./Platform"
import { renderTemplate } from "./Template"

// The options of the backends that fetch one file per version and unpack it (http, s3), read one way for both.

export const label = (tool: ToolRequest) => `${tool.short}@${tool.version}`

export const fail = (tool: ToolRequest, message: string, cause?: unknown) =>
  new BackendError({ tool: tool.short, message: `${label(tool)}: ${message}`, ...(cause !== undefined ? { cause } : {}) })

export const option = (tool: ToolRequest, key: string, ctx: BackendContext) => platformOption(tool.options, key, ctx.platform)

export const template = (tool: ToolRequest, text: string, what: string, ctx: BackendContext) =>
  Either.match(renderTemplate(text, { version: tool.version, platform: ctx.platform, env: ctx.env }), {
    onLeft: (reason) => Effect.fail(fail(tool, `cannot fill in the ${what} template "${text}": ${reason}`)),
    onRight: Effect.succeed
  })

/** A relative path inside the install dir, or an error (`bin_path` must not point elsewhere). */
export const insidePath = (tool: ToolRequest, name: string, value: string) =>
  insideInstallDir(value) === undefined
    ? Effect.fail(fail(tool, `${name} "${value}" must be a path inside the install dir`))
    : Effect.succeed(value)

export const binPathOf = (tool: ToolRequest, ctx: BackendContext) => {
  const raw = option(tool, "bin_path", ctx)
  return raw === undefined
    ? Effect.succeed(undefined)
    : Effect.flatMap(template(tool, raw, "bin_path", ctx), (p) => insidePath(tool, "bin_path", p))
}

/** The `url` option for this platform, unfilled; without one, an error saying what to add (`example` is a whole url). */
export const urlOption = (tool: ToolRequest, ctx: BackendContext, backend: string, example: string): Effect.Effect<string, BackendError> => {
  const raw = option(tool, "url", ctx)
  if (raw !== undefined) return Effect.succeed(raw)
  const key = platformKey(ctx.platform)
  const available = platformsWithOption(tool.options, "url")
  return Effect.fail(
    fail(
      tool,
      available.length > 0
        ? `no URL for platform ${key} (available: ${available.join(", ")}); add 'url' or 'platforms.${key}.url'`
        : `the ${backend} backend needs a 'url' option, e.g. "${tool.short}" = { version = "${tool.version}", url = "${example}" }`
    )
  )
}

export const checksumOf = (tool: ToolRequest, ctx: BackendContext): Effect.Effect<Checksum | undefined, BackendError> => {
  const raw = option(tool, "checksum", ctx)
  if (raw === undefined) return Effect.succeed(undefined)
  const parsed = parseChecksum(raw)
  return typeof parsed === "string" ? Effect.fail(fail(tool, parsed)) : Effect.succeed(parsed)
}

export const wholeNumber = (tool: ToolRequest, name: string, raw: string | undefined): Effect.Effect<number | undefined, BackendError> => {
  if (raw === undefined) return Effect.succeed(undefined)
  return /^\d+$/.test(raw.trim())
    ? Effect.succeed(Number(raw.trim()))
    : Effect.fail(fail(tool, `${name} must be a whole number (got "${raw}")`))
}

/**
 * The `format` option, else the file's own name, else (like mise) a name the source served it under (redirect
 * target, Content-Disposition) when the file's own says nothing.
 */
export const formatOf = (tool: ToolRequest, ctx: BackendContext, fileName: string, served: ReadonlyArray<string> = []) => {
  const explicit = option(tool, "format", ctx)
  if (explicit !== undefined) {
    const format = formatFromExtension(explicit)
    return format === undefined
      ? Effect.fail(fail(tool, `unknown format "${explicit}" (e.g. tar.gz, tar.xz, tar, zip, gz, xz, raw)`))
      : Effect.succeed(format)
  }
  const own = formatFromFileName(fileName)
  if (own !== "raw") return Effect.succeed(own)
  const other = served.map(formatFromFileName).find((f) => f !== "raw")
  return Effect.succeed<ArchiveFormat>(other ?? "raw")
}

/** mise's bin paths for these backends: `bin_path` if set, else `discoverBinPaths`. */
export const binPathsOf = (tool: ToolRequest, dir: string, ctx: BackendContext) =>
  Effect.gen(function*() {
    const binPath = yield* binPathOf(tool, ctx)
    return binPath !== undefined ? [NodePath.join(dir, binPath)] : yield* discoverBinPaths(dir)
  })

export interface Unpack {
  readonly fileName: string
  readonly format: ArchiveFormat
  readonly strip: number | undefined
  readonly binPath: string | undefined
  readonly bin: string | undefined
}

/** Unpacks the downloaded `file` into `dir`, warning about the special files an archive held. */
export const unpackFile = (tool: ToolRequest, file: string, dir: string, how: Unpack, ctx: BackendContext) =>
  Effect.gen(function*() {
    const summary = yield* installArtifact(file, dir, {
      fileName: how.fileName,
      format: how.format,
      toolName: tool.name,
      ...(how.strip !== undefined ? { stripComponents: how.strip } : {}),
      ...(how.binPath !== undefined ? { binPath: how.binPath } : {}),
      ...(how.bin !== undefined ? { bin: how.bin } : {})
    }).pipe(Effect.mapError((e) => fail(tool, e.message, e)))
    if (summary !== undefined && summary.skipped.length > 0) {
      ctx.warn(`${label(tool)}: skipped special files in the archive: ${summary.skipped.join(", ")}`)
    }
  })
