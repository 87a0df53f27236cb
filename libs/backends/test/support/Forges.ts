import { createHash } from "node:crypto"
import type * as http from "node:http"
import { tarGz } from "./Fixtures"
import type { TestServer } from "./Server"

/** A release asset served by a fixture forge. */
export interface FixtureAsset {
  readonly name: string
  readonly body: Buffer
  /** GitHub's `digest` field: `true` for the real sha256, a string to publish a wrong one. */
  readonly digest?: true | string
}

export interface FixtureRelease {
  readonly tag: string
  readonly prerelease?: boolean
  readonly draft?: boolean
  readonly assets: ReadonlyArray<FixtureAsset>
}

export const sha256 = (data: Buffer | string) => createHash("sha256").update(data).digest("hex")

/** The tool every fixture release ships: `bin/<tool>` printing its version and which build it is. */
export const toolScript = (tool: string, version: string, build: string) => `#!/bin/sh\necho "${tool} ${version} ${build}"\n`

/** `<tool>-<version>/bin/<tool>` in a tar.gz, as most projects pack a release. */
export const toolTarGz = (tool: string, version: string, build: string) =>
  tarGz([
    { name: `${tool}-${version}/`, type: "directory" },
    { name: `${tool}-${version}/README.md`, content: `${tool}\n` },
    { name: `${tool}-${version}/bin/`, type: "directory" },
    { name: `${tool}-${version}/bin/${tool}`, content: toolScript(tool, version, build), mode: 0o755 }
  ])

/**
 * A release as a typical Rust/Go project publishes it: linux x86_64 gnu and musl, linux arm64, macOS arm64 and
 * Windows builds, a `.sha256` beside each archive, a `checksums.txt`, an SBOM and a signature.
 */
export const typicalAssets = async (tool: string, version: string): Promise<ReadonlyArray<FixtureAsset>> => {
  const builds: ReadonlyArray<readonly [string, string]> = [
    [`${tool}-${version}-x86_64-unknown-linux-musl.tar.gz`, "linux-x64-musl"],
    [`${tool}-${version}-x86_64-unknown-linux-gnu.tar.gz`, "linux-x64-gnu"],
    [`${tool}-${version}-aarch64-unknown-linux-gnu.tar.gz`, "linux-arm64-gnu"],
    [`${tool}-${version}-aarch64-apple-darwin.tar.gz`, "macos-arm64"]
  ]
  const archives: Array<FixtureAsset> = []
  for (const [name, build] of builds) archives.push({ name, body: await toolTarGz(tool, version, build) })
  const sums = archives.map((a) => ({ name: `${a.name}.sha256`, body: Buffer.from(`${sha256(a.body)}  ${a.name}\n`) }))
  return [
    ...archives,
    { name: `${tool}-${version}-x86_64-pc-windows-msvc.zip`, body: Buffer.from("not a zip") },
    ...sums,
    { name: "checksums.txt", body: Buffer.from(archives.map((a) => `${sha256(a.body)}  ${a.name}\n`).join("")) },
    { name: `${tool}-${version}.sbom.json`, body: Buffer.from("{}") },
    { name: `${tool}-${version}-x86_64-unknown-linux-gnu.tar.gz.sig`, body: Buffer.from("sig") }
  ]
}

const json = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  const text = JSON.stringify(body)
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers }).end(text)
}

/** An API error answer, with the headers a forge sends (rate limits, retry hints). */
export const serveError = (server: TestServer, path: string, status: number, message: string, headers: Record<string, string> = {}) =>
  server.route(path, (_req, res) => json(res, status, { message }, headers))

const pageOf = <A>(req: http.IncomingMessage, items: ReadonlyArray<A>, sizeParam: string, maxSize: number) => {
  const url = new URL(req.url ?? "/", "http://x")
  const size = Math.min(Number(url.searchParams.get(sizeParam) ?? 30), maxSize)
  const page = Math.max(1, Number(url.searchParams.get("page") ?? 1))
  const last = Math.max(1, Math.ceil(items.length / size))
  return { size, page, last, items: items.slice((page - 1) * size, page * size) }
}

const serveAssets = (server: TestServer, pathOf: (release: FixtureRelease, asset: FixtureAsset) => string, releases: ReadonlyArray<FixtureRelease>) => {
  for (const release of releases) for (const asset of release.assets) server.route(pathOf(release, asset), asset.body)
}

export interface GitHubFixture {
  /** Where the API lives on the server: `/api/v3` for GitHub Enterprise, `` for api.github.com's layout. */
  readonly base: string
  readonly repo: string
  readonly releases: ReadonlyArray<FixtureRelease>
  /** The most releases one page holds, whatever `per_page` asks (GitHub caps it at 100). */
  readonly pageSize: number
  /** Serve `/releases/latest` (GitHub answers 404 there when a repository has no full release). */
  readonly latest?: boolean
  /** The origin of `browser_download_url` (default: the server's). */
  readonly downloadOrigin?: string
  /**
   * A private repository readable with this token: the API answers 404 without it, `browser_download_url` always
   * 404s (it wants a browser session), and the API's asset URL redirects to a storage host serving the bytes.
   */
  readonly privateToken?: string
  /** The origin of that storage host (default: the server's); like S3, it refuses a request carrying a token. */
  readonly storageOrigin?: string
}

