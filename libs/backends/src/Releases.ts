import { Effect, Either, Option, type ParseResult } from "effect"
import * as NodePath from "node:path"
import { formatFromFileName } from "./Archive"
import { discoverBinPaths, dropDownloads, insideInstallDir, installArtifact } from "./Artifact"
import { assetPatternMatches, type AssetTarget, checksumAssets, checksumFromFile, rankAssets } from "./Assets"
import type { Backend, BackendContext, BackendInfo, ResolvedTool, ToolRequest } from "./Backend"
import { BackendError } from "./Backend"
import type { Checksum, DownloadError, DownloaderShape, DownloadResult } from "./Downloader"
import { toolDirName } from "./Naming"
import { optionString, platformKey, platformOption } from "./Platform"
import { renderTemplate } from "./Template"
import { describeAvailable, isPrerelease, matchVersion, resolveFromList, sortVersions } from "./Versions"

/** One downloadable file of a release. */
export interface ReleaseAsset {
  readonly name: string
  readonly url: string
  /** The API's own URL for the asset (GitHub's `url`): the bytes with `Accept: application/octet-stream` and the token. */
  readonly apiUrl?: string
  /** A digest the forge publishes with the asset itself (GitHub's `digest`). */
  readonly digest?: Checksum
}

/** A release as every forge's API describes it, once decoded. */
export interface Release {
  readonly tag: string
  /** Marked as a pre-release (GitHub/Forgejo `prerelease`, GitLab `upcoming_release`). */
  readonly prerelease: boolean
  readonly draft: boolean
  readonly assets: ReadonlyArray<ReleaseAsset>
}

/** One forge's releases API: URLs, auth, and the decoding of its JSON. */
export interface Forge {
  /** `GitHub`, for messages. */
  readonly name: string
  readonly defaultApiUrl: string
  /** What a repository is called on this forge, for messages and the spec check. */
  readonly repoShape: { readonly pattern: RegExp; readonly example: string }
  /** Environment variables that may hold a token for the API at `apiUrl`, first found wins. */
  readonly tokenVars: (apiUrl: string) => ReadonlyArray<string>
  /** The variable messages tell a user to set. */
  readonly tokenHint: string
  /** Request headers for the API, with the token when there is one. */
  readonly headers: (token: string | undefined) => Readonly<Record<string, string>>
  readonly listUrl: (apiUrl: string, repo: string) => string
  readonly tagUrl: (apiUrl: string, repo: string, tag: string) => string
  /** The forge's own idea of the latest release, when it has an endpoint for it (GitHub, Forgejo). */
  readonly latestUrl?: (apiUrl: string, repo: string) => string
  readonly decodeList: (body: string) => Effect.Effect<ReadonlyArray<Release>, ParseResult.ParseError>
  readonly decodeOne: (body: string) => Effect.Effect<Release, ParseResult.ParseError>
}

/** The C library the image's binaries are taken for: mise's own release is a glibc build, so it prefers gnu assets. */
export const targetOf = (ctx: BackendContext): AssetTarget => ({ ...ctx.platform, libc: "gnu" })

const label = (tool: ToolRequest) => `${tool.short}@${tool.version}`

export const fail = (tool: ToolRequest, message: string, cause?: unknown) =>
  new BackendError({ tool: tool.short, message: `${label(tool)}: ${message}`, ...(cause !== undefined ? { cause } : {}) })

/** `api_url` without a trailing slash, else the forge's public API. */
export const apiUrlOf = (forge: Forge, tool: ToolRequest): string =>
  (optionString(tool.options, "api_url") ?? forge.defaultApiUrl).replace(/\/+$/, "")

const isHttpUrl = (url: string) => {
  try {
    const protocol = new URL(url).protocol
    return protocol === "https:" || protocol === "http:"
  } catch {
    return false
  }
}

