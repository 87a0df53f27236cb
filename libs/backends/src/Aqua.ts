import { Effect, Either, Option, Schema } from "effect"
import * as fsp from "node:fs/promises"
import * as NodePath from "node:path"
import { decompressFile, extractArchive, formatFromExtension, installFile, isArchive, isCompressedFile } from "./Archive"
import { dropDownloads, insideInstallDir } from "./Artifact"
import {
  type AquaPackage,
  aquaPlatform,
  assetNames,
  assetUrl,
  fileLinks,
  formatOf,
  hasAsset,
  missingVar,
  packageType,
  packageVersionCandidates,
  platformSupported,
  render,
  selectAsset,
  type Target,
  unsupportedExpressions,
  versionCandidates,
  versionFromTag,
  withSelectedLibc,
  withVersion
} from "./aqua/Package"
import { type FoundPackage, makeAquaRegistry } from "./aqua/Registry"
import type { Backend, BackendContext, BackendError, ResolvedTool, ToolRequest } from "./Backend"
import { type Checksum, type DownloaderShape, parseChecksum } from "./Downloader"
import { githubForge } from "./GitHub"
import { toolDirName } from "./Naming"
import { optionString } from "./Platform"
import { apiUrlOf, fail, flagOption, type Forge, makeReleaseClient, type Release, type ReleaseAsset } from "./Releases"
import { fuzzyMatchVersions, isPrerelease, matchVersion, resolveFromList, sortVersions } from "./Versions"

export const aquaInfo = {
  id: "aqua",
  specForm: "aqua:<owner>/<repo>",
  options: ["symlink_bins", "prerelease", "vars.<name>", "api_url"],
  description:
    "A package of an aqua registry (aqua.registry_url / aqua.registries: a checkout, a registry.yaml or its URL; none " +
    "is bundled): github_release, http, github_archive, github_content; versions from GitHub releases (api_url)"
} as const

const MISE_BINS = ".mise-bins"
const SUPPORTED_TYPES = ["github_release", "http", "github_archive", "github_content"]

const label = (tool: ToolRequest) => `${tool.short}@${tool.version}`

const hasRepo = (pkg: AquaPackage) => (pkg.repo_owner ?? "") !== "" && (pkg.repo_name ?? "") !== ""

/** The tool as the GitHub release client sees it: the package's repository, with the tool's options (api_url). */
const repoTool = <T extends ToolRequest>(tool: T, pkg: AquaPackage): T => ({ ...tool, name: `${pkg.repo_owner}/${pkg.repo_name}` })

/** `vars.<name>` (or a top-level `<name>`) tool options for the package's declared vars. */
const targetOf = (tool: ToolRequest, pkg: AquaPackage, ctx: BackendContext): Target => {
  const vars: Record<string, string> = {}
  for (const v of pkg.vars ?? []) {
    const value = optionString(tool.options, `vars.${v.name}`) ?? optionString(tool.options, v.name)
    if (value !== undefined) vars[v.name] = value
  }
  return { ...aquaPlatform(ctx.platform), vars }
}

const orFail = <A>(tool: ToolRequest, what: string, e: Either.Either<A, string>) =>
  Either.isRight(e) ? Effect.succeed(e.right) : Effect.fail(fail(tool, `${what}: ${e.left}`))

const GitHubTags = Schema.parseJson(Schema.Array(Schema.Struct({ name: Schema.String })))

/** `version_source: github_tag`: the repository's git tags, read as releases without assets (and no "latest" of their own). */
const githubTagsForge: Forge = {
  ...githubForge,
  listUrl: (api, repo) => `${api}/repos/${repo}/tags?per_page=100&page=1`,
  latestUrl: undefined,
  decodeList: (body) =>
    Effect.map(Schema.decodeUnknown(GitHubTags)(body), (tags) => tags.map((t) => ({ tag: t.name, prerelease: false, draft: false, assets: [] })))
}

const versionForge = (pkg: AquaPackage): Forge => (pkg.version_source === "github_tag" ? githubTagsForge : githubForge)

