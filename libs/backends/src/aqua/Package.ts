import { Either, Schema } from "effect"
import * as NodePath from "node:path"
import type { Platform } from "../Platform"
import { evalAquaExpr } from "./Expr"
import { renderAquaTemplate } from "./Template"

const Scalar = Schema.Union(Schema.String, Schema.Number, Schema.Boolean)
const ScalarMap = Schema.Record({ key: Schema.String, value: Scalar })

const AquaFile = Schema.Struct({
  name: Schema.String,
  src: Schema.optional(Schema.String),
  link: Schema.optional(Schema.String),
  hard: Schema.optional(Schema.Boolean)
})
export type AquaFile = typeof AquaFile.Type

const AquaChecksum = Schema.Struct({
  type: Schema.optional(Schema.Literal("github_release", "http")),
  algorithm: Schema.optional(Schema.Literal("sha1", "sha256", "sha512", "md5")),
  pattern: Schema.optional(Schema.Struct({ checksum: Schema.String, file: Schema.optional(Schema.String) })),
  replacements: Schema.optional(ScalarMap),
  file_format: Schema.optional(Schema.String),
  enabled: Schema.optional(Schema.Boolean),
  asset: Schema.optional(Schema.String),
  url: Schema.optional(Schema.String)
})
export type AquaChecksum = typeof AquaChecksum.Type

const AquaVar = Schema.Struct({
  name: Schema.String,
  default: Schema.optional(Scalar),
  required: Schema.optional(Schema.Boolean)
})

/** A package as the registry YAML describes it (the fields this backend reads; others are ignored). */
export interface AquaPackage {
  readonly type?: string
  readonly repo_owner?: string
  readonly repo_name?: string
  readonly name?: string
  readonly path?: string
  readonly asset?: string
  readonly url?: string
  readonly format?: string
  readonly supported_envs?: ReadonlyArray<string>
  readonly files?: ReadonlyArray<AquaFile>
  readonly vars?: ReadonlyArray<typeof AquaVar.Type>
  readonly replacements?: Readonly<Record<string, string | number | boolean>>
  readonly version_prefix?: string
  readonly version_filter?: string
  readonly version_source?: string
  readonly checksum?: AquaChecksum
  readonly format_overrides?: ReadonlyArray<{ readonly goos: string; readonly format: string }>
  readonly overrides?: ReadonlyArray<AquaOverride>
  readonly version_constraint?: string
  readonly version_overrides?: ReadonlyArray<AquaPackage>
  readonly no_asset?: boolean
  readonly error_message?: string
}

interface AquaOverride extends AquaPackage {
  readonly goos?: string
  readonly goarch?: string
  readonly envs?: ReadonlyArray<string>
  readonly variants?: ReadonlyArray<{ readonly key: string; readonly value: string }>
}

const packageFields = {
  type: Schema.optional(Schema.String),
  repo_owner: Schema.optional(Schema.String),
  repo_name: Schema.optional(Schema.String),
  name: Schema.optional(Schema.String),
  path: Schema.optional(Schema.String),
  asset: Schema.optional(Schema.String),
  url: Schema.optional(Schema.String),
  format: Schema.optional(Schema.String),
  supported_envs: Schema.optional(Schema.Array(Schema.String)),
  files: Schema.optional(Schema.Array(AquaFile)),
  vars: Schema.optional(Schema.Array(AquaVar)),
  replacements: Schema.optional(ScalarMap),
  version_prefix: Schema.optional(Schema.String),
  version_filter: Schema.optional(Schema.String),
  version_source: Schema.optional(Schema.String),
  checksum: Schema.optional(AquaChecksum),
  format_overrides: Schema.optional(Schema.Array(Schema.Struct({ goos: Schema.String, format: Schema.String }))),
  overrides: Schema.optional(Schema.Array(Schema.suspend((): Schema.Schema<AquaOverride> => AquaOverrideSchema))),
  version_constraint: Schema.optional(Schema.String),
  version_overrides: Schema.optional(Schema.Array(Schema.suspend((): Schema.Schema<AquaPackage> => AquaPackageSchema))),
  no_asset: Schema.optional(Schema.Boolean),
  error_message: Schema.optional(Schema.String)
}

export const AquaPackageSchema: Schema.Schema<AquaPackage> = Schema.Struct(packageFields)

