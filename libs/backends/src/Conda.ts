import { Effect, Schema } from "effect"
import { createHash } from "node:crypto"
import * as fsp from "node:fs/promises"
import * as os from "node:os"
import * as NodePath from "node:path"
import { decompressFile } from "./Archive"
import type { Backend, BackendContext, BackendError, ResolvedTool, ToolRequest } from "./Backend"
import { fail, fsStep, installing, label, makeUpstream, memo, setting, withSlash } from "./core/CoreTool"
import type { Checksum, DownloaderShape } from "./Downloader"
import { createPrefix, LAUNCHER_DIR, linkPackage, makeBinsExecutable, type PathEntry, unpackPackage, writeLaunchers } from "./conda/Link"
import { compareCondaVersions, MatchSpecError, parseMatchSpec, parseVersion } from "./conda/MatchSpec"
import { type Candidate, type ChannelIndex, indexChannel, RepoData, RepodataError, type SubdirData } from "./conda/Repodata"
import { solve, type VirtualPackage } from "./conda/Solve"
import { optionString } from "./Platform"

export const condaInfo = {
  id: "conda",
  specForm: "conda:<package>",
  options: ["channel"],
  settings: ["conda.channel (MISE_CONDA_CHANNEL)"],
  description:
    "Install a conda package and its run dependencies into one prefix straight from a channel's repodata.json " +
    "(.conda and .tar.bz2, sha256-verified, prefix placeholders replaced; no conda needed); channel option, else " +
    "setting conda.channel (MISE_CONDA_CHANNEL), default conda-forge"
} as const

export const DEFAULT_CONDA_CHANNEL = "conda-forge"
/** Where a channel given by name lives, as conda's default channel_alias says. */
export const CONDA_CHANNEL_ALIAS = "https://conda.anaconda.org/"

const CHANNEL = "conda.channel"
const CHANNEL_ENV = "MISE_CONDA_CHANNEL"
const DOWNLOADS = 4