/** One listed version, with the release tag it came from. */
interface Listed {
  readonly version: string
  readonly tag: string
  readonly prerelease: boolean
}

/** The text of a checksum file after `file_format: regexp` picked the line and the digest (mise's parse). */
export const checksumFromAquaFile = (content: string, config: NonNullable<AquaPackage["checksum"]>, fileName: string): Either.Either<string, string> => {
  let text = content.replace(/^\uFEFF/, "")
  const regex = (pattern: string) => {
    // Go's inline flags at the start of a pattern become JavaScript flags.
    const m = /^\(\?([a-z]+)\)/.exec(pattern)
    return new RegExp(m === null ? pattern : pattern.slice(m[0].length), m === null ? "" : m[1]!.replace(/[^ims]/g, ""))
  }
  if (config.file_format === "regexp" && config.pattern !== undefined) {
    try {
      if (config.pattern.file !== undefined) {
        const file = regex(config.pattern.file)
        const line = text.split(/\r?\n/).find((l) => file.exec(l)?.[1] === fileName)
        if (line === undefined) return Either.left(`no line for ${fileName}`)
        text = line
      }
      const digest = regex(config.pattern.checksum).exec(text)
      if (digest?.[1] !== undefined) text = digest[1]
    } catch (e) {
      return Either.left(`bad pattern: ${String(e)}`)
    }
  }
  const entries = text.split(/\r?\n/).flatMap((line) => {
    const fields = line.trim().split(/\s+/)
    return fields.length === 2 ? [{ hex: fields[0]!, file: fields[1]!.split("/").pop()!.replace(/^\*+|\*+$/g, "") }] : []
  })
  const entry = entries.find((e) => e.file === fileName)
  if (entry !== undefined) return Either.right(entry.hex)
  if (entries.length > 0) return Either.left(`no line for ${fileName}`)
  const bare = text.trim().split(/\s+/)[0] ?? ""
  return bare === "" ? Either.left("it is empty") : Either.right(bare)
}

/**
 * The `aqua` backend: a package described by an aqua registry, its versions from the GitHub releases of its
 * repository, its asset from the registry's templates for this platform and version, verified against the
 * registry's checksum file (or GitHub's digest), unpacked, and its `files` linked where mise links them.
 */