const AquaOverrideSchema: Schema.Schema<AquaOverride> = Schema.Struct({
  ...packageFields,
  goos: Schema.optional(Schema.String),
  goarch: Schema.optional(Schema.String),
  envs: Schema.optional(Schema.Array(Schema.String)),
  variants: Schema.optional(Schema.Array(Schema.Struct({ key: Schema.String, value: Schema.String })))
})

/** The registry's id of a package: `name`, else `repo_owner/repo_name`, else `path` (aqua's own rule). */
export const packageId = (pkg: { readonly name?: unknown; readonly repo_owner?: unknown; readonly repo_name?: unknown; readonly path?: unknown }): string | undefined =>
  typeof pkg.name === "string" && pkg.name !== ""
    ? pkg.name
    : typeof pkg.repo_owner === "string" && pkg.repo_owner !== "" && typeof pkg.repo_name === "string" && pkg.repo_name !== ""
    ? `${pkg.repo_owner}/${pkg.repo_name}`
    : typeof pkg.path === "string" && pkg.path !== ""
    ? pkg.path
    : undefined

export const packageType = (pkg: AquaPackage): string => pkg.type ?? "github_release"

/** os/arch as aqua (Go) names them: `linux`/`darwin`/`windows`, `amd64`/`arm64`. */
export const aquaPlatform = (platform: Platform): { readonly os: string; readonly arch: string } => ({
  os: platform.os === "macos" ? "darwin" : platform.os,
  arch: platform.arch === "x64" ? "amd64" : platform.arch === "aarch64" ? "arm64" : platform.arch
})

/** The first of the package and its `version_overrides` whose constraint holds for one of `versions` (tags). */
const versionOverride = (pkg: AquaPackage, versions: ReadonlyArray<string>): AquaPackage | undefined => {
  // A package without a top-level constraint is unconditional and its overrides are never consulted (aqua's rule).
  if (pkg.version_constraint === undefined || pkg.version_constraint === "") return pkg
  return [pkg, ...(pkg.version_overrides ?? [])].find((vo) =>
    versions.some((version) => {
      const prefix = vo.version_prefix ?? pkg.version_prefix
      if (prefix !== undefined && !version.startsWith(prefix)) return false
      if (vo.version_constraint === undefined || vo.version_constraint === "") return true
      const result = evalAquaExpr(vo.version_constraint, version)
      return Either.isRight(result) && result.right === true
    })
  )
}

/**
 * The package's constraints and filter this backend cannot evaluate (syntax beyond the supported subset), so a
 * caller can say so instead of silently reading them as false. Judged on a plain version, where each must evaluate.
 */
export const unsupportedExpressions = (pkg: AquaPackage): ReadonlyArray<string> =>
  [pkg.version_filter, pkg.version_constraint, ...(pkg.version_overrides ?? []).map((o) => o.version_constraint)]
    .filter((e): e is string => e !== undefined && e !== "")
    .flatMap((e) => {
      const result = evalAquaExpr(e, "v1.0.0")
      return Either.isLeft(result) ? [result.left] : []
    })

/** Whether a tag is a version of the package at all (`version_constraint` of it or of one of its overrides). */
export const versionConstraintOk = (pkg: AquaPackage, versions: ReadonlyArray<string>): boolean =>
  versionOverride(pkg, versions) !== undefined

/** `version_filter` on a tag; a filter that does not evaluate to a boolean lets the tag through, as aqua does. */
export const versionFilterOk = (pkg: AquaPackage, tag: string): Either.Either<boolean, string> =>
  pkg.version_filter === undefined || pkg.version_filter === ""
    ? Either.right(true)
    : Either.map(evalAquaExpr(pkg.version_filter, tag), (v) => v !== false)

const mergeChecksum = (a: AquaChecksum | undefined, b: AquaChecksum | undefined): AquaChecksum | undefined => {
  if (b === undefined) return a
  if (a === undefined) return b
  const replacements = b.replacements === undefined
    ? a.replacements
    : Object.keys(b.replacements).length === 0
    ? {}
    : { ...a.replacements, ...b.replacements }
  return { ...a, ...b, ...(replacements !== undefined ? { replacements } : {}) }
}

const nonEmpty = <A>(xs: ReadonlyArray<A> | undefined) => (xs !== undefined && xs.length > 0 ? xs : undefined)
const setString = (s: string | undefined) => (s !== undefined && s !== "" ? s : undefined)