/** The repository part of the spec, checked against the forge's shape, and a usable `api_url`. */
export const repoOf = (forge: Forge, tool: ToolRequest): Effect.Effect<string, BackendError> => {
  if (!forge.repoShape.pattern.test(tool.name)) {
    return Effect.fail(fail(tool, `"${tool.name}" is not a ${forge.name} repository; write it as ${forge.repoShape.example}`))
  }
  const apiUrl = apiUrlOf(forge, tool)
  return isHttpUrl(apiUrl)
    ? Effect.succeed(tool.name)
    : Effect.fail(fail(tool, `api_url "${apiUrl}" is not an http(s) URL; write it like ${forge.defaultApiUrl}`))
}

interface Token {
  readonly value: string
  readonly variable: string
}

const tokenOf = (forge: Forge, apiUrl: string, env: BackendContext["env"]): Token | undefined => {
  for (const variable of forge.tokenVars(apiUrl)) {
    const value = env[variable]?.trim()
    if (value !== undefined && value !== "") return { value, variable }
  }
  return undefined
}

const hostOf = (url: string) => {
  try {
    return new URL(url).host
  } catch {
    return undefined
  }
}

/** When an exhausted rate limit resets: the reset epoch of GitHub/GitLab, else `Retry-After`. */
export const resetTime = (headers: Readonly<Record<string, string>>): string | undefined => {
  const epoch = Number(headers["x-ratelimit-reset"] ?? headers["ratelimit-reset"])
  if (Number.isFinite(epoch) && epoch > 0) return new Date(epoch * 1000).toISOString().replace(/\.000Z$/, "Z")
  const after = Number(headers["retry-after"])
  return Number.isFinite(after) && after >= 0 ? `${after}s from now` : undefined
}

/** A 429, or a 403 that says the rate limit is spent (GitHub answers its primary limit so). */
export const isRateLimited = (e: DownloadError) => {
  const headers = e.headers ?? {}
  return e.status === 429 ||
    (e.status === 403 &&
      (headers["x-ratelimit-remaining"] === "0" || headers["ratelimit-remaining"] === "0" || /rate limit/i.test(e.body ?? "")))
}

/** The API's own words, when its error body is `{"message": ...}` (GitHub, GitLab and Forgejo all answer so). */
const apiMessage = (body: string | undefined): string | undefined => {
  if (body === undefined) return undefined
  try {
    const parsed: unknown = JSON.parse(body)
    if (typeof parsed === "object" && parsed !== null && "message" in parsed && typeof parsed.message === "string") {
      return parsed.message
    }
  } catch {
    // Not JSON: an HTML error page says nothing a user needs.
  }
  return undefined
}

/** Per backend instance: release lists and tag lookups are asked once per build, whatever the number of steps. */
export interface ReleaseClient {
  /** Every release of the repository, newest first as the API lists them, following pagination. */
  readonly releases: (forge: Forge, tool: ToolRequest, ctx: BackendContext) => Effect.Effect<ReadonlyArray<Release>, BackendError>
  /** The forge's latest release (GitHub's `/releases/latest`), or none when it has none or no endpoint for it. */
  readonly latest: (forge: Forge, tool: ToolRequest, ctx: BackendContext) => Effect.Effect<Option.Option<Release>, BackendError>
  /** The release whose tag is one of `tags` (tried in order), from the cached list or the tag endpoint. */
  readonly byTag: (
    forge: Forge,
    tool: ToolRequest,
    tags: ReadonlyArray<string>,
    ctx: BackendContext
  ) => Effect.Effect<Option.Option<Release>, BackendError>
  /** Download an asset into the tool's download dir, verified against the checksum the release publishes for it. */
  readonly download: (
    forge: Forge,
    tool: ResolvedTool,
    release: Release,
    asset: ReleaseAsset,
    ctx: BackendContext
  ) => Effect.Effect<DownloadResult, BackendError>
}

const MAX_PAGES = 100