export const makeAquaBackend = (downloader: DownloaderShape): Backend => {
  const registry = makeAquaRegistry(downloader)
  const client = makeReleaseClient(downloader)
  const warned = new Set<string>()
  const warnOnce = (ctx: BackendContext, message: string) => {
    if (warned.has(message)) return
    warned.add(message)
    ctx.warn(message)
  }

  const packageOf = (tool: ToolRequest, ctx: BackendContext): Effect.Effect<FoundPackage, BackendError> =>
    registry.find(tool.name, ctx).pipe(
      Effect.tap((found) => {
        for (const problem of unsupportedExpressions(found.pkg)) {
          warnOnce(ctx, `${tool.short}: the aqua registry entry of ${found.id} has an expression the engine cannot evaluate (${problem}); it counts as false`)
        }
      }),
      Effect.mapError((e) => fail(tool, e.message, e))
    )

  /** Versions from the repository's releases, as aqua reads tags (filter, constraint, prefix, no-asset entries dropped). */
  const listed = (tool: ToolRequest, found: FoundPackage, ctx: BackendContext) =>
    Effect.gen(function*() {
      const { os, arch } = aquaPlatform(ctx.platform)
      const releases = yield* client.releases(versionForge(found.pkg), repoTool(tool, found.pkg), ctx)
      const out: Array<Listed> = []
      for (const release of releases) {
        if (release.draft) continue
        const versioned = versionFromTag(found.pkg, release.tag, os, arch)
        // A filter that fails on one tag (not a version) skips that tag, as mise does.
        if (Either.isLeft(versioned)) continue
        if (versioned.right !== undefined && hasAsset(versioned.right.pkg)) {
          out.push({ version: versioned.right.version, tag: release.tag, prerelease: release.prerelease })
        }
      }
      return out
    })

  const resolveVersion = (tool: ToolRequest, ctx: BackendContext) =>
    Effect.gen(function*() {
      const found = yield* packageOf(tool, ctx)
      if (!hasRepo(found.pkg)) {
        if (tool.version === "latest") {
          return yield* fail(tool, `aqua package ${found.id} names no repo_owner/repo_name to list versions from; give an exact version`)
        }
        return tool.version
      }
      const withPre = flagOption(tool, "prerelease")
      if (tool.version === "latest" && !withPre) {
        const latest = yield* client.latest(versionForge(found.pkg), repoTool(tool, found.pkg), ctx)
        if (Option.isSome(latest) && !latest.value.prerelease && !latest.value.draft) {
          const { os, arch } = aquaPlatform(ctx.platform)
          const versioned = versionFromTag(found.pkg, latest.value.tag, os, arch)
          if (Either.isRight(versioned) && versioned.right !== undefined && hasAsset(versioned.right.pkg)) return versioned.right.version
        }
      }
      const all = yield* listed(tool, found, ctx)
      if (withPre) {
        const newest = fuzzyMatchVersions(sortVersions(all.map((l) => l.version)), tool.version, false).at(-1)
        if (newest !== undefined) return newest
      }
      const stable = all.filter((l) => !l.prerelease && !isPrerelease(l.version))
      return yield* Option.match(matchVersion(tool.version, stable.map((l) => l.version)), {
        onSome: Effect.succeed,
        onNone: () => resolveFromList(tool.version, all.map((l) => l.version), tool.short)
      })
    })

  /** The checksum the registry's `checksum` entry gives for `fileName`, or GitHub's digest of the asset. */
  const checksumOf = (
    tool: ToolRequest,
    pkg: AquaPackage,
    v: string,
    target: Target,
    fileName: string,
    url: string,
    release: Release | undefined,
    asset: ReleaseAsset | undefined,
    ctx: BackendContext
  ) =>
    Effect.gen(function*() {
      const config = pkg.checksum
      if (config === undefined || config.enabled === false) {
        return asset?.digest !== undefined ? { checksum: asset.digest, source: `GitHub's digest of ${asset.name}` } : undefined
      }
      const replacements = config.replacements === undefined
        ? pkg.replacements ?? {}
        : Object.keys(config.replacements).length === 0
        ? {}
        : { ...pkg.replacements, ...config.replacements }
      const extra: Record<string, string> = packageType(pkg) === "http" ? { AssetURL: url } : {}
      let fileUrl: string
      if (config.type === "http") {
        fileUrl = yield* orFail(tool, "cannot fill in the registry's checksum url", render(pkg, config.url ?? "", v, target, extra, replacements))
        if (!/^https?:\/\//i.test(fileUrl) || !URL.canParse(fileUrl)) {
          return yield* fail(tool, `the aqua registry's checksum url gives "${fileUrl}", which is not an http(s) URL`)
        }
      } else {
        const rel = release ?? Option.getOrUndefined(yield* client.byTag(githubForge, repoTool(tool, pkg), [v], ctx))
        if (rel === undefined) return yield* fail(tool, `GitHub has no release tagged ${v} in ${pkg.repo_owner}/${pkg.repo_name} to read the checksum file from`)
        const names: Array<string> = []
        for (const name of yield* orFail(tool, "cannot fill in the registry's asset template", assetNames(pkg, v, target))) {
          names.push(yield* orFail(tool, "cannot fill in the registry's checksum asset", render(pkg, config.asset ?? "", v, target, { ...extra, Asset: name }, replacements)))
        }
        const file = names.map((n) => rel.assets.find((a) => a.name === n)).find((a) => a !== undefined)
        if (file === undefined) {
          return yield* fail(tool, `release ${rel.tag} has no checksum file ${names.join(" or ")} (the registry's checksum asset); its assets: ${rel.assets.map((a) => a.name).join(", ")}`)
        }
        fileUrl = file.url
      }
      const text = yield* downloader.fetchText(fileUrl, downloadHeaders(tool, fileUrl, ctx)).pipe(
        Effect.mapError((e) => fail(tool, `cannot read the checksum file the registry names for ${fileName}: ${e.message}`, e))
      )
      const algorithm = config.algorithm ?? "sha256"
      const hex = yield* orFail(tool, `the checksum file ${fileUrl} gives no ${algorithm} digest for ${fileName}`, checksumFromAquaFile(text.body, config, fileName))
      const checksum = parseChecksum(`${algorithm}:${hex}`)
      if (typeof checksum === "string") return yield* fail(tool, `the checksum file ${fileUrl} gives a bad digest for ${fileName}: ${checksum}`)
      return { checksum: checksum satisfies Checksum, source: fileUrl }
    })

  /** The token goes to the API's own host only (GitHub Enterprise serves downloads there). */
  const downloadHeaders = (tool: ToolRequest, url: string, ctx: BackendContext): Record<string, string> => {
    const apiUrl = apiUrlOf(githubForge, tool)
    const token = githubForge.tokenVars(apiUrl).map((v) => ctx.env[v]?.trim()).find((v) => v !== undefined && v !== "")
    const authorization = githubForge.headers(token)["authorization"]
    const host = (u: string) => (URL.canParse(u) ? new URL(u).host : undefined)
    return authorization !== undefined && host(url) !== undefined && host(url) === host(apiUrl) ? { authorization } : {}
  }

  /** github.com's web host for archives and raw files, or the Enterprise host `api_url` belongs to. */
  const webBase = (tool: ToolRequest) => {
    const api = apiUrlOf(githubForge, tool)
    return api === githubForge.defaultApiUrl ? undefined : api.replace(/\/api\/v3$/, "")
  }

  const install = (tool: ResolvedTool, dir: string, ctx: BackendContext) =>
    Effect.gen(function*() {
      const request: ToolRequest = { ...tool, version: tool.resolved }
      const found = yield* packageOf(request, ctx)
      const { os, arch } = aquaPlatform(ctx.platform)
      const type = packageType(found.pkg)
      if (!SUPPORTED_TYPES.includes(type)) {
        const instead = type === "cargo" ? "the cargo backend" : type.startsWith("go_") ? "the go backend" : undefined
        return yield* fail(
          request,
          `aqua package ${found.id} is of type ${type}, which the aqua backend does not install` +
            (instead !== undefined ? `; use ${instead} instead` : ` (supported: ${SUPPORTED_TYPES.join(", ")})`)
        )
      }
      const tag = hasRepo(found.pkg)
        ? (yield* listed(request, found, ctx)).find((l) => l.version === tool.resolved)?.tag
        : undefined
      const pkg = withVersion(found.pkg, tag !== undefined ? [tag] : packageVersionCandidates(tool.resolved, found.pkg), os, arch)
      const target = targetOf(tool, pkg, ctx)
      const missing = missingVar(pkg, target)
      if (missing !== undefined) return yield* fail(request, `aqua package ${found.id} needs the variable ${missing}; set vars.${missing} on the tool`)
      if (pkg.no_asset === true) return yield* fail(request, `the aqua registry says ${found.id} publishes no asset for this version`)
      if (pkg.error_message !== undefined) return yield* fail(request, `the aqua registry says: ${pkg.error_message}`)
      if (!platformSupported(pkg, os, arch)) {
        return yield* fail(
          request,
          `aqua package ${found.id} has no asset for ${os}/${arch} (its supported_envs: ${(pkg.supported_envs ?? []).join(", ")})`
        )
      }
      const prefix = pkg.version_prefix ?? ""
      const v = tag ?? (tool.resolved.startsWith(prefix) ? tool.resolved : `${prefix}${tool.resolved}`)
      const tags = tag !== undefined ? [tag] : versionCandidates(tool.resolved, pkg.version_prefix).slice().reverse()
      const repo = `${pkg.repo_owner}/${pkg.repo_name}`

      let url: string
      let fileName: string
      let used = v
      let release: Release | undefined
      let asset: ReleaseAsset | undefined
      if (type === "github_release") {
        release = Option.getOrUndefined(yield* client.byTag(githubForge, repoTool(request, pkg), tags, ctx))
        if (release === undefined) {
          return yield* fail(request, `GitHub has no release tagged ${tags.join(" or ")} in ${repo}`)
        }
        used = release.tag
        const names = yield* orFail(request, "cannot fill in the registry's asset template", assetNames(pkg, used, target))
        const r = release
        asset = selectAsset(r.assets, names, os)
        if (asset === undefined) {
          return yield* fail(
            request,
            `release ${used} of ${repo} has no asset ${names.join(" or ")} (the aqua registry's asset for ${os}/${arch}); ` +
              `its assets: ${r.assets.map((a) => a.name).join(", ") || "none"}`
          )
        }
        url = asset.url
        fileName = asset.name
      } else if (type === "http") {
        url = yield* orFail(request, "cannot fill in the registry's url template", assetUrl(pkg, v, target))
        if (!/^https?:\/\//i.test(url) || !URL.canParse(url)) {
          return yield* fail(request, `the aqua registry's url for ${found.id} gives "${url}", which is not an http(s) URL`)
        }
        fileName = decodeURIComponent(new URL(url).pathname.split("/").pop() ?? "")
      } else if (type === "github_archive") {
        url = `${webBase(request) ?? "https://github.com"}/${repo}/archive/refs/tags/${v}.tar.gz`
        fileName = `${v.replaceAll("/", "-")}.tar.gz`
      } else {
        if (pkg.path === undefined) return yield* fail(request, `aqua package ${found.id} is of type github_content but names no path`)
        const web = webBase(request)
        url = web === undefined ? `https://raw.githubusercontent.com/${repo}/${v}/${pkg.path}` : `${web}/${repo}/raw/${v}/${pkg.path}`
        fileName = NodePath.posix.basename(pkg.path)
      }
      if (fileName === "" || insideInstallDir(fileName) === undefined || fileName.includes("/")) {
        return yield* fail(request, `cannot tell a file name from ${url}`)
      }

      const chosen = withSelectedLibc(pkg, os, fileName)
      // The `linux` replacement now names the other libc: PATH must come from the links made here, not the registry's names.
      const libcSibling = chosen.replacements?.["linux"] !== pkg.replacements?.["linux"]
      const verified = yield* checksumOf(request, chosen, used, target, fileName, url, release, asset, ctx)
      const dest = NodePath.join(ctx.downloadDir, toolDirName(tool.short), tool.versionDir, fileName)
      ctx.log(`${label(request)}: download ${url}`)
      const file = yield* downloader.download({
        url,
        dest,
        headers: downloadHeaders(request, url, ctx),
        ...(verified !== undefined ? { checksum: verified.checksum } : {})
      }).pipe(
        Effect.mapError((e) =>
          fail(
            request,
            e._tag === "ChecksumMismatchError" && verified !== undefined
              ? `${e.message} (the checksum is from ${verified.source}); the asset changed since it was published, or the download was tampered with`
              : e._tag === "DownloadError" && e.status === 404
              ? `${e.message}; the aqua registry's ${type === "http" ? "url" : "asset"} for ${found.id} does not exist for ${used}`
              : e.message,
            e
          )
        )
      )

      const links = yield* orFail(request, "cannot fill in the registry's files", fileLinks(chosen, [used], target))
      for (const link of links) {
        if (insideInstallDir(link.src) === undefined || insideInstallDir(link.dst) === undefined) {
          return yield* fail(request, `the aqua registry's files entry ${link.dst} -> ${link.src} leaves the install dir`)
        }
      }
      const first = NodePath.join(dir, links[0]?.src ?? pkg.repo_name ?? NodePath.posix.basename(found.id))
      const format = yield* orFail(request, "cannot tell the format", formatOf(chosen, used, target))
      const toError = (e: { readonly message: string }) => fail(request, e.message, e)
      if (type === "github_content" || format === "raw" || format === "") {
        yield* installFile(file.path, first).pipe(Effect.mapError(toError))
      } else {
        const archive = formatFromExtension(format)
        if (archive === undefined || format === "dmg" || format === "pkg") {
          return yield* fail(request, `aqua package ${found.id} comes as ${format}, which cannot be unpacked on ${os}`)
        }
        if (isCompressedFile(archive)) yield* decompressFile(file.path, archive, first).pipe(Effect.mapError(toError))
        else if (isArchive(archive)) yield* extractArchive(file.path, dir, { format: archive, stripComponents: 0 }).pipe(Effect.mapError(toError))
        else yield* installFile(file.path, first).pipe(Effect.mapError(toError))
      }
      yield* Effect.promise(() => linkFiles(dir, links, flagOption(tool, "symlink_bins") || libcSibling, (m) => ctx.warn(`${label(request)}: ${m}`)))
      ctx.log(`${label(request)}: installed ${fileName}`)
      yield* dropDownloads(tool, ctx)
    })

  const binPaths = (tool: ResolvedTool, dir: string, ctx: BackendContext) =>
    Effect.gen(function*() {
      const bins = NodePath.join(dir, MISE_BINS)
      if (yield* Effect.promise(() => isDirectory(bins))) return [bins]
      const request: ToolRequest = { ...tool, version: tool.resolved }
      const found = yield* packageOf(request, ctx)
      const { os, arch } = aquaPlatform(ctx.platform)
      const pkg = withVersion(found.pkg, packageVersionCandidates(tool.resolved, found.pkg), os, arch)
      const links = yield* orFail(request, "cannot fill in the registry's files", fileLinks(pkg, versionCandidates(tool.resolved, pkg.version_prefix), targetOf(tool, pkg, ctx)))
      const dirs = Array.from(new Set(links.map((l) => NodePath.join(dir, NodePath.posix.dirname(l.dst)))))
      const existing: Array<string> = []
      for (const d of dirs) if (yield* Effect.promise(() => isDirectory(d))) existing.push(d)
      return existing.length > 0 ? existing : [dir]
    })

  return {
    ...aquaInfo,
    listVersions: (tool, ctx) =>
      Effect.gen(function*() {
        const found = yield* packageOf(tool, ctx)
        if (!hasRepo(found.pkg)) {
          ctx.warn(`${tool.short}: aqua package ${found.id} names no repo_owner/repo_name, so it has no version list`)
          return []
        }
        return sortVersions((yield* listed(tool, found, ctx)).map((l) => l.version))
      }),
    resolveVersion,
    install,
    binPaths,
    execEnv: () => Effect.succeed([])
  }
}