/** aqua's override merge: set fields win, `replacements` extend, `checksum` merges field by field. */
export const applyOverride = (orig: AquaPackage, o: AquaPackage): AquaPackage => {
  const pick = <K extends keyof AquaPackage>(key: K, value: AquaPackage[K] | undefined) =>
    value !== undefined ? { [key]: value } : {}
  const checksum = mergeChecksum(orig.checksum, o.checksum)
  return {
    ...orig,
    ...pick("type", o.type),
    ...pick("repo_owner", setString(o.repo_owner)),
    ...pick("repo_name", setString(o.repo_name)),
    ...pick("asset", setString(o.asset)),
    ...pick("url", setString(o.url)),
    ...pick("format", setString(o.format)),
    ...pick("supported_envs", nonEmpty(o.supported_envs)),
    ...pick("files", nonEmpty(o.files)),
    ...pick("vars", nonEmpty(o.vars)),
    replacements: { ...orig.replacements, ...o.replacements },
    ...pick("version_prefix", o.version_prefix),
    ...pick("format_overrides", nonEmpty(o.format_overrides)),
    ...pick("overrides", nonEmpty(o.overrides)),
    ...(checksum !== undefined ? { checksum } : {}),
    ...pick("no_asset", o.no_asset),
    ...pick("error_message", o.error_message),
    ...pick("path", o.path)
  }
}

const normalizeLibc = (libc: string) => (libc === "glibc" || libc === "gnu" ? "gnu" : libc === "musl" ? "musl" : undefined)

/** The image's C library, as mise assumes it for linux targets without a libc setting. */
export const TARGET_LIBC = "gnu"

const overrideMatches = (o: AquaOverride, os: string, arch: string) =>
  (o.goos === undefined || o.goos === os) &&
  (o.goarch === undefined || o.goarch === arch) &&
  (o.envs === undefined || o.envs.length === 0 || o.envs.some((e) => e === "all" || e === os || e === arch || e === `${os}/${arch}`)) &&
  // A `libc` variant selects linux builds for that C library; other variant keys never match (mise's rule).
  (o.variants ?? []).every((v) => v.key === "libc" && os === "linux" && normalizeLibc(v.value) === TARGET_LIBC)

const LIBC_TOKENS = ["musl", "gnu", "glibc"]

/** An asset name's lowercase alphanumeric words. */
const tokensOf = (name: string) => name.toLowerCase().split(/[^a-z0-9]+/).filter((t) => t !== "")

/**
 * The release asset for the expected names, preferred first. On linux a glibc build of an expected musl (or
 * libc-less) name wins when the release has one, as mise picks it; otherwise the exact name, case-insensitively.
 */
export const selectAsset = <A extends { readonly name: string }>(assets: ReadonlyArray<A>, expected: ReadonlyArray<string>, os: string): A | undefined => {
  for (const name of expected) {
    const want = tokensOf(name)
    if (os === "linux" && !want.some((t) => t === "gnu" || t === "glibc")) {
      const bare = want.filter((t) => !LIBC_TOKENS.includes(t)).join(" ")
      const sibling = assets.find((a) => {
        const have = tokensOf(a.name)
        return have.some((t) => t === "gnu" || t === "glibc") && have.filter((t) => !LIBC_TOKENS.includes(t)).join(" ") === bare
      })
      if (sibling !== undefined) return sibling
    }
    const exact = assets.find((a) => a.name.toLowerCase() === name.toLowerCase())
    if (exact !== undefined) return exact
  }
  return undefined
}

/** After a libc sibling was chosen, the `linux` replacement names that libc so `files` templates find its directory. */
export const withSelectedLibc = (pkg: AquaPackage, os: string, fileName: string): AquaPackage => {
  const tokens = tokensOf(fileName)
  const libc = tokens.includes("musl") ? "musl" : tokens.includes("gnu") || tokens.includes("glibc") ? "gnu" : undefined
  const linux = pkg.replacements?.["linux"]
  if (libc === undefined || os !== "linux" || typeof linux !== "string" || !/^(unknown-)?linux-(gnu|musl)$/.test(linux)) return pkg
  return { ...pkg, replacements: { ...pkg.replacements, linux: `${linux.replace(/-(gnu|musl)$/, "")}-${libc}` } }
}

/** The package for one version (its tag) and platform: the matching version override, format override, then os/arch override. */
export const withVersion = (pkg: AquaPackage, versions: ReadonlyArray<string>, os: string, arch: string): AquaPackage => {
  const vo = versionOverride(pkg, versions)
  let out = vo !== undefined && vo !== pkg ? applyOverride(pkg, vo) : pkg
  const format = out.format_overrides?.find((f) => f.goos === os)
  if (format !== undefined) out = { ...out, format: format.format }
  const override = out.overrides?.find((o) => overrideMatches(o, os, arch))
  return override !== undefined ? applyOverride(out, override) : out
}

