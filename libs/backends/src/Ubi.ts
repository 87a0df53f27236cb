import { Effect, Either } from "effect"
import * as fsp from "node:fs/promises"
import * as NodePath from "node:path"
import { decompressFile, extractArchive, formatFromFileName, installFile, isArchive, isCompressedFile } from "./Archive"
import { dropDownloads, insideInstallDir } from "./Artifact"
import { pickUbiAsset } from "./Assets"
import type { Backend, BackendContext, BackendError, ResolvedTool, ToolRequest } from "./Backend"
import { cleanBinaryName } from "./BinaryName"
import type { DownloaderShape } from "./Downloader"
import { forgejoForge } from "./Forgejo"
import { githubForge } from "./GitHub"
import { gitlabForge } from "./GitLab"
import { toolDirName } from "./Naming"
import { optionString, platformKey } from "./Platform"
import {
  fail,
  flagOption,
  type Forge,
  makeReleaseClient,
  pathOption,
  releaseFor,
  releaseVersions,
  resolveWith,
  type TagFilter,
  targetOf
} from "./Releases"

export const ubiInfo = {
  id: "ubi",
  specForm: "ubi:<owner>/<repo>",
  options: ["exe", "rename_exe", "matching", "matching_regex", "extract_all", "bin_path", "tag_regex", "provider", "api_url"],
  description:
    "ubi's way (deprecated in mise): one executable from a release (GitHub, or provider = gitlab/forgejo) into " +
    "bin/<exe>; extract_all keeps the whole archive"
} as const

const FORGES: Readonly<Record<string, Forge>> = { github: githubForge, gitlab: gitlabForge, forgejo: forgejoForge }

const forgeOf = (tool: ToolRequest): Effect.Effect<Forge, BackendError> => {
  const provider = (optionString(tool.options, "provider") ?? "github").toLowerCase()
  const forge = FORGES[provider]
  return forge !== undefined
    ? Effect.succeed(forge)
    : Effect.fail(fail(tool, `unknown provider "${provider}" (ubi knows: ${Object.keys(FORGES).join(", ")})`))
}

const filterOf = (tool: ToolRequest) =>
  Effect.gen(function*() {
    const raw = optionString(tool.options, "tag_regex")
    if (raw === undefined) return {} satisfies TagFilter
    return yield* Effect.try({
      try: (): TagFilter => ({ regex: new RegExp(raw) }),
      catch: (e) => fail(tool, `tag_regex "${raw}" is not a valid regular expression: ${String(e)}`)
    })
  })

/** The executable ubi looks for: `exe`, else the repository's name. */
const exeOf = (tool: ToolRequest) => optionString(tool.options, "exe") ?? tool.name.split("/").pop()!

/** Files under `dir`, relative, shallowest first. */
const filesUnder = async (dir: string): Promise<ReadonlyArray<string>> => {
  const out: Array<string> = []
  const walk = async (rel: string) => {
    for (const entry of await fsp.readdir(NodePath.join(dir, rel), { withFileTypes: true })) {
      const p = rel === "" ? entry.name : `${rel}/${entry.name}`
      if (entry.isDirectory()) await walk(p)
      else if (entry.isFile()) out.push(p)
    }
  }
  await walk("")
  return out.sort((a, b) => a.split("/").length - b.split("/").length || a.localeCompare(b))
}

/** ubi's search in an archive: a file named `exe` (or `exe.exe`), else one whose name is `exe` plus platform/version. */
const findExecutable = (files: ReadonlyArray<string>, exe: string): string | undefined => {
  const base = (p: string) => p.split("/").pop()!
  return files.find((f) => base(f) === exe || base(f) === `${exe}.exe`) ??
    files.find((f) => cleanBinaryName(base(f), exe) === exe)
}

const label = (tool: ToolRequest) => `${tool.short}@${tool.version}`