/** The next page: the `Link: <...>; rel="next"` target, else GitLab's `x-next-page` applied to this URL. */
export const nextPageUrl = (headers: Readonly<Record<string, string>>, current: string): string | undefined => {
  const link = headers["link"]
  if (link !== undefined) {
    for (const part of link.split(/,(?=\s*<)/)) {
      const m = /^<([^>]+)>(.*)$/.exec(part.trim())
      const rel = m === null ? null : /;\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))/i.exec(m[2]!)
      // `rel` may hold several space-separated relations (`rel="next last"`).
      if (rel !== null && (rel[1] ?? rel[2] ?? "").toLowerCase().split(/\s+/).includes("next") && URL.canParse(m![1]!, current)) {
        return new URL(m![1]!, current).href
      }
    }
  }
  const next = headers["x-next-page"]?.trim()
  if (next !== undefined && /^\d+$/.test(next)) {
    const url = new URL(current)
    url.searchParams.set("page", next)
    return url.href
  }
  return undefined
}

export const makeReleaseClient = (downloader: DownloaderShape): ReleaseClient => {
  const lists = new Map<string, ReadonlyArray<Release>>()
  const tagged = new Map<string, Option.Option<Release>>()

  const tokenFor = (forge: Forge, tool: ToolRequest, ctx: BackendContext) => tokenOf(forge, apiUrlOf(forge, tool), ctx.env)

  const apiGet = (forge: Forge, tool: ToolRequest, url: string, ctx: BackendContext) =>
    downloader.fetchText(url, forge.headers(tokenFor(forge, tool, ctx)?.value))

  /** An API failure as a message naming the repository and what to set. */
  const explain = (forge: Forge, tool: ToolRequest, repo: string, url: string, ctx: BackendContext) => (e: DownloadError) => {
    const apiUrl = apiUrlOf(forge, tool)
    const token = tokenFor(forge, tool, ctx)
    const said = apiMessage(e.body)
    const detail = said !== undefined ? `: ${said}` : ""
    if (isRateLimited(e)) {
      const reset = resetTime(e.headers ?? {})
      const when = reset !== undefined ? `; it resets at ${reset}` : ""
      return fail(
        tool,
        token === undefined
          ? `${forge.name} API rate limit exceeded (HTTP ${e.status} from ${url}${when}); set ${forge.tokenHint} to a token to raise the limit`
          : `${forge.name} API rate limit exceeded for the token in ${token.variable} (HTTP ${e.status} from ${url}${when}); wait, or use another token`,
        e
      )
    }
    if (e.status === 401) {
      return fail(
        tool,
        token === undefined
          ? `${forge.name} asks for a token (HTTP 401 from ${url}${detail}); set ${forge.tokenHint}`
          : `${forge.name} rejected the token in ${token.variable} (HTTP 401 from ${url}${detail}); renew it, or unset it for a public repository`,
        e
      )
    }
    if (e.status === 404) {
      const access = token === undefined
        ? `; if it is private, set ${forge.tokenHint}`
        : `, and that the token in ${token.variable} can read it`
      const where = apiUrl === forge.defaultApiUrl ? "" : " and api_url"
      return fail(tool, `${forge.name} has no repository ${repo} at ${apiUrl} (HTTP 404 from ${url}); check the name${where}${access}`, e)
    }
    if (e.status === 403) {
      const hint = token === undefined
        ? `; set ${forge.tokenHint} if the repository is private`
        : `; check what the token in ${token.variable} may read`
      return fail(tool, `${forge.name} refused ${url} (HTTP 403${detail})${hint}`, e)
    }
    return fail(tool, e.message, e)
  }

  const decodeWith = <A>(
    tool: ToolRequest,
    url: string,
    decode: (body: string) => Effect.Effect<A, ParseResult.ParseError>,
    body: string,
    forge: Forge
  ) =>
    decode(body).pipe(
      Effect.mapError((e) => fail(tool, `the ${forge.name} API's answer for ${url} is not a release document: ${e.message}`, e))
    )

  const releases: ReleaseClient["releases"] = (forge, tool, ctx) =>
    Effect.gen(function*() {
      const repo = yield* repoOf(forge, tool)
      const apiUrl = apiUrlOf(forge, tool)
      const first = forge.listUrl(apiUrl, repo)
      const cached = lists.get(first)
      if (cached !== undefined) return cached
      const all: Array<Release> = []
      let url: string | undefined = first
      for (let page = 1; url !== undefined; page++) {
        if (page > MAX_PAGES) {
          ctx.warn(`${label(tool)}: stopped listing ${forge.name} releases after ${MAX_PAGES} pages (${all.length} releases)`)
          break
        }
        const response = yield* apiGet(forge, tool, url, ctx).pipe(Effect.mapError(explain(forge, tool, repo, url, ctx)))
        all.push(...(yield* decodeWith(tool, url, forge.decodeList, response.body, forge)))
        const next = nextPageUrl(response.headers, response.url)
        // The token goes with every page: a next link elsewhere would hand it to another host.
        if (next !== undefined && new URL(next).origin !== new URL(apiUrl).origin) {
          return yield* fail(tool, `the ${forge.name} API's next-page link ${next} leaves ${new URL(apiUrl).origin}; refusing to follow it`)
        }
        url = next
      }
      lists.set(first, all)
      return all
    })

  const getOptional = (forge: Forge, tool: ToolRequest, repo: string, url: string, ctx: BackendContext) =>
    Effect.gen(function*() {
      const cached = tagged.get(url)
      if (cached !== undefined) return cached
      const response = yield* apiGet(forge, tool, url, ctx).pipe(
        Effect.map(Option.some),
        Effect.catchIf((e) => e.status === 404, () => Effect.succeed(Option.none())),
        Effect.mapError(explain(forge, tool, repo, url, ctx))
      )
      const release = Option.isSome(response)
        ? Option.some(yield* decodeWith(tool, url, forge.decodeOne, response.value.body, forge))
        : Option.none<Release>()
      tagged.set(url, release)
      return release
    })

  const latest: ReleaseClient["latest"] = (forge, tool, ctx) =>
    Effect.gen(function*() {
      if (forge.latestUrl === undefined) return Option.none()
      const repo = yield* repoOf(forge, tool)
      return yield* getOptional(forge, tool, repo, forge.latestUrl(apiUrlOf(forge, tool), repo), ctx)
    })

  const byTag: ReleaseClient["byTag"] = (forge, tool, tags, ctx) =>
    Effect.gen(function*() {
      const repo = yield* repoOf(forge, tool)
      const apiUrl = apiUrlOf(forge, tool)
      const listed = lists.get(forge.listUrl(apiUrl, repo))
      if (listed !== undefined) {
        for (const tag of tags) {
          const found = listed.find((r) => r.tag === tag)
          if (found !== undefined) return Option.some(found)
        }
      }
      for (const tag of tags) {
        const release = yield* getOptional(forge, tool, repo, forge.tagUrl(apiUrl, repo, tag), ctx)
        if (Option.isSome(release)) return release
      }
      return Option.none()
    })

  /** Auth for a download only when it is served by the API's own host (GitHub Enterprise, GitLab, Forgejo). */
  const downloadHeaders = (forge: Forge, tool: ToolRequest, url: string, ctx: BackendContext): Record<string, string> => {
    const apiUrl = apiUrlOf(forge, tool)
    const token = tokenOf(forge, apiUrl, ctx.env)
    const authorization = forge.headers(token?.value)["authorization"]
    return token !== undefined && authorization !== undefined && hostOf(url) === hostOf(apiUrl) ? { authorization } : {}
  }

  /**
   * Where to fetch an asset, as mise does: through the API on an Enterprise host (its browser URLs want a session);
   * on the public API, the browser URL unless a HEAD finds it missing or a login page (a private repository).
   */
  const assetSource = (forge: Forge, tool: ToolRequest, asset: ReleaseAsset, ctx: BackendContext) =>
    Effect.gen(function*() {
      const browser = { url: asset.url, headers: downloadHeaders(forge, tool, asset.url, ctx) }
      if (asset.apiUrl === undefined || asset.apiUrl === asset.url) return browser
      const viaApi = {
        url: asset.apiUrl,
        headers: { ...downloadHeaders(forge, tool, asset.apiUrl, ctx), accept: "application/octet-stream" }
      }
      if (!asset.apiUrl.startsWith(`${forge.defaultApiUrl}/`)) return viaApi
      const probed = yield* Effect.either(downloader.probe(browser.url, browser.headers))
      return Either.isLeft(probed) || probed.right.contentType?.toLowerCase().includes("text/html") === true ? viaApi : browser
    })

  /** The checksum the release publishes for `asset`, and where it came from. */
  const publishedChecksum = (forge: Forge, tool: ResolvedTool, release: Release, asset: ReleaseAsset, ctx: BackendContext) =>
    Effect.gen(function*() {
      if (asset.digest !== undefined) return Option.some({ checksum: asset.digest, source: `${forge.name}'s digest of ${asset.name}` })
      const names = release.assets.map((a) => a.name)
      for (const name of checksumAssets(asset.name, names)) {
        const file = release.assets.find((a) => a.name === name)!
        const source = yield* assetSource(forge, tool, file, ctx)
        const text = yield* downloader.fetchText(source.url, source.headers).pipe(
          Effect.mapError((e) => fail(tool, `cannot read the checksum file ${name} published with ${release.tag}: ${e.message}`, e))
        )
        const checksum = checksumFromFile(text.body, asset.name, name.startsWith(asset.name))
        if (checksum !== undefined) return Option.some({ checksum, source: name })
      }
      return Option.none<{ checksum: Checksum; source: string }>()
    })

  const download: ReleaseClient["download"] = (forge, resolved, release, asset, ctx) =>
    Effect.gen(function*() {
      const tool: ResolvedTool = { ...resolved, version: resolved.resolved }
      const published = yield* publishedChecksum(forge, tool, release, asset, ctx)
      const dest = NodePath.join(ctx.downloadDir, toolDirName(tool.short), tool.versionDir, asset.name)
      const source = yield* assetSource(forge, tool, asset, ctx)
      ctx.log(`${label(tool)}: download ${source.url}`)
      return yield* downloader.download({
        url: source.url,
        dest,
        headers: source.headers,
        ...(Option.isSome(published) ? { checksum: published.value.checksum } : {})
      }).pipe(
        Effect.mapError((e) =>
          fail(
            tool,
            e._tag === "ChecksumMismatchError" && Option.isSome(published)
              ? `${e.message} (the checksum is from ${published.value.source}); the asset changed since it was published, or the download was tampered with`
              : e.message,
            e
          )
        )
      )
    })

  return { releases, latest, byTag, download }
}