/** The channel a tool installs from: its `channel` option, else the setting; names live under conda.anaconda.org. */
export const channelUrl = (tool: ToolRequest, ctx: BackendContext): { readonly url: string; readonly hint: string } => {
  const option = optionString(tool.options, "channel")
  const channel = option ?? setting(ctx, CHANNEL, CHANNEL_ENV) ?? DEFAULT_CONDA_CHANNEL
  const hint = option !== undefined
    ? "the channel is the tool's channel option"
    : `the channel is set by ${CHANNEL} (${CHANNEL_ENV}), default ${DEFAULT_CONDA_CHANNEL}`
  return { url: /^https?:\/\//.test(channel) ? withSlash(channel) : `${CONDA_CHANNEL_ALIAS}${channel.replace(/^\/+|\/+$/g, "")}/`, hint }
}

/** conda's subdir for the platform (`linux-64`, `linux-aarch64`); images are linux. */
export const condaSubdir = (platform: BackendContext["platform"]): string | undefined =>
  platform.os !== "linux" ? undefined : platform.arch === "x64" ? "linux-64" : platform.arch === "arm64" ? "linux-aarch64" : undefined

/** The leading `a.b.c` of a version string (`6.1.0-13-amd64` → `6.1.0`). */
const numericPrefix = (text: string) => /^\d+(\.\d+)*/.exec(text)?.[0]

/**
 * conda's virtual packages for this machine: `__unix`, `__linux` (kernel), `__glibc`, `__archspec`, and `__cuda` only
 * when overridden; `CONDA_OVERRIDE_<NAME>` replaces a detected version, and an empty override removes the package.
 */
export const virtualPackages = (ctx: BackendContext): ReadonlyArray<VirtualPackage> => {
  const report = process.report?.getReport() as { readonly header?: { readonly glibcVersionRuntime?: string } } | undefined
  const header = report?.header
  const detected: ReadonlyArray<readonly [string, string | undefined, string]> = [
    ["__unix", "0", "0"],
    ["__linux", numericPrefix(os.release()) ?? "0", "0"],
    ["__glibc", header?.glibcVersionRuntime, "0"],
    ["__archspec", "1", ctx.platform.arch === "arm64" ? "aarch64" : "x86_64"],
    ["__cuda", undefined, "0"]
  ]
  return detected.flatMap(([name, found, build]) => {
    const override = ctx.env[`CONDA_OVERRIDE_${name.slice(2).toUpperCase()}`]
    // archspec's override names the microarchitecture, its build string; the others override the version.
    if (name === "__archspec") return override === "" ? [] : [{ name, version: "1", build: override ?? build }]
    const version = override !== undefined ? override : found
    return version === undefined || version === "" ? [] : [{ name, version, build }]
  })
}

const checksumOf = (c: Candidate): Checksum | undefined =>
  c.record.sha256 !== undefined
    ? { algorithm: "sha256", hex: c.record.sha256.toLowerCase() }
    : c.record.md5 !== undefined
    ? { algorithm: "md5", hex: c.record.md5.toLowerCase() }
    : undefined

const stemOf = (fileName: string) => fileName.replace(/\.(conda|tar\.bz2)$/, "")

/** The `conda` backend: repodata and packages over the given Downloader; nothing else is run. */
export const makeCondaBackend = (downloader: DownloaderShape): Backend => {
  const upstream = makeUpstream(downloader)
  const indexes = memo<ChannelIndex>()

  const subdirOf = (tool: ToolRequest, ctx: BackendContext) => {
    const subdir = condaSubdir(ctx.platform)
    return subdir === undefined
      ? Effect.fail(fail(tool, `conda packages are not available for ${ctx.platform.os}-${ctx.platform.arch} (linux-64 and linux-aarch64 are)`))
      : Effect.succeed(subdir)
  }

  /**
   * A subdir's repodata: `repodata.json.zst` first (a fraction of the size; rattler asks for it first too), else
   * `repodata.json`; undefined when the channel has neither.
   */
  const repodataAt = (tool: ToolRequest, url: string, hint: string, ctx: BackendContext) =>
    Effect.gen(function*() {
      const scratch = NodePath.join(ctx.downloadDir, "conda-repodata", createHash("sha256").update(url).digest("hex").slice(0, 16))
      const compressed = yield* downloader.download({ url: `${url}.zst`, dest: `${scratch}.json.zst` }).pipe(
        Effect.as(true),
        Effect.catchIf((e) => e._tag === "DownloadError" && (e.status === 404 || e.status === 410), () => Effect.succeed(false)),
        Effect.mapError((e) => fail(tool, `${e.message} (${hint})`, e))
      )
      if (!compressed) return yield* upstream.optionalJson(tool, url, RepoData, hint)
      const text = yield* decompressFile(`${scratch}.json.zst`, "zst", `${scratch}.json`).pipe(
        Effect.flatMap(() => Effect.promise(() => fsp.readFile(`${scratch}.json`, "utf8"))),
        Effect.mapError((e) => fail(tool, `${url}.zst cannot be read: ${e.message}`, e)),
        Effect.ensuring(Effect.promise(() => Promise.all([fsp.rm(`${scratch}.json.zst`, { force: true }), fsp.rm(`${scratch}.json`, { force: true })])))
      )
      return yield* Schema.decodeUnknown(Schema.parseJson(RepoData))(text).pipe(
        Effect.mapError((e) => fail(tool, `${url}.zst is not a conda repodata.json (${hint}): ${e.message.split("\n").slice(0, 4).join(" ")}`, e))
      )
    })

  const channelDescription = (url: string, subdir: string) => `channel ${url} (${subdir}, noarch)`

  /** The channel's packages for the platform and noarch, fetched once per build. */
  const indexOf = (tool: ToolRequest, ctx: BackendContext) =>
    Effect.gen(function*() {
      const channel = channelUrl(tool, ctx)
      const subdir = yield* subdirOf(tool, ctx)
      const index = yield* indexes(`${channel.url} ${subdir}`, Effect.gen(function*() {
        const listings: Array<SubdirData> = []
        for (const dir of [subdir, "noarch"]) {
          const url = `${channel.url}${dir}/repodata.json`
          const repodata = yield* repodataAt(tool, url, channel.hint, ctx)
          if (repodata === undefined) continue
          const base = repodata.info?.base_url
          listings.push({ subdir: dir, repodata, baseUrl: withSlash(base !== undefined ? new URL(base, url).href : `${channel.url}${dir}/`) })
        }
        if (listings.length === 0) {
          return yield* Effect.fail(
            fail(tool, `${channel.url} is not a conda channel: neither ${subdir}/repodata.json nor noarch/repodata.json exists there (${channel.hint})`)
          )
        }
        return indexChannel(listings)
      }))
      return { index, channel, subdir, where: channelDescription(channel.url, subdir) }
    })

  /** Runs index lookups whose malformed records surface as exceptions, as the tool's error. */
  const guarded = <A>(tool: ToolRequest, run: () => A) =>
    Effect.try({
      try: run,
      catch: (e) =>
        e instanceof RepodataError || e instanceof MatchSpecError
          ? fail(tool, e.message, e)
          : fail(tool, `unexpected failure reading the channel: ${String(e)}`, e)
    })

  const listVersions = (tool: ToolRequest, ctx: BackendContext): Effect.Effect<ReadonlyArray<string>, BackendError> =>
    Effect.gen(function*() {
      const { index, where } = yield* indexOf(tool, ctx)
      const candidates = yield* guarded(tool, () => index.candidates(tool.name))
      if (candidates.length === 0) return yield* Effect.fail(fail(tool, `conda package ${tool.name} was not found in ${where}`))
      const versions = Array.from(new Set(candidates.map((c) => c.record.version)))
      return versions.sort((a, b) => compareCondaVersions(parseVersion(a), parseVersion(b)))
    })

  const install = (tool: ResolvedTool, dir: string, ctx: BackendContext) =>
    Effect.gen(function*() {
      const request = installing(tool)
      const { index, where } = yield* indexOf(request, ctx)
      const root = yield* guarded(request, () => parseMatchSpec(`${tool.name} ==${tool.resolved}`))
      const solved = yield* guarded(request, () => solve(index, root, virtualPackages(ctx), where))
      if (!solved.ok) {
        const { chain, reason } = solved.failure
        return yield* Effect.fail(
          chain.length <= 1 && reason.startsWith("no package named")
            ? fail(request, `conda package ${tool.name} was not found in ${where}`)
            : fail(request, `cannot install its dependencies from ${where}: ${chain.join(" → ")}: ${reason}`)
        )
      }
      const packages = solved.packages
      const noarchPython = packages.find((c) => c.record.noarch === "python")
      const pythonPackage = packages.find((c) => c.record.name.toLowerCase() === "python")
      if (noarchPython !== undefined && pythonPackage === undefined) {
        return yield* Effect.fail(fail(request, `${noarchPython.fileName} is a noarch: python package, but no python is among its dependencies`))
      }
      const python = pythonPackage === undefined
        ? undefined
        : { shortVersion: pythonPackage.record.version.split(".").slice(0, 2).join(".") }
      ctx.log(`${label(request)}: ${packages.length} conda packages: ${packages.map((c) => c.fileName).join(", ")}`)
      const archives = yield* Effect.forEach(packages, (c) => {
        const checksum = checksumOf(c)
        if (checksum === undefined) ctx.warn(`${label(request)}: ${c.url} has no sha256 or md5 in the repodata; installing it unverified`)
        return Effect.map(upstream.download(tool, c.url, checksum, ctx, channelUrl(tool, ctx).hint), (r) => r.path)
      }, { concurrency: DOWNLOADS })
      yield* fsStep(tool, "cannot create the conda prefix", () => createPrefix(dir))
      let mainEntries: ReadonlyArray<PathEntry> = []
      for (const [i, candidate] of packages.entries()) {
        const archive = archives[i]!
        const staging = NodePath.join(NodePath.dirname(archive), ".unpacked", stemOf(candidate.fileName))
        yield* unpackPackage(archive, staging).pipe(
          Effect.mapError((e) => fail(request, e.message, e))
        )
        const entries = yield* fsStep(tool, `cannot link ${candidate.fileName} into the prefix`, () =>
          linkPackage(staging, dir, candidate.fileName, candidate.record.noarch === "python" ? python : undefined)
            .finally(() => fsp.rm(staging, { recursive: true, force: true })))
        if (i === packages.length - 1) mainEntries = entries
      }
      yield* fsStep(tool, "cannot write the .mise-bins launchers", async () => {
        await makeBinsExecutable(dir)
        await writeLaunchers(dir, mainEntries)
      })
      yield* upstream.cleanup(tool, ctx)
    })

  return {
    ...condaInfo,
    listVersions,
    install,
    // mise puts only the requested package's commands on PATH, as launchers; installs without them fall back to bin.
    binPaths: (_tool, dir) =>
      Effect.promise(() =>
        fsp.access(NodePath.join(dir, LAUNCHER_DIR)).then(() => [NodePath.join(dir, LAUNCHER_DIR)], () => [NodePath.join(dir, "bin")])
      ),
    // mise declares no exec env for conda: each launcher sets CONDA_PREFIX for its own command.
    execEnv: () => Effect.succeed([])
  }
}