/**
 * GitHub's REST shapes: paginated list with `Link`, `/releases/latest`, `/releases/tags/:tag`, the browser downloads,
 * and each asset's API URL (`/releases/assets/:id`): its JSON, or with `Accept: application/octet-stream` a 302 to
 * the bytes.
 */
export const serveGitHub = (server: TestServer, f: GitHubFixture) => {
  const origin = f.downloadOrigin ?? server.url
  const allowed = (req: http.IncomingMessage) => f.privateToken === undefined || req.headers.authorization === `Bearer ${f.privateToken}`
  const guarded = (handler: (req: http.IncomingMessage, res: http.ServerResponse) => void) =>
  (req: http.IncomingMessage, res: http.ServerResponse) => allowed(req) ? handler(req, res) : json(res, 404, { message: "Not Found" })
  const download = (r: FixtureRelease, a: FixtureAsset) => `/${f.repo}/releases/download/${r.tag}/${a.name}`
  const toJson = (r: FixtureRelease, id: number) => ({
    url: `${server.url}${f.base}/repos/${f.repo}/releases/${id}`,
    html_url: `${server.url}/${f.repo}/releases/tag/${r.tag}`,
    id,
    tag_name: r.tag,
    target_commitish: "main",
    name: r.tag,
    draft: r.draft ?? false,
    prerelease: r.prerelease ?? false,
    created_at: "2026-01-01T00:00:00Z",
    published_at: "2026-01-01T00:00:00Z",
    assets: r.assets.map((a, i) => ({
      url: `${server.url}${f.base}/repos/${f.repo}/releases/assets/${id * 100 + i}`,
      id: id * 100 + i,
      name: a.name,
      label: "",
      content_type: "application/octet-stream",
      state: "uploaded",
      size: a.body.length,
      digest: a.digest === undefined ? null : a.digest === true ? `sha256:${sha256(a.body)}` : a.digest,
      download_count: 0,
      browser_download_url: `${origin}${download(r, a)}`
    })),
    body: ""
  })
  const listed = f.releases.map((r, i) => toJson(r, f.releases.length - i))
  const api = `${f.base}/repos/${f.repo}/releases`
  server.route(api, guarded((req, res) => {
    const p = pageOf(req, listed, "per_page", f.pageSize)
    const link = (n: number, rel: string) => `<${server.url}${api}?per_page=${p.size}&page=${n}>; rel="${rel}"`
    const links = [
      ...(p.page > 1 ? [link(p.page - 1, "prev"), link(1, "first")] : []),
      ...(p.page < p.last ? [link(p.page + 1, "next"), link(p.last, "last")] : [])
    ]
    json(res, 200, p.items, links.length > 0 ? { link: links.join(", ") } : {})
  }))
  for (const [i, r] of f.releases.entries()) server.route(`${api}/tags/${r.tag}`, guarded((_req, res) => json(res, 200, listed[i])))
  if (f.latest === true) {
    const latest = listed.find((r) => !r.draft && !r.prerelease)
    server.route(`${api}/latest`, guarded((_req, res) => (latest !== undefined ? json(res, 200, latest) : json(res, 404, { message: "Not Found" }))))
  }
  for (const [i, r] of f.releases.entries()) {
    for (const [j, a] of r.assets.entries()) {
      const described = listed[i]!.assets[j]!
      const storage = `/storage/${f.repo}/${described.id}`
      const bytes = f.privateToken === undefined ? `${origin}${download(r, a)}` : `${f.storageOrigin ?? server.url}${storage}`
      server.route(`${api}/assets/${described.id}`, guarded((req, res) =>
        req.headers.accept === "application/octet-stream" ? res.writeHead(302, { location: bytes }).end() : json(res, 200, described)
      ))
      if (f.privateToken !== undefined) {
        server.route(storage, (req, res) =>
          req.headers.authorization !== undefined
            ? res.writeHead(400, { "content-type": "application/xml" }).end("<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed</Message></Error>")
            : res.writeHead(200, { "content-type": "application/octet-stream", "content-length": a.body.length }).end(a.body))
        server.route(download(r, a), (_req, res) => res.writeHead(404, { "content-type": "text/html; charset=utf-8" }).end("<html>Not Found</html>"))
      }
    }
  }
  if (f.privateToken === undefined) serveAssets(server, download, f.releases)
}

export interface GitLabFixture {
  readonly repo: string
  readonly releases: ReadonlyArray<FixtureRelease>
  readonly pageSize: number
}

/**
 * GitLab's v4 shapes: `/api/v4/projects/<group%2Fproject>/releases` paginated with `x-next-page`/`x-total-pages`,
 * assets as `links` (each `url` the upload, `direct_asset_url` the release permalink) beside generated `sources`.
 */
