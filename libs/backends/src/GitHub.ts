import { Effect, Schema } from "effect"
import type { Backend } from "./Backend"
import { type Checksum, type DownloaderShape, parseChecksum } from "./Downloader"
import { type Forge, makeForgeBackend, type Release } from "./Releases"

export const githubInfo = {
  id: "github",
  specForm: "github:<owner>/<repo>",
  options: ["asset_pattern", "version_prefix", "bin_path", "bin", "strip_components", "api_url", "platforms.<os>-<arch>.<option>"],
  description:
    "A GitHub release asset, autodetected for the platform (or asset_pattern), checksum-verified when published; " +
    "GitHub Enterprise via api_url; token from GITHUB_TOKEN/GH_TOKEN/MISE_GITHUB_TOKEN"
} as const

export const GITHUB_API = "https://api.github.com"

const Asset = Schema.Struct({
  name: Schema.String,
  url: Schema.optional(Schema.String),
  browser_download_url: Schema.String,
  digest: Schema.optional(Schema.NullOr(Schema.String))
})

const GitHubRelease = Schema.Struct({
  tag_name: Schema.String,
  draft: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  prerelease: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  assets: Schema.optionalWith(Schema.Array(Asset), { default: () => [] })
})

/** GitHub publishes `sha256:<hex>` digests of assets uploaded since mid-2025. */
const digestOf = (digest: string | null | undefined): Checksum | undefined => {
  if (digest === undefined || digest === null) return undefined
  const parsed = parseChecksum(digest)
  return typeof parsed === "string" ? undefined : parsed
}

const toRelease = (r: typeof GitHubRelease.Type): Release => ({
  tag: r.tag_name,
  prerelease: r.prerelease,
  draft: r.draft,
  assets: r.assets.map((a) => {
    const digest = digestOf(a.digest)
    return {
      name: a.name,
      url: a.browser_download_url,
      ...(a.url !== undefined ? { apiUrl: a.url } : {}),
      ...(digest !== undefined ? { digest } : {})
    }
  })
})

const decodeList = Schema.decodeUnknown(Schema.parseJson(Schema.Array(GitHubRelease)))
const decodeOne = Schema.decodeUnknown(Schema.parseJson(GitHubRelease))

const TOKEN_VARS = ["MISE_GITHUB_TOKEN", "GITHUB_API_TOKEN", "GITHUB_TOKEN", "GH_TOKEN"]

const isGitHubDotCom = (apiUrl: string) => {
  try {
    return new URL(apiUrl).host === "api.github.com"
  } catch {
    return false
  }
}

/** The REST API of github.com, or of a GitHub Enterprise Server at `api_url = "https://<host>/api/v3"`. */
export const githubForge: Forge = {
  name: "GitHub",
  defaultApiUrl: GITHUB_API,
  repoShape: { pattern: /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, example: `"github:<owner>/<repo>", e.g. "github:cli/cli"` },
  // An Enterprise host has its own token; a github.com one is tried after it, as mise does.
  tokenVars: (apiUrl) => isGitHubDotCom(apiUrl) ? TOKEN_VARS : ["MISE_GITHUB_ENTERPRISE_TOKEN", ...TOKEN_VARS],
  tokenHint: "GITHUB_TOKEN",
  headers: (token) => ({
    accept: "application/vnd.github+json",
    "x-github-api-version": "2022-11-28",
    ...(token !== undefined ? { authorization: `Bearer ${token}` } : {})
  }),
  listUrl: (api, repo) => `${api}/repos/${repo}/releases?per_page=100&page=1`,
  tagUrl: (api, repo, tag) => `${api}/repos/${repo}/releases/tags/${encodeURIComponent(tag)}`,
  latestUrl: (api, repo) => `${api}/repos/${repo}/releases/latest`,
  decodeList: (body) => Effect.map(decodeList(body), (list) => list.map(toRelease)),
  decodeOne: (body) => Effect.map(decodeOne(body), toRelease)
}

/** The `github` backend. */
export const makeGitHubBackend = (downloader: DownloaderShape): Backend => makeForgeBackend(githubForge, githubInfo, downloader)