/** The `ubi` backend: ubi's asset choice and single-executable install, over the same release APIs. */
export const makeUbiBackend = (downloader: DownloaderShape): Backend => {
  const client = makeReleaseClient(downloader)

  const install = (tool: ResolvedTool, dir: string, ctx: BackendContext) =>
    Effect.gen(function*() {
      const request: ToolRequest = { ...tool, version: tool.resolved }
      const forge = yield* forgeOf(tool)
      const release = yield* releaseFor(client, forge, tool, yield* filterOf(tool), ctx)
      const names = release.assets.map((a) => a.name)
      const matching = optionString(tool.options, "matching")
      const matchingRegex = optionString(tool.options, "matching_regex")
      const picked = pickUbiAsset(names, targetOf(ctx), {
        ...(matching !== undefined ? { matching } : {}),
        ...(matchingRegex !== undefined ? { matchingRegex } : {})
      })
      if (Either.isLeft(picked)) {
        const listed = names.length === 0 ? "it has no assets" : `its assets: ${names.join(", ")}`
        return yield* fail(
          request,
          `no asset of release ${release.tag} fits ${platformKey(ctx.platform)}: ${picked.left} (${listed}); set matching or matching_regex`
        )
      }
      const asset = release.assets.find((a) => a.name === picked.right)!
      const exe = exeOf(tool)
      const name = optionString(tool.options, "rename_exe") ?? exe
      if (insideInstallDir(name) === undefined || name.includes("/")) {
        return yield* fail(request, `rename_exe "${name}" must be a plain file name`)
      }
      const binPath = yield* pathOption(request, "bin_path", ctx)
      const extractAll = flagOption(tool, "extract_all")
      const file = yield* client.download(forge, tool, release, asset, ctx)
      const format = formatFromFileName(asset.name)
      const toError = (e: { readonly message: string }) => fail(request, e.message, e)

      if (extractAll && isArchive(format)) {
        yield* extractArchive(file.path, dir, { format, stripComponents: "auto" }).pipe(Effect.mapError(toError))
      } else {
        const target = NodePath.join(dir, extractAll ? "" : binPath ?? "bin", name)
        if (isArchive(format)) {
          const scratch = NodePath.join(ctx.downloadDir, toolDirName(tool.short), tool.versionDir, "extract")
          const removeScratch = Effect.promise(() => fsp.rm(scratch, { recursive: true, force: true }))
          yield* removeScratch
          yield* Effect.gen(function*() {
            yield* extractArchive(file.path, scratch, { format, stripComponents: 0 }).pipe(Effect.mapError(toError))
            const files = yield* Effect.promise(() => filesUnder(scratch))
            const found = findExecutable(files, exe)
            if (found === undefined) {
              const shown = files.slice(0, 12).join(", ") + (files.length > 12 ? ", ..." : "")
              return yield* fail(
                request,
                `${asset.name} has no file named ${exe} (it holds: ${shown}); set exe to the executable's name, or extract_all = true`
              )
            }
            yield* installFile(NodePath.join(scratch, found), target).pipe(Effect.mapError(toError))
          }).pipe(Effect.ensuring(removeScratch))
        } else if (isCompressedFile(format)) {
          yield* decompressFile(file.path, format, target).pipe(Effect.mapError(toError))
        } else {
          yield* installFile(file.path, target).pipe(Effect.mapError(toError))
        }
      }
      ctx.log(`${label(request)}: installed ${asset.name}`)
      yield* dropDownloads(tool, ctx)
    })

  return {
    ...ubiInfo,
    listVersions: (tool, ctx) =>
      Effect.gen(function*() {
        const forge = yield* forgeOf(tool)
        return releaseVersions(yield* client.releases(forge, tool, ctx), yield* filterOf(tool))
      }),
    resolveVersion: (tool, ctx) =>
      Effect.gen(function*() {
        const forge = yield* forgeOf(tool)
        return yield* resolveWith(client, forge, tool, yield* filterOf(tool), ctx)
      }),
    install,
    // mise's ubi bin paths: bin_path; the install dir with extract_all; else <install>/bin when it exists.
    binPaths: (tool, dir, ctx) =>
      Effect.gen(function*() {
        const binPath = yield* pathOption({ ...tool, version: tool.resolved }, "bin_path", ctx)
        if (binPath !== undefined) return [NodePath.join(dir, binPath)]
        if (flagOption(tool, "extract_all")) return [dir]
        const bin = NodePath.join(dir, "bin")
        const exists = yield* Effect.promise(() => fsp.stat(bin).then((s) => s.isDirectory(), () => false))
        return exists ? [bin] : [dir]
      }),
    execEnv: () => Effect.succeed([])
  }
}
