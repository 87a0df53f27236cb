import { Effect, Schema } from "effect"
import type { Backend } from "./Backend"
import type { DownloaderShape } from "./Downloader"
import { type Forge, makeForgeBackend, type Release } from "./Releases"

export const gitlabInfo = {
  id: "gitlab",
  specForm: "gitlab:<group>/<project>",
  options: ["asset_pattern", "version_prefix", "bin_path", "bin", "strip_components", "api_url", "platforms.<os>-<arch>.<option>"],
  description:
    "A GitLab release link (not the generated source archives), autodetected for the platform (or asset_pattern); " +
    "self-hosted via api_url; token from GITLAB_TOKEN/MISE_GITLAB_TOKEN"
} as const

export const GITLAB_API = "https://gitlab.com/api/v4"

const Link = Schema.Struct({
  name: Schema.String,
  url: Schema.String,
  direct_asset_url: Schema.optional(Schema.String)
})

const GitLabRelease = Schema.Struct({
  tag_name: Schema.String,
  upcoming_release: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  assets: Schema.optionalWith(Schema.Struct({ links: Schema.optionalWith(Schema.Array(Link), { default: () => [] }) }), {
    default: () => ({ links: [] })
  })
})

// Only `links` are assets: `sources` are the archives GitLab generates from the tag, never a build.
const toRelease = (r: typeof GitLabRelease.Type): Release => ({
  tag: r.tag_name,
  prerelease: r.upcoming_release,
  draft: false,
  assets: r.assets.links.map((l) => ({ name: l.name, url: l.direct_asset_url ?? l.url }))
})

const decodeList = Schema.decodeUnknown(Schema.parseJson(Schema.Array(GitLabRelease)))
const decodeOne = Schema.decodeUnknown(Schema.parseJson(GitLabRelease))

/** The REST API v4 of gitlab.com, or of a self-hosted GitLab at `api_url = "https://<host>/api/v4"`. */
export const gitlabForge: Forge = {
  name: "GitLab",
  defaultApiUrl: GITLAB_API,
  repoShape: {
    pattern: /^[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)+$/,
    example: `"gitlab:<group>/<project>" (subgroups allowed), e.g. "gitlab:gitlab-org/cli"`
  },
  tokenVars: () => ["MISE_GITLAB_TOKEN", "GITLAB_TOKEN"],
  tokenHint: "GITLAB_TOKEN",
  // GitLab takes a personal token as a Bearer too; unlike PRIVATE-TOKEN, the Downloader drops Authorization on a
  // redirect to another host, so a link to a third-party server never sees it.
  headers: (token) => ({ accept: "application/json", ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}) }),
  listUrl: (api, repo) => `${api}/projects/${encodeURIComponent(repo)}/releases?per_page=100&page=1`,
  tagUrl: (api, repo, tag) => `${api}/projects/${encodeURIComponent(repo)}/releases/${encodeURIComponent(tag)}`,
  decodeList: (body) => Effect.map(decodeList(body), (list) => list.map(toRelease)),
  decodeOne: (body) => Effect.map(decodeOne(body), toRelease)
}

/** The `gitlab` backend. */
export const makeGitLabBackend = (downloader: DownloaderShape): Backend => makeForgeBackend(gitlabForge, gitlabInfo, downloader)
