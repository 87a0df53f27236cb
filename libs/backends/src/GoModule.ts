import { CommandExecutor } from "@effect/platform"
import { Effect, Either, Option, Schema } from "effect"
import * as fsp from "node:fs/promises"
import * as os from "node:os"
import * as NodePath from "node:path"
import { fileURLToPath } from "node:url"
import type { Backend, BackendContext, BackendError, ResolvedTool, ToolRequest } from "./Backend"
import { fail, installing, memo } from "./core/CoreTool"
import type { DownloaderShape } from "./Downloader"
import { run, which } from "./Process"
import { resolveFromList, sortVersions } from "./Versions"

export const goModuleInfo = {
  id: "go",
  specForm: "go:<module path>[/<package>]",
  options: ["tags"],
  description:
    "Build a Go command with the real go (`go install <module>@<version>`, GOBIN=<install>/bin); versions from GOPROXY " +
    "(GONOPROXY/GOPRIVATE modules through `go list`)"
} as const

export const DEFAULT_GOPROXY = "https://proxy.golang.org,direct"

export interface GoProxy {
  readonly url: string
  /** `|` after the URL: any failure moves on to the next entry; `,`: only 404/410 does. */
  readonly onAnyError: boolean
}

/** GOPROXY as `go` reads it, the way mise lists from it: `direct` entries are skipped, `off` ends the list. */
export const parseGoproxy = (value: string | undefined): ReadonlyArray<GoProxy> => {
  const proxies: Array<GoProxy> = []
  const text = value === undefined || value === "" ? DEFAULT_GOPROXY : value
  const parts = text.split(/([,|])/)
  for (let i = 0; i < parts.length; i += 2) {
    const entry = parts[i]!.trim()
    if (entry === "off") break
    if (entry === "" || entry === "direct") continue
    proxies.push({ url: entry.replace(/\/+$/, ""), onAnyError: parts[i + 1] === "|" })
  }
  return proxies
}

/** The module proxy protocol's case escaping: `github.com/BurntSushi/x` → `github.com/!burnt!sushi/x`. */
export const encodeModulePath = (path: string): string => path.replace(/[A-Z]/g, (c) => `!${c.toLowerCase()}`)

/** A package path may be inside a module: try the whole path, then each shorter prefix, as `go install` does. */
export const modulePathCandidates = (name: string): ReadonlyArray<string> => {
  const parts = name.split("/")
  return parts.map((_, i) => parts.slice(0, parts.length - i).join("/"))
}

/** Go's `path.Match` for one path element pattern (`*`, `?`, `[a-z]`, `\x`). */
const globRegex = (pattern: string): RegExp => {
  let out = ""
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!
    if (c === "*") out += "[^/]*"
    else if (c === "?") out += "[^/]"
    else if (c === "\\" && i + 1 < pattern.length) out += `\\${pattern[++i]}`
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 1)
      if (end < 0) return /$^/
      out += `[${pattern.slice(i + 1, end)}]`
      i = end
    } else out += c.replace(/[.+^${}()|\\]/g, "\\$&")
  }
  return new RegExp(`^${out}$`)
}

/**
 * Whether `module` matches a GOPRIVATE/GONOPROXY/GONOSUMDB list: comma-separated globs, each matching a prefix of
 * the path with as many elements as the pattern has (`*.corp.example.com,rsc.io/private`).
 */
export const matchesGoPatterns = (patterns: string | undefined, module: string): boolean => {
  if (patterns === undefined) return false
  const elements = module.split("/")
  return patterns.split(",").map((p) => p.trim().replace(/\/+$/, "")).filter((p) => p !== "").some((pattern) => {
    const count = pattern.split("/").length
    return count <= elements.length && globRegex(pattern).test(elements.slice(0, count).join("/"))
  })
}

/** The `.info` / `@latest` answer of a proxy and `go list -m -json`'s module (both capitalised). */
const ModuleInfo = Schema.Struct({ Version: Schema.String })
const ModuleVersions = Schema.Struct({ Versions: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] }) })
const decodeInfo = Schema.decodeUnknownEither(Schema.parseJson(ModuleInfo))
const decodeVersions = Schema.decodeUnknownEither(Schema.parseJson(ModuleVersions))

type Listing =
  | { readonly _tag: "Versions"; readonly versions: ReadonlyArray<string> }
  | { readonly _tag: "NotFound" }
  | { readonly _tag: "Error"; readonly message: string }

/** Tags go treats as module versions (the rest of an `@v/list` is noise to it, and to mise). */
const isModuleVersion = (v: string) => /^v\d+\.\d+\.\d+/.test(v)
const bare = (v: string) => v.replace(/^v/, "")