/** mise's tag → version: `version_prefix` removed when set (tags without it are not versions), else a leading `v`. */
export const versionOfTag = (tag: string, prefix: string | undefined): string | undefined => {
  if (prefix !== undefined && prefix !== "") return tag.startsWith(prefix) && tag.length > prefix.length ? tag.slice(prefix.length) : undefined
  return tag.replace(/^v(?=\d)/, "")
}

/** The tags a version may have been released under, tried in order: `<prefix><v>`, else `v<v>` then `<v>`. */
export const tagCandidates = (version: string, prefix: string | undefined): ReadonlyArray<string> =>
  prefix !== undefined && prefix !== "" ? [`${prefix}${version}`] : /^\d/.test(version) ? [`v${version}`, version] : [version]

/** How a backend turns tags into versions: `version_prefix`, and ubi's `tag_regex` on the version. */
export interface TagFilter {
  readonly prefix?: string
  readonly regex?: RegExp
}

interface Versioned {
  readonly version: string
  readonly release: Release
}

const versioned = (releases: ReadonlyArray<Release>, filter: TagFilter): ReadonlyArray<Versioned> =>
  releases.flatMap((release) => {
    if (release.draft) return []
    const version = versionOfTag(release.tag, filter.prefix)
    if (version === undefined || (filter.regex !== undefined && !filter.regex.test(version))) return []
    return [{ version, release }]
  })

