import { Effect } from "effect"
import * as fsp from "node:fs/promises"
import * as NodePath from "node:path"
import {
  type ArchiveError,
  type ArchiveFormat,
  decompressFile,
  extractArchive,
  type ExtractSummary,
  installFile,
  isArchive,
  isCompressedFile
} from "./Archive"
import type { BackendContext, ResolvedTool } from "./Backend"
import { cleanBinaryName } from "./BinaryName"
import { toolDirName } from "./Naming"

/** How one downloaded file becomes an install dir (mise's `install_artifact` options). */
export interface ArtifactOptions {
  /** The file's own name (an asset or URL name); a single binary is named after it. */
  readonly fileName: string
  readonly format: ArchiveFormat
  /** The `strip_components` option, when set. */
  readonly stripComponents?: number
  /** The `bin_path` option, when set (already checked to be inside the install dir). */
  readonly binPath?: string
  /** The `bin` option: the name for a single binary. */
  readonly bin?: string
  /** The tool's name, so `cleanBinaryName` can tell a version suffix from part of the name. */
  readonly toolName: string
}

/**
 * mise's `install_artifact`: an archive is extracted (one leading directory stripped automatically when it is the
 * only entry and neither `strip_components` nor `bin_path` says how the archive is laid out); a single file, bare or
 * compressed, is written executable into `bin_path` (else the root) under `bin` or its cleaned name.
 * Returns the extraction summary for an archive.
 */
export const installArtifact = (
  file: string,
  dir: string,
  options: ArtifactOptions
): Effect.Effect<ExtractSummary | undefined, ArchiveError> => {
  if (isArchive(options.format)) {
    const stripComponents = options.stripComponents ?? (options.binPath === undefined ? "auto" : 0)
    return extractArchive(file, dir, { format: options.format, stripComponents })
  }
  const compressed = isCompressedFile(options.format)
  const stem = compressed ? options.fileName.slice(0, options.fileName.lastIndexOf(".")) : options.fileName
  const target = NodePath.join(dir, options.binPath ?? "", options.bin ?? cleanBinaryName(stem, options.toolName))
  const write = compressed ? decompressFile(file, options.format, target) : installFile(file, target)
  return Effect.as(write, undefined)
}

/** A relative path that stays inside the install dir, or undefined (`bin_path = "../x"` must not escape it). */
export const insideInstallDir = (value: string): string | undefined =>
  NodePath.isAbsolute(value) || NodePath.normalize(value).split(NodePath.sep).includes("..") ? undefined : value

const isDirectory = (p: string) => fsp.stat(p).then((s) => s.isDirectory(), () => false)

const hasExecutableFile = async (dir: string) => {
  const names = await fsp.readdir(dir).catch((): Array<string> => [])
  for (const name of names) {
    const st = await fsp.stat(NodePath.join(dir, name)).catch(() => undefined)
    if (st !== undefined && st.isFile() && (st.mode & 0o111) !== 0) return true
  }
  return false
}

/**
 * mise's `discover_bin_paths`: `<install>/bin` if it exists; else every `<install>/*\/bin`; else the install dir.
 * With `lookInside`, a root without executables gives way to the top-level directories that hold some (an archive
 * of `tool-1.0/tool` whose directory was not stripped because `strip_components = 0`).
 */
export const discoverBinPaths = (dir: string, lookInside = false): Effect.Effect<ReadonlyArray<string>> =>
  Effect.promise(async () => {
    if (await isDirectory(NodePath.join(dir, "bin"))) return [NodePath.join(dir, "bin")]
    const names = [...(await fsp.readdir(dir).catch((): Array<string> => []))].sort()
    const nested: Array<string> = []
    for (const name of names) {
      if (await isDirectory(NodePath.join(dir, name, "bin"))) nested.push(NodePath.join(dir, name, "bin"))
    }
    if (nested.length > 0) return nested
    if (!lookInside || (await hasExecutableFile(dir))) return [dir]
    const inside: Array<string> = []
    for (const name of names) {
      const sub = NodePath.join(dir, name)
      if ((await isDirectory(sub)) && (await hasExecutableFile(sub))) inside.push(sub)
    }
    return inside.length > 0 ? inside : [dir]
  })

/** Where a tool version's downloads go: `<downloads>/<tool dir>/<version dir>/`. */
export const downloadsOf = (tool: ResolvedTool, ctx: BackendContext) => NodePath.join(ctx.downloadDir, toolDirName(tool.short), tool.versionDir)

/**
 * mise drops the downloads once installed unless `always_keep_download` is set. A download left behind only costs
 * space: failing to remove it must not fail an install that succeeded.
 */
export const dropDownloads = (tool: ResolvedTool, ctx: BackendContext): Effect.Effect<void> => {
  const keep = ctx.settings["always_keep_download"]
  if (keep === true || keep === "true" || keep === 1 || keep === "1") return Effect.void
  return Effect.promise(() => fsp.rm(downloadsOf(tool, ctx), { recursive: true, force: true }).catch(() => undefined))
}