/** `supported_envs` allows this platform (none listed allows all). */
export const platformSupported = (pkg: AquaPackage, os: string, arch: string): boolean =>
  pkg.supported_envs === undefined || pkg.supported_envs.length === 0 ||
  pkg.supported_envs.some((e) => e === "all" || e === os || e === arch || e === `${os}/${arch}`)

/** The tag → version rule: filtered, constrained, `version_prefix` removed (tags without it are not versions), then a `v`. */
export const versionFromTag = (
  pkg: AquaPackage,
  tag: string,
  os: string,
  arch: string
): Either.Either<{ readonly version: string; readonly pkg: AquaPackage } | undefined, string> =>
  Either.map(versionFilterOk(pkg, tag), (ok) => {
    if (!ok || !versionConstraintOk(pkg, [tag])) return undefined
    const versioned = withVersion(pkg, [tag], os, arch)
    const prefix = versioned.version_prefix
    if (prefix !== undefined && !tag.startsWith(prefix)) return undefined
    const bare = prefix !== undefined ? tag.slice(prefix.length) : tag
    return { version: bare.replace(/^v/, ""), pkg: versioned }
  })

export const hasAsset = (pkg: AquaPackage): boolean => pkg.no_asset !== true && pkg.error_message === undefined

/** The tags a version may have been released under, as aqua tries them (`<prefix><v>`, `<prefix>v<v>`, `v<v>`). */
export const versionCandidates = (version: string, prefix: string | undefined): ReadonlyArray<string> => {
  const withPrefix = prefix !== undefined && !version.startsWith(prefix) ? `${prefix}${version}` : version
  const out = [withPrefix]
  if (prefix !== undefined) {
    const base = version.startsWith(prefix) ? version.slice(prefix.length) : version
    if (prefix !== "" && !/^[vV]/.test(base) && !/[vV]$/.test(prefix)) out.push(`${prefix}v${base}`)
  } else if (!/^[vV]/.test(version)) out.push(`v${version}`)
  return Array.from(new Set(out))
}

/** Candidates over the package's own prefix and its overrides' prefixes (no release tag known). */
export const packageVersionCandidates = (version: string, pkg: AquaPackage): ReadonlyArray<string> => {
  const prefixes = new Set([pkg.version_prefix, ...(pkg.version_overrides ?? []).map((v) => v.version_prefix)].filter((p) => p !== undefined))
  return Array.from(new Set([...versionCandidates(version, undefined), ...Array.from(prefixes).flatMap((p) => versionCandidates(version, p))]))
}

const ASSET_FORMATS = [
  "tar.br", "tar.bz2", "tar.gz", "tar.lz4", "tar.sz", "tar.xz", "tbr", "tbz", "tbz2", "tgz", "tlz4", "tsz", "txz",
  "tar.zst", "zip", "7z", "gz", "bz2", "lz4", "sz", "xz", "zst", "dmg", "pkg", "rar", "tar"
]

const detectFormat = (name: string) => ASSET_FORMATS.find((f) => name.endsWith(`.${f}`)) ?? "raw"

export const assetWithoutExt = (asset: string): string => {
  for (const f of ASSET_FORMATS) if (asset.endsWith(`.${f}`)) return asset.slice(0, -f.length - 1)
  return asset
}

/** Template values for one package, version (tag) and platform, every value passed through `replacements`. */
export interface Target {
  readonly os: string
  readonly arch: string
  /** `vars.<name>` / `<name>` tool options, for `{{.Vars.name}}`. */
  readonly vars: Readonly<Record<string, string>>
}

const templateContext = (
  pkg: AquaPackage,
  replacements: Readonly<Record<string, string | number | boolean>>,
  v: string,
  target: Target
): Record<string, string> => {
  const replace = (s: string) => (replacements[s] !== undefined ? String(replacements[s]) : s)
  const semver = pkg.version_prefix !== undefined && v.startsWith(pkg.version_prefix) ? v.slice(pkg.version_prefix.length) : v
  const ctx: Record<string, string> = {
    Version: replace(v),
    SemVer: replace(semver),
    OS: replace(target.os),
    GOOS: replace(target.os),
    Arch: replace(target.arch),
    GOARCH: replace(target.arch),
    Format: replace(pkg.format ?? "")
  }
  for (const variable of pkg.vars ?? []) {
    const value = target.vars[variable.name] ?? (variable.default !== undefined ? String(variable.default) : undefined)
    if (value !== undefined) ctx[`Vars.${variable.name}`] = value
  }
  return ctx
}