/** Versions of the non-draft releases, ascending. */
export const releaseVersions = (releases: ReadonlyArray<Release>, filter: TagFilter): ReadonlyArray<string> =>
  sortVersions(versioned(releases, filter).map((v) => v.version))

/**
 * A spec → version over the releases: `latest` is the newest release neither marked nor named as a pre-release; a
 * prefix prefers such stable releases too, and matches pre-releases only when nothing stable does. An exact version
 * always wins.
 */
export const resolveRelease = (
  tool: ToolRequest,
  releases: ReadonlyArray<Release>,
  filter: TagFilter
): Effect.Effect<string, BackendError> => {
  const all = versioned(releases, filter)
  const versions = all.map((v) => v.version)
  const stable = all.filter((v) => !v.release.prerelease && !isPrerelease(v.version)).map((v) => v.version)
  return Option.match(matchVersion(tool.version, stable), {
    onSome: Effect.succeed,
    onNone: () => resolveFromList(tool.version, versions, tool.short)
  })
}

const template = (tool: ToolRequest, text: string, what: string, ctx: BackendContext) =>
  Either.match(renderTemplate(text, { version: tool.version, platform: ctx.platform, env: ctx.env }), {
    onLeft: (reason) => Effect.fail(fail(tool, `cannot fill in the ${what} template "${text}": ${reason}`)),
    onRight: Effect.succeed
  })