export const serveGitLab = (server: TestServer, f: GitLabFixture) => {
  const project = encodeURIComponent(f.repo)
  const permalink = (r: FixtureRelease, a: FixtureAsset) => `/${f.repo}/-/releases/${r.tag}/downloads/${a.name}`
  const toJson = (r: FixtureRelease) => ({
    name: r.tag,
    tag_name: r.tag,
    description: "",
    created_at: "2026-01-01T00:00:00.000Z",
    released_at: "2026-01-01T00:00:00.000Z",
    upcoming_release: r.prerelease ?? false,
    assets: {
      count: r.assets.length + 2,
      sources: ["zip", "tar.gz"].map((format) => ({
        format,
        url: `${server.url}/${f.repo}/-/archive/${r.tag}/${f.repo.split("/").pop()}-${r.tag}.${format}`
      })),
      links: r.assets.map((a, i) => ({
        id: i + 1,
        name: a.name,
        // The upload itself lives elsewhere; the permalink is what GitLab tells clients to fetch.
        url: `${server.url}/uploads/gone/${a.name}`,
        direct_asset_url: `${server.url}${permalink(r, a)}`,
        link_type: "package"
      }))
    }
  })
  const listed = f.releases.map(toJson)
  const api = `/api/v4/projects/${project}/releases`
  server.route(api, (req, res) => {
    const p = pageOf(req, listed, "per_page", f.pageSize)
    json(res, 200, p.items, {
      "x-page": String(p.page),
      "x-per-page": String(p.size),
      "x-total": String(listed.length),
      "x-total-pages": String(p.last),
      "x-next-page": p.page < p.last ? String(p.page + 1) : "",
      "x-prev-page": p.page > 1 ? String(p.page - 1) : ""
    })
  })
  for (const [i, r] of f.releases.entries()) server.route(`${api}/${r.tag}`, (_req, res) => json(res, 200, listed[i]))
  serveAssets(server, permalink, f.releases)
}

export interface ForgejoFixture {
  readonly repo: string
  readonly releases: ReadonlyArray<FixtureRelease>
  readonly pageSize: number
  /** Serve `/releases/latest`: the newest full release in list order (Gitea 1.17+; older servers answer 404). */
  readonly latest?: boolean
}

/** Forgejo/Gitea v1 shapes: `/api/v1/repos/:o/:r/releases?limit&page` with `Link` and `x-total-count`. */
export const serveForgejo = (server: TestServer, f: ForgejoFixture) => {
  const download = (r: FixtureRelease, a: FixtureAsset) => `/${f.repo}/releases/download/${r.tag}/${a.name}`
  const toJson = (r: FixtureRelease, id: number) => ({
    id,
    tag_name: r.tag,
    target_commitish: "main",
    name: r.tag,
    body: "",
    url: `${server.url}/api/v1/repos/${f.repo}/releases/${id}`,
    html_url: `${server.url}/${f.repo}/releases/tag/${r.tag}`,
    tarball_url: `${server.url}/${f.repo}/archive/${r.tag}.tar.gz`,
    zipball_url: `${server.url}/${f.repo}/archive/${r.tag}.zip`,
    draft: r.draft ?? false,
    prerelease: r.prerelease ?? false,
    created_at: "2026-01-01T00:00:00Z",
    published_at: "2026-01-01T00:00:00Z",
    assets: r.assets.map((a, i) => ({
      id: id * 100 + i,
      name: a.name,
      size: a.body.length,
      download_count: 0,
      created_at: "2026-01-01T00:00:00Z",
      uuid: `uuid-${id}-${i}`,
      browser_download_url: `${server.url}${download(r, a)}`
    }))
  })
  const listed = f.releases.map((r, i) => toJson(r, f.releases.length - i))
  const api = `/api/v1/repos/${f.repo}/releases`
  server.route(api, (req, res) => {
    const p = pageOf(req, listed, "limit", f.pageSize)
    const link = (n: number, rel: string) => `<${server.url}${api}?limit=${p.size}&page=${n}>; rel="${rel}"`
    const links = [
      ...(p.page < p.last ? [link(p.page + 1, "next"), link(p.last, "last")] : []),
      ...(p.page > 1 ? [link(1, "first"), link(p.page - 1, "prev")] : [])
    ]
    json(res, 200, p.items, { "x-total-count": String(listed.length), ...(links.length > 0 ? { link: links.join(",") } : {}) })
  })
  for (const [i, r] of f.releases.entries()) server.route(`${api}/tags/${r.tag}`, (_req, res) => json(res, 200, listed[i]))
  if (f.latest === true) {
    const latest = listed.find((r) => !r.draft && !r.prerelease)
    server.route(`${api}/latest`, (_req, res) => (latest !== undefined ? json(res, 200, latest) : json(res, 404, { message: "Not Found" })))
  }
  serveAssets(server, download, f.releases)
}
