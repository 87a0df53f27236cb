import { Effect, Schema } from "effect"
import type { Backend } from "./Backend"
import type { DownloaderShape } from "./Downloader"
import { type Forge, makeForgeBackend, type Release } from "./Releases"

export const forgejoInfo = {
  id: "forgejo",
  specForm: "forgejo:<owner>/<repo>",
  options: ["asset_pattern", "version_prefix", "bin_path", "bin", "strip_components", "api_url", "platforms.<os>-<arch>.<option>"],
  description:
    "A Forgejo/Gitea release asset (codeberg.org unless api_url), autodetected for the platform (or asset_pattern); " +
    "token from FORGEJO_TOKEN/MISE_FORGEJO_TOKEN"
} as const

export const FORGEJO_API = "https://codeberg.org/api/v1"

const Asset = Schema.Struct({ name: Schema.String, browser_download_url: Schema.String })

const ForgejoRelease = Schema.Struct({
  tag_name: Schema.String,
  draft: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  prerelease: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  assets: Schema.optionalWith(Schema.Array(Asset), { default: () => [] })
})

const toRelease = (r: typeof ForgejoRelease.Type): Release => ({
  tag: r.tag_name,
  prerelease: r.prerelease,
  draft: r.draft,
  assets: r.assets.map((a) => ({ name: a.name, url: a.browser_download_url }))
})

const decodeList = Schema.decodeUnknown(Schema.parseJson(Schema.Array(ForgejoRelease)))
const decodeOne = Schema.decodeUnknown(Schema.parseJson(ForgejoRelease))

/** The Forgejo (and Gitea) API v1 of codeberg.org, or of another instance at `api_url = "https://<host>/api/v1"`. */
export const forgejoForge: Forge = {
  name: "Forgejo",
  defaultApiUrl: FORGEJO_API,
  repoShape: { pattern: /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, example: `"forgejo:<owner>/<repo>", e.g. "forgejo:forgejo/forgejo"` },
  tokenVars: () => ["MISE_FORGEJO_TOKEN", "FORGEJO_TOKEN"],
  tokenHint: "FORGEJO_TOKEN",
  headers: (token) => ({ accept: "application/json", ...(token !== undefined ? { authorization: `token ${token}` } : {}) }),
  // 50 is the largest page Forgejo serves by default (MAX_RESPONSE_ITEMS).
  listUrl: (api, repo) => `${api}/repos/${repo}/releases?limit=50&page=1`,
  tagUrl: (api, repo, tag) => `${api}/repos/${repo}/releases/tags/${encodeURIComponent(tag)}`,
  // Gitea/Forgejo's newest full release (by date, not version), which mise takes for `latest`; older servers answer 404.
  latestUrl: (api, repo) => `${api}/repos/${repo}/releases/latest`,
  decodeList: (body) => Effect.map(decodeList(body), (list) => list.map(toRelease)),
  decodeOne: (body) => Effect.map(decodeOne(body), toRelease)
}

/** The `forgejo` backend. */
export const makeForgejoBackend = (downloader: DownloaderShape): Backend => makeForgeBackend(forgejoForge, forgejoInfo, downloader)
