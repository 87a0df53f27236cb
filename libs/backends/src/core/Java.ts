import { Effect, Schema } from "effect"
import * as NodePath from "node:path"
import type { BackendContext, ToolRequest } from "../Backend"
import { describeAvailable, resolveFromList, sortVersions } from "../Versions"
import { type CoreTool, fail, installing, knob, memo, rejectRef, setting, sha256, type Upstream, withSlash } from "./CoreTool"

export const DEFAULT_ADOPTIUM_API = "https://api.adoptium.net"

const API = knob("java.adoptium_api_url", "MISE_JAVA_ADOPTIUM_API_URL")

/** The Adoptium API answers at most 20 releases per page. */
const PAGE_SIZE = 20

/** `/v3/info/available_releases`: the feature versions Temurin ships. */
const AvailableReleases = Schema.Struct({
  available_releases: Schema.Array(Schema.Number),
  most_recent_feature_release: Schema.Number,
  most_recent_lts: Schema.Number
})
type AvailableReleases = typeof AvailableReleases.Type

/** `/v3/assets/feature_releases/<major>/ga`: releases, newest first, each with its binaries. */
const FeatureReleases = Schema.Array(Schema.Struct({
  release_name: Schema.String,
  version_data: Schema.Struct({ semver: Schema.String }),
  binaries: Schema.Array(Schema.Struct({
    os: Schema.String,
    architecture: Schema.String,
    image_type: Schema.String,
    jvm_impl: Schema.optional(Schema.String),
    package: Schema.optional(Schema.Struct({
      name: Schema.String,
      link: Schema.String,
      checksum: Schema.optional(Schema.NullOr(Schema.String))
    }))
  }))
}))
type FeatureReleases = typeof FeatureReleases.Type

const javaOs = (os: string) => (os === "macos" ? "mac" : os)
const javaArch = (arch: string) => (arch === "arm64" ? "aarch64" : arch)

const apiOf = (ctx: BackendContext) => withSlash(setting(ctx, "java.adoptium_api_url", "MISE_JAVA_ADOPTIUM_API_URL") ?? DEFAULT_ADOPTIUM_API)

/** `temurin-21.0.2` → temurin / `21.0.2`; `21` → shorthand / `21`; `zulu-21` → zulu / `21`. */
const splitSpec = (spec: string): { readonly vendor: string | undefined; readonly rest: string } => {
  const m = /^([a-z][a-z0-9]*(?:-[a-z][a-z0-9]*)*)-(.+)$/.exec(spec)
  return m === null || spec === "latest" || spec === "lts" ? { vendor: undefined, rest: spec } : { vendor: m[1]!, rest: m[2]! }
}

/** `21`, `21.0.2+13.0.LTS`, and the legacy `1.8` spelling → the feature version. */
const majorOf = (rest: string): number | undefined => {
  const m = /^1\.(\d+)(?:[.+_-]|$)/.exec(rest) ?? /^(\d+)(?:[.+_-]|$)/.exec(rest)
  return m === null ? undefined : Number(m[1])
}

/** The mise settings (and their env vars) this tool reads, for `engine backends`. */
export const JAVA_SETTINGS: ReadonlyArray<string> = ["java.adoptium_api_url (MISE_JAVA_ADOPTIUM_API_URL)", "java.shorthand_vendor (MISE_JAVA_SHORTHAND_VENDOR)"]