/** A required `vars` entry the tool options do not set, if any. */
export const missingVar = (pkg: AquaPackage, target: Target): string | undefined =>
  pkg.vars?.find((v) => v.required === true && target.vars[v.name] === undefined && v.default === undefined)?.name

export const render = (
  pkg: AquaPackage,
  template: string,
  v: string,
  target: Target,
  extra: Readonly<Record<string, string>> = {},
  replacements: Readonly<Record<string, string | number | boolean>> = pkg.replacements ?? {}
): Either.Either<string, string> =>
  renderAquaTemplate(template, { ...templateContext(pkg, replacements, v, target), ...extra })

const appendExt = (pkg: AquaPackage, s: string) => {
  const format = pkg.format ?? ""
  if (format === "" || format === "raw" || detectFormat(s) !== "raw" || s.endsWith(`.${format}`)) return s
  return `${s}.${format}`
}

const assetTemplate = (pkg: AquaPackage) =>
  pkg.asset !== undefined && pkg.asset !== "" ? pkg.asset : (pkg.url ?? "").split("/").pop() ?? ""

/** The asset names to look for in a release, preferred first: with the format's extension appended, then as written. */
export const assetNames = (pkg: AquaPackage, v: string, target: Target): Either.Either<ReadonlyArray<string>, string> =>
  Either.map(render(pkg, assetTemplate(pkg), v, target), (bare) => Array.from(new Set([appendExt(pkg, bare), bare])))

export const assetUrl = (pkg: AquaPackage, v: string, target: Target): Either.Either<string, string> =>
  Either.map(render(pkg, pkg.url ?? "", v, target), (url) => appendExt(pkg, url))

/** The archive format: `format` when set, else from the asset's (or URL's) extension; github_archive is always tar.gz. */
export const formatOf = (pkg: AquaPackage, v: string, target: Target): Either.Either<string, string> => {
  if (packageType(pkg) === "github_archive") return Either.right("tar.gz")
  if (pkg.format !== undefined && pkg.format !== "") return Either.right(pkg.format)
  const source = pkg.asset !== undefined && pkg.asset !== "" ? pkg.asset : pkg.url ?? ""
  return Either.map(render(pkg, source, v, target), detectFormat)
}

/** One executable the package exposes: `src` inside the install dir, `dst` the name it is reached by (a link when they differ). */
export interface FileLink {
  readonly src: string
  readonly dst: string
  readonly hard: boolean
}

/**
 * The package's executables, relative to the install dir: each `files` entry's `src` (templated with
 * `AssetWithoutExt` and `FileName`) linked as `name` beside it; without `files`, the repo's name at the root.
 */
export const fileLinks = (pkg: AquaPackage, versions: ReadonlyArray<string>, target: Target): Either.Either<ReadonlyArray<FileLink>, string> => {
  if (pkg.files === undefined || pkg.files.length === 0) {
    const name = (pkg.name ?? "").split("/").pop() || pkg.repo_name || ""
    return Either.right(name === "" ? [] : [{ src: name, dst: name, hard: false }])
  }
  const links: Array<FileLink> = []
  for (const v of versions) {
    const names = assetNames(pkg, v, target)
    if (Either.isLeft(names)) return Either.left(names.left)
    const extra = { AssetWithoutExt: assetWithoutExt(names.right[0]!) }
    for (const file of pkg.files) {
      const src = file.src !== undefined ? render(pkg, file.src, v, target, { ...extra, FileName: file.name }) : Either.right(file.name)
      if (Either.isLeft(src)) return Either.left(src.left)
      const link = file.link !== undefined ? render(pkg, file.link, v, target, { ...extra, FileName: file.name }) : Either.right(file.name)
      if (Either.isLeft(link)) return Either.left(link.left)
      const srcPath = NodePath.posix.normalize(src.right)
      const dst = NodePath.posix.join(NodePath.posix.dirname(srcPath), link.right)
      if (!links.some((l) => l.src === srcPath && l.dst === dst)) links.push({ src: srcPath, dst, hard: file.hard === true })
    }
  }
  return Either.right(links)
}