const isDirectory = (p: string) => fsp.stat(p).then((s) => s.isDirectory(), () => false)
const exists = (p: string) => fsp.lstat(p).then(() => true, () => false)

/** Make each `files` source executable and reachable by its name (a relative symlink, or a hard link), as mise does. */
const linkFiles = async (
  dir: string,
  links: ReadonlyArray<{ readonly src: string; readonly dst: string; readonly hard: boolean }>,
  symlinkBins: boolean,
  warn: (message: string) => void
) => {
  for (const link of links) {
    const src = NodePath.join(dir, link.src)
    if (!(await exists(src))) {
      warn(`the aqua registry's file ${link.src} is not in the package`)
      continue
    }
    await fsp.chmod(src, 0o755)
    if (link.src === link.dst) continue
    const dst = NodePath.join(dir, link.dst)
    await fsp.mkdir(NodePath.dirname(dst), { recursive: true })
    await fsp.rm(dst, { force: true })
    if (link.hard) await fsp.link(src, dst)
    else await fsp.symlink(NodePath.relative(NodePath.dirname(dst), src), dst)
  }
  if (!symlinkBins) return
  const present: Array<string> = []
  for (const link of links) if (await exists(NodePath.join(dir, link.dst))) present.push(link.dst)
  if (present.length === 0) return
  const bins = NodePath.join(dir, MISE_BINS)
  await fsp.mkdir(bins, { recursive: true })
  for (const dst of present) {
    const at = NodePath.join(bins, NodePath.posix.basename(dst))
    if (!(await exists(at))) await fsp.symlink(NodePath.relative(bins, NodePath.join(dir, dst)), at)
  }
}