/** Resolve a spec: for `latest`, one request to the forge's latest endpoint when it has one; else the release list. */
export const resolveWith = (client: ReleaseClient, forge: Forge, tool: ToolRequest, filter: TagFilter, ctx: BackendContext) =>
  Effect.gen(function*() {
    const latest = tool.version === "latest" ? yield* client.latest(forge, tool, ctx) : Option.none<Release>()
    const quick = Option.flatMap(latest, (r) => Option.fromNullable(latestVersionOf(r, filter)))
    if (Option.isSome(quick)) return quick.value
    return yield* resolveRelease(tool, yield* client.releases(forge, tool, ctx), filter)
  })

/** The forge's latest release as a version, when it is a full release whose tag passes the filter. */
const latestVersionOf = (release: Release, filter: TagFilter): string | undefined => {
  if (release.draft || release.prerelease) return undefined
  const version = versionOfTag(release.tag, filter.prefix)
  return version !== undefined && (filter.regex === undefined || filter.regex.test(version)) ? version : undefined
}

/** A path option (`bin_path`), templated with the version and checked to stay inside the install dir. */
export const pathOption = (tool: ToolRequest, key: string, ctx: BackendContext) =>
  Effect.gen(function*() {
    const raw = platformOption(tool.options, key, ctx.platform)
    if (raw === undefined) return undefined
    const value = yield* template(tool, raw, key, ctx)
    if (insideInstallDir(value) === undefined) return yield* fail(tool, `${key} "${value}" must be a path inside the install dir`)
    return value
  })

/** A whole-number option (`strip_components`). */
export const countOption = (tool: ToolRequest, key: string, ctx: BackendContext) => {
  const raw = platformOption(tool.options, key, ctx.platform)
  if (raw === undefined) return Effect.succeed(undefined)
  return /^\d+$/.test(raw.trim())
    ? Effect.succeed(Number(raw.trim()))
    : Effect.fail(fail(tool, `${key} must be a whole number (got "${raw}")`))
}

/** A true/false option as TOML or a string gives it. */
export const flagOption = (tool: ToolRequest, key: string): boolean => {
  const raw = optionString(tool.options, key)
  return raw === "true" || raw === "1"
}

const assetList = (release: Release) =>
  release.assets.length === 0 ? "it has no assets" : `its assets: ${release.assets.map((a) => a.name).join(", ")}`

/** The asset to install: `asset_pattern` (templated, a glob) when set, else mise's autodetection for the target. */
export const chooseAsset = (tool: ResolvedTool, release: Release, ctx: BackendContext): Effect.Effect<ReleaseAsset, BackendError> =>
  Effect.gen(function*() {
    const request: ToolRequest = { ...tool, version: tool.resolved }
    const key = platformKey(ctx.platform)
    const raw = platformOption(tool.options, "asset_pattern", ctx.platform)
    if (raw !== undefined) {
      const pattern = yield* template(request, raw, "asset_pattern", ctx)
      const found = release.assets.find((a) => assetPatternMatches(pattern, a.name))
      return found ?? (yield* fail(request, `no asset of release ${release.tag} matches asset_pattern "${pattern}" (${assetList(release)})`))
    }
    const best = rankAssets(release.assets.map((a) => a.name), targetOf(ctx))[0]
    if (best !== undefined) return release.assets.find((a) => a.name === best.name)!
    return yield* fail(
      request,
      `no asset of release ${release.tag} is for ${key} (${assetList(release)}); ` +
        `set asset_pattern (or platforms.${key}.asset_pattern) to the file to install`
    )
  })