export const makeJava = (upstream: Upstream): CoreTool => {
  const infos = memo<AvailableReleases>()
  const majors = memo<FeatureReleases>()

  const available = (tool: ToolRequest, ctx: BackendContext) => {
    const url = `${apiOf(ctx)}v3/info/available_releases`
    return infos(url, upstream.json(tool, url, AvailableReleases, `the API is set by ${API}`))
  }

  const pageUrl = (ctx: BackendContext, major: number, page: number) =>
    `${apiOf(ctx)}v3/assets/feature_releases/${major}/ga?architecture=${javaArch(ctx.platform.arch)}&image_type=jdk` +
    `&jvm_impl=hotspot&os=${javaOs(ctx.platform.os)}&page=${page}&page_size=${PAGE_SIZE}&project=jdk&sort_order=DESC&vendor=eclipse`

  /**
   * Every GA release of one feature version with a JDK for this platform. The API answers 404 past the last page,
   * and so on the first when nothing matches the platform.
   */
  const releasesOf = (tool: ToolRequest, ctx: BackendContext, major: number) =>
    majors(
      `${apiOf(ctx)}\n${major}\n${ctx.platform.os}-${ctx.platform.arch}`,
      Effect.gen(function*() {
        const all: Array<FeatureReleases[number]> = []
        for (let page = 0;; page++) {
          const url = pageUrl(ctx, major, page)
          const hint = `the API is set by ${API}`
          const releases = yield* upstream.optionalJson(tool, url, FeatureReleases, hint)
          if (releases === undefined) break
          all.push(...releases)
          if (releases.length < PAGE_SIZE) break
        }
        return all
      })
    )

  const listVersions = (tool: ToolRequest, ctx: BackendContext) =>
    Effect.gen(function*() {
      const info = yield* available(tool, ctx)
      const perMajor = yield* Effect.forEach(info.available_releases, (major) => releasesOf(tool, ctx, major), { concurrency: 4 })
      const versions = perMajor.flat().map((r) => r.version_data.semver)
      return sortVersions([...versions, ...versions.map((v) => `temurin-${v}`)])
    })

  /**
   * mise's java specs over Temurin: `temurin-21` → `temurin-21.0.2+13.0.LTS`; a bare `21` (mise's shorthand vendor)
   * → `21.0.2+13.0.LTS`, which is what mise gives with `java.shorthand_vendor = "temurin"`; `latest`, `lts`.
   */
  const resolveVersion = (tool: ToolRequest, ctx: BackendContext) =>
    Effect.gen(function*() {
      yield* rejectRef(tool)
      const { vendor, rest } = splitSpec(tool.version)
      const shorthand = setting(ctx, "java.shorthand_vendor", "MISE_JAVA_SHORTHAND_VENDOR")
      if (vendor !== undefined && vendor !== "temurin") {
        return yield* fail(tool, `engine installs Java from Eclipse Temurin (Adoptium) only, not ${vendor}; write "temurin-${rest}"`)
      }
      if (vendor === undefined && shorthand !== undefined && shorthand !== "temurin") {
        return yield* fail(
          tool,
          `java.shorthand_vendor is "${shorthand}", but engine installs Java from Eclipse Temurin (Adoptium) only; ` +
            `write "temurin-${rest}" or set java.shorthand_vendor = "temurin"`
        )
      }
      const info = yield* available(tool, ctx)
      const major = rest === "latest" ? info.most_recent_feature_release : rest === "lts" ? info.most_recent_lts : majorOf(rest)
      if (major === undefined) return yield* fail(tool, `"${tool.version}" is not a Java version (e.g. "21", "temurin-21", "lts", "latest")`)
      if (!info.available_releases.includes(major)) {
        return yield* fail(tool, `Temurin has no Java ${major} (available: ${info.available_releases.join(", ")})`)
      }
      const versions = (yield* releasesOf(tool, ctx, major)).map((r) => r.version_data.semver)
      if (versions.length === 0) {
        return yield* fail(tool, `Temurin publishes no GA JDK of Java ${major} for ${javaOs(ctx.platform.os)}-${javaArch(ctx.platform.arch)}`)
      }
      const version = versions.includes(rest)
        ? rest
        : yield* resolveFromList(rest === "latest" || rest === "lts" ? "latest" : rest, versions, tool.short)
      return vendor === undefined ? version : `temurin-${version}`
    })

  const install: CoreTool["install"] = (tool, dir, ctx) =>
    Effect.gen(function*() {
      const request = installing(tool)
      const semver = tool.resolved.replace(/^temurin-/, "")
      const major = majorOf(semver)
      if (major === undefined) return yield* fail(request, `"${tool.resolved}" is not a Temurin version`)
      const releases = yield* releasesOf(request, ctx, major)
      const release = releases.find((r) => r.version_data.semver === semver)
      const platform = `${javaOs(ctx.platform.os)}-${javaArch(ctx.platform.arch)}`
      if (release === undefined) {
        return yield* fail(
          request,
          `Temurin has no release ${semver} with a JDK for ${platform} (available: ${describeAvailable(releases.map((r) => r.version_data.semver))})`
        )
      }
      const binary = release.binaries.find((b) =>
        b.os === javaOs(ctx.platform.os) && b.architecture === javaArch(ctx.platform.arch) && b.image_type === "jdk" &&
        (b.jvm_impl ?? "hotspot") === "hotspot" && b.package !== undefined
      )
      if (binary?.package === undefined) {
        return yield* fail(request, `Temurin ${release.release_name} has no JDK archive for ${platform}`)
      }
      const pkg = binary.package
      // A mirror of the API may answer with links relative to itself.
      const url = new URL(pkg.link, apiOf(ctx)).href
      const checksum = typeof pkg.checksum === "string" && pkg.checksum !== "" ? sha256(pkg.checksum) : undefined
      if (checksum === undefined) ctx.warn(`${request.short}@${request.version}: the API gives no checksum for ${pkg.name}; installing without verification`)
      const download = yield* upstream.download(tool, url, checksum, ctx, `the API is set by ${API}`)
      // The archive holds one `jdk-<version>/` directory: that is JAVA_HOME.
      yield* upstream.extract(tool, download.path, dir, 1)
      yield* upstream.cleanup(tool, ctx)
    })

  return {
    name: "java",
    settings: JAVA_SETTINGS,
    listVersions,
    resolveVersion,
    install,
    binPaths: (dir) => [NodePath.join(dir, "bin")],
    execEnv: (dir) => [["JAVA_HOME", dir]]
  }
}