/** The `go` backend, over the given Downloader (GOPROXY) and the platform's CommandExecutor (go itself). */
export const makeGoModuleBackend = (downloader: DownloaderShape, executor: CommandExecutor.CommandExecutor): Backend => {
  const listings = memo<ReadonlyArray<string>>()

  const provided = <A, E>(effect: Effect.Effect<A, E, CommandExecutor.CommandExecutor>) =>
    Effect.provideService(effect, CommandExecutor.CommandExecutor, executor)

  /** One proxy document: a `file://` proxy is read from disk, as go does. */
  const fetchDoc = (url: string): Effect.Effect<Listing | { readonly _tag: "Body"; readonly body: string }> => {
    if (url.startsWith("file://")) {
      return Effect.promise(() =>
        fsp.readFile(fileURLToPath(url), "utf8").then(
          (body) => ({ _tag: "Body" as const, body }),
          (e: NodeJS.ErrnoException) =>
            e.code === "ENOENT" || e.code === "ENOTDIR" ? { _tag: "NotFound" as const } : { _tag: "Error" as const, message: `${url}: ${e.message}` }
        )
      )
    }
    return downloader.fetchText(url).pipe(
      Effect.map((r) => ({ _tag: "Body" as const, body: r.body })),
      Effect.catchTag("DownloadError", (e) =>
        Effect.succeed(e.status === 404 || e.status === 410 ? { _tag: "NotFound" as const } : { _tag: "Error" as const, message: e.message }))
    )
  }

  /** Ask each proxy in turn, moving on as GOPROXY's separators allow. */
  const fromProxies = (proxies: ReadonlyArray<GoProxy>, endpoint: string) =>
    Effect.gen(function*() {
      for (const proxy of proxies) {
        const doc = yield* fetchDoc(`${proxy.url}/${endpoint}`)
        if (doc._tag === "Body") return doc
        if (doc._tag === "NotFound" || proxy.onAnyError) continue
        return doc
      }
      return { _tag: "NotFound" as const }
    })

  const proxyListing = (proxies: ReadonlyArray<GoProxy>, module: string): Effect.Effect<Listing> =>
    Effect.gen(function*() {
      const encoded = encodeModulePath(module)
      const list = yield* fromProxies(proxies, `${encoded}/@v/list`)
      if (list._tag !== "Body") return list
      const versions = list.body.split("\n").map((l) => l.trim()).filter(isModuleVersion)
      if (versions.length > 0) return { _tag: "Versions", versions: versions.map(bare) }
      // No tagged versions: a module on pseudo-versions still has an @latest.
      const latest = yield* fromProxies(proxies, `${encoded}/@latest`)
      if (latest._tag !== "Body") return latest
      const info = decodeInfo(latest.body)
      return Either.isRight(info)
        ? { _tag: "Versions", versions: [bare(info.right.Version)] }
        : { _tag: "Error", message: `${module}/@latest is not a module info document` }
    })

  const goEnv = (ctx: BackendContext) => ({ ...ctx.env, GOTOOLCHAIN: "local" })

  /** `go list -m -versions` for GOPROXY=direct and private modules: go fetches from the VCS itself. */
  const goListing = (go: string, module: string, ctx: BackendContext): Effect.Effect<Listing> =>
    Effect.gen(function*() {
      const listed = yield* provided(run(go, ["list", "-mod=readonly", "-m", "-versions", "-json", module], { env: goEnv(ctx), cwd: os.tmpdir() }))
        .pipe(Effect.either)
      if (Either.isLeft(listed)) return { _tag: "Error", message: listed.left.message }
      const versions = decodeVersions(listed.right.stdout)
      if (Either.isRight(versions) && versions.right.Versions.length > 0) {
        return { _tag: "Versions", versions: versions.right.Versions.filter(isModuleVersion).map(bare) }
      }
      const latest = yield* provided(run(go, ["list", "-mod=readonly", "-m", "-json", `${module}@latest`], { env: goEnv(ctx), cwd: os.tmpdir() }))
        .pipe(Effect.either)
      if (Either.isLeft(latest)) return { _tag: "Error", message: latest.left.message }
      const info = decodeInfo(latest.right.stdout)
      return Either.isRight(info) ? { _tag: "Versions", versions: [bare(info.right.Version)] } : { _tag: "NotFound" }
    })

  const listVersions = (tool: ToolRequest, ctx: BackendContext): Effect.Effect<ReadonlyArray<string>, BackendError> => {
    const goproxy = ctx.env.GOPROXY
    const noproxy = ctx.env.GONOPROXY ?? ctx.env.GOPRIVATE
    return listings(`${tool.name}\n${goproxy}\n${noproxy}`, Effect.gen(function*() {
      const candidates = modulePathCandidates(tool.name)
      // Private modules never go to a proxy: go fetches them directly, and asking a public proxy would leak the name.
      const proxies = matchesGoPatterns(noproxy, tool.name) ? [] : parseGoproxy(goproxy)
      const problems: Array<string> = []
      if (proxies.length > 0) {
        const results = yield* Effect.forEach(candidates, (m) => proxyListing(proxies, m), { concurrency: "unbounded" })
        for (const result of results) {
          if (result._tag === "Versions") return sortVersions(result.versions)
          if (result._tag === "Error") {
            problems.push(result.message)
            break
          }
        }
        if (problems.length === 0) {
          return yield* fail(
            tool,
            `module ${tool.name} was not found: ${proxies.map((p) => p.url).join(", ")} answered 404 for ` +
              `${candidates.map((c) => `${encodeModulePath(c)}/@v/list`).join(", ")} (GOPROXY=${goproxy ?? DEFAULT_GOPROXY})`
          )
        }
      }
      const go = yield* which("go", ctx.env)
      if (go === undefined) {
        const why = proxies.length === 0
          ? `GOPROXY=${goproxy ?? ""}${noproxy !== undefined ? `, GONOPROXY/GOPRIVATE=${noproxy}` : ""} leaves no proxy to ask`
          : `the proxy failed (${problems.join("; ")})`
        return yield* fail(tool, `${why}, and listing versions without one needs \`go list\`, but go was not found on PATH; ${GO_HINT}`)
      }
      for (const module of candidates) {
        const result = yield* goListing(go, module, ctx)
        if (result._tag === "Versions" && result.versions.length > 0) return sortVersions(result.versions)
        if (result._tag === "Error") problems.push(result.message)
      }
      return yield* fail(tool, `no versions of ${tool.name} found${problems.length > 0 ? `: ${problems.at(-1)}` : ""}`)
    }))
  }

  const resolveVersion = (tool: ToolRequest, ctx: BackendContext): Effect.Effect<string, BackendError> => {
    const spec = tool.version.replace(/^prefix:/, "")
    // mise: a full semver (with or without `v`) is exact; `go install` fails if it does not exist.
    if (/^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/.test(spec)) return Effect.succeed(bare(spec))
    return Effect.flatMap(listVersions(tool, ctx), (versions) => resolveFromList(spec, versions, tool.short))
  }

  const install = (tool: ResolvedTool, dir: string, ctx: BackendContext) =>
    Effect.gen(function*() {
      const request = installing(tool)
      const go = yield* which("go", ctx.env)
      if (go === undefined) return yield* fail(request, `go was not found on PATH. The go backend builds with the real go toolchain; ${GO_HINT}`)
      const tags = tool.options.tags
      const tagList = Array.isArray(tags) ? tags.join(",") : tags === undefined ? undefined : String(tags)
      const env = { ...ctx.env, GOBIN: NodePath.join(dir, "bin") }
      const attempt = (version: string) => {
        const args = ["install", "-mod=readonly", ...(tagList !== undefined ? ["-tags", tagList] : []), `${tool.name}@${version}`]
        ctx.log(`${tool.short}@${tool.resolved}: GOBIN=${env.GOBIN} go ${args.join(" ")}`)
        return provided(run(go, args, { env, cwd: dir }))
      }
      // mise tries `v1.2.3` first, then the version as written (modules whose tags have no `v`).
      const withV = /^\d+\.\d+\.\d+/.test(tool.resolved)
      const first = yield* Effect.either(attempt(withV ? `v${tool.resolved}` : tool.resolved))
      if (Either.isRight(first)) return
      const second = withV ? yield* Effect.option(attempt(tool.resolved)) : Option.none()
      if (Option.isSome(second)) return
      return yield* fail(request, `go install failed: ${first.left.message}`, first.left)
    })

  return {
    ...goModuleInfo,
    listVersions,
    resolveVersion,
    requiredCommands: () => [{ command: "go", hint: GO_HINT }],
    install,
    binPaths: (_tool, dir) => Effect.succeed([NodePath.join(dir, "bin")]),
    execEnv: () => Effect.succeed([])
  }
}

const GO_HINT =
  "install Go (`mise use -g go`, https://go.dev/dl/, or your system's package, e.g. `apt-get install golang-go`) " +
  "and make sure `go` is on PATH"