/** The release for a resolved version, or an error naming the tags tried. */
export const releaseFor = (client: ReleaseClient, forge: Forge, tool: ResolvedTool, filter: TagFilter, ctx: BackendContext) =>
  Effect.gen(function*() {
    const request: ToolRequest = { ...tool, version: tool.resolved }
    const tags = tagCandidates(tool.resolved, filter.prefix)
    const release = yield* client.byTag(forge, request, tags, ctx)
    if (Option.isSome(release)) return release.value
    // Listing says why when the repository itself is missing or the API is out of requests.
    const listed = yield* client.releases(forge, request, ctx)
    return yield* fail(
      request,
      `${forge.name} has no release tagged ${tags.join(" or ")} in ${tool.name} (releases: ${describeAvailable(releaseVersions(listed, filter))})`
    )
  })

/**
 * A `github:`/`gitlab:`/`forgejo:` backend (mise's unified git backend): versions from the releases API, the asset
 * autodetected or named by `asset_pattern`, verified against a published checksum, unpacked like the http backend.
 */
export const makeForgeBackend = (forge: Forge, info: BackendInfo, downloader: DownloaderShape): Backend => {
  const client = makeReleaseClient(downloader)
  const filterOf = (tool: ToolRequest): TagFilter => {
    const prefix = optionString(tool.options, "version_prefix")
    return prefix !== undefined ? { prefix } : {}
  }

  const install = (tool: ResolvedTool, dir: string, ctx: BackendContext) =>
    Effect.gen(function*() {
      const request: ToolRequest = { ...tool, version: tool.resolved }
      const release = yield* releaseFor(client, forge, tool, filterOf(tool), ctx)
      const asset = yield* chooseAsset(tool, release, ctx)
      const binPath = yield* pathOption(request, "bin_path", ctx)
      const strip = yield* countOption(request, "strip_components", ctx)
      const bin = platformOption(tool.options, "bin", ctx.platform)
      if (bin !== undefined && insideInstallDir(bin) === undefined) {
        return yield* fail(request, `bin "${bin}" must be a path inside the install dir`)
      }
      const file = yield* client.download(forge, tool, release, asset, ctx)
      const summary = yield* installArtifact(file.path, dir, {
        fileName: asset.name,
        format: formatFromFileName(asset.name),
        toolName: tool.name.split("/").pop()!,
        ...(strip !== undefined ? { stripComponents: strip } : {}),
        ...(binPath !== undefined ? { binPath } : {}),
        ...(bin !== undefined ? { bin } : {})
      }).pipe(Effect.mapError((e) => fail(request, e.message, e)))
      if (summary !== undefined && summary.skipped.length > 0) {
        ctx.warn(`${label(request)}: skipped special files in ${asset.name}: ${summary.skipped.join(", ")}`)
      }
      yield* dropDownloads(tool, ctx)
    })

  return {
    ...info,
    listVersions: (tool, ctx) => Effect.map(client.releases(forge, tool, ctx), (r) => releaseVersions(r, filterOf(tool))),
    resolveVersion: (tool, ctx) => resolveWith(client, forge, tool, filterOf(tool), ctx),
    install,
    binPaths: (tool, dir, ctx) =>
      Effect.gen(function*() {
        const binPath = yield* pathOption({ ...tool, version: tool.resolved }, "bin_path", ctx)
        return binPath !== undefined ? [NodePath.join(dir, binPath)] : yield* discoverBinPaths(dir, true)
      }),
    execEnv: () => Effect.succeed([])
  }
}
