import { Effect, ParseResult, Schema } from "effect"
import { createHash } from "node:crypto"
import * as fsp from "node:fs/promises"
import * as NodePath from "node:path"
import { extractArchive, formatFromFileName, isArchive } from "../Archive"
import { downloadsOf, dropDownloads } from "../Artifact"
import type { BackendContext, ResolvedTool, ToolRequest } from "../Backend"
import { BackendError } from "../Backend"
import type { Checksum, DownloaderShape, DownloadResult } from "../Downloader"
import { fileNameFromUrl } from "../Http"
import { toolDirName } from "../Naming"

/**
 * One of mise's core tools (`node`, `go`, ...): where its versions are listed, how a spec becomes a version, how a
 * version lands in the install dir, and what it puts on PATH and in the env. The `core` backend dispatches to these.
 */
export interface CoreTool {
  readonly name: string
  /** `setting (ENV_VAR)` entries a user can set, for `engine backends` and messages. */
  readonly settings: ReadonlyArray<string>
  readonly listVersions: (tool: ToolRequest, ctx: BackendContext) => Effect.Effect<ReadonlyArray<string>, BackendError>
  readonly resolveVersion: (tool: ToolRequest, ctx: BackendContext) => Effect.Effect<string, BackendError>
  readonly install: (tool: ResolvedTool, dir: string, ctx: BackendContext) => Effect.Effect<void, BackendError>
  readonly binPaths: (dir: string) => ReadonlyArray<string>
  readonly execEnv: (dir: string, ctx: BackendContext) => ReadonlyArray<readonly [string, string]>
}

/** `node@20`: the tool as a message names it. */
export const label = (tool: ToolRequest): string => `${tool.short}@${tool.version}`

export const fail = (tool: ToolRequest, message: string, cause?: unknown): BackendError =>
  new BackendError({ tool: tool.short, message: `${label(tool)}: ${message}`, ...(cause !== undefined ? { cause } : {}) })

/** The tool as it is being installed: messages name the concrete version. */
export const installing = (tool: ResolvedTool): ToolRequest => ({ ...tool, version: tool.resolved })

/** A mise setting: its `MISE_*` env var wins over the config files, as in mise; empty counts as unset. */
export const setting = (ctx: BackendContext, key: string, env: string): string | undefined => {
  const fromEnv = ctx.env[env]
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv
  const value = ctx.settings[key]
  if (typeof value === "string" && value !== "") return value
  if (typeof value === "number") return String(value)
  return undefined
}

const TRUE = ["1", "true", "yes", "on", "y"]
const FALSE = ["0", "false", "no", "off", "n", ""]

/** A boolean mise setting (env first); undefined when unset or not a boolean. */
export const flag = (ctx: BackendContext, key: string, env: string): boolean | undefined => {
  const fromEnv = ctx.env[env]?.trim().toLowerCase()
  if (fromEnv !== undefined) {
    if (TRUE.includes(fromEnv)) return true
    if (FALSE.includes(fromEnv)) return false
  }
  const value = ctx.settings[key]
  if (typeof value === "boolean") return value
  if (typeof value === "string" && TRUE.includes(value.toLowerCase())) return true
  if (typeof value === "string" && FALSE.includes(value.toLowerCase())) return false
  return undefined
}

/** How a message tells the user which knob moves a URL: `node.mirror_url (MISE_NODE_MIRROR_URL)`. */
export const knob = (key: string, env: string): string => `${key} (${env})`

/** A base URL that relative paths join under, whether or not the user wrote the trailing slash. */
export const withSlash = (url: string): string => (url.endsWith("/") ? url : `${url}/`)

export const sha256 = (hex: string): Checksum => ({ algorithm: "sha256", hex: hex.trim().toLowerCase() })

/** `SHASUMS256.txt` / `SHA256SUMS` / `sha256sum` output: `<hex>  [*]<file>` lines → file → hex. */
export const parseShasums = (text: string): ReadonlyMap<string, string> => {
  const out = new Map<string, string>()
  for (const line of text.split(/\r?\n/)) {
    const m = /^([0-9a-fA-F]{64})\s+\*?(.+?)\s*$/.exec(line)
    if (m !== null) out.set(NodePath.posix.basename(m[2]!), m[1]!.toLowerCase())
  }
  return out
}

/** A `<file>.sha256` / `.sha256sum` body: the hex alone or `<hex>  <file>`. */
export const singleSha256 = (text: string): string | undefined => /^\s*([0-9a-fA-F]{64})\b/.exec(text)?.[1]?.toLowerCase()

const isNotFound = (e: { readonly status?: number }) => e.status === 404 || e.status === 410

/** Remembers successful answers per key for the backend's lifetime (one build): resolve and install share an index. */
export const memo = <A>() => {
  const seen = new Map<string, A>()
  return <E>(key: string, compute: Effect.Effect<A, E>): Effect.Effect<A, E> =>
    Effect.suspend(() => {
      if (seen.has(key)) return Effect.succeed(seen.get(key) as A)
      return Effect.tap(compute, (a) => Effect.sync(() => seen.set(key, a)))
    })
}

const schemaProblem = (e: ParseResult.ParseError) => ParseResult.TreeFormatter.formatErrorSync(e).split("\n").slice(0, 6).join(" ")

/** HTTP for core tools: API documents through Schema, downloads verified and unpacked, each failure named for the tool. */
export interface Upstream {
  /** GET a JSON document and decode it; `hint` says which setting moves the URL. */
  readonly json: <A, I>(
    tool: ToolRequest,
    url: string,
    schema: Schema.Schema<A, I>,
    hint: string,
    headers?: Readonly<Record<string, string>>
  ) => Effect.Effect<A, BackendError>
  /** `json`, or undefined when the server says the document does not exist (404/410): the end of a paged list. */
  readonly optionalJson: <A, I>(
    tool: ToolRequest,
    url: string,
    schema: Schema.Schema<A, I>,
    hint: string
  ) => Effect.Effect<A | undefined, BackendError>
  /** GET a text document, or undefined when the server says it does not exist (404/410). */
  readonly optionalText: (tool: ToolRequest, url: string, hint: string) => Effect.Effect<string | undefined, BackendError>
  readonly text: (tool: ToolRequest, url: string, hint: string) => Effect.Effect<string, BackendError>
  /** GET a small binary document (a gzipped list) through the download dir, which it leaves clean. */
  readonly bytes: (tool: ToolRequest, url: string, ctx: BackendContext, hint: string) => Effect.Effect<Buffer, BackendError>
  /** Download `url` (verifying `checksum` when given) into the tool's download dir. */
  readonly download: (
    tool: ResolvedTool,
    url: string,
    checksum: Checksum | undefined,
    ctx: BackendContext,
    hint: string
  ) => Effect.Effect<DownloadResult, BackendError>
  /** Unpack an archive into `dir`, stripping `strip` leading directories. */
  readonly extract: (tool: ResolvedTool, archive: string, dir: string, strip: number) => Effect.Effect<void, BackendError>
  /** Remove the tool's downloads unless `always_keep_download`. */
  readonly cleanup: (tool: ResolvedTool, ctx: BackendContext) => Effect.Effect<void>
}

export const makeUpstream = (downloader: DownloaderShape): Upstream => {
  const withHint = (message: string, status: number | undefined, hint: string) =>
    status !== undefined && status >= 400 && status < 500 ? `${message} (${hint})` : message

  const text = (tool: ToolRequest, url: string, hint: string, headers: Readonly<Record<string, string>> = {}) =>
    downloader.fetchText(url, headers).pipe(
      Effect.map((r) => r.body),
      Effect.mapError((e) => fail(tool, withHint(e.message, e.status, hint), e))
    )

  const optionalText = (tool: ToolRequest, url: string, hint: string) =>
    downloader.fetchText(url).pipe(
      Effect.map((r): string | undefined => r.body),
      Effect.catchTag("DownloadError", (e) =>
        isNotFound(e) ? Effect.succeed(undefined) : Effect.fail(fail(tool, withHint(e.message, e.status, hint), e)))
    )

  const decode = <A, I>(tool: ToolRequest, url: string, schema: Schema.Schema<A, I>, hint: string) => (body: string) =>
    Schema.decodeUnknown(Schema.parseJson(schema))(body).pipe(
      Effect.mapError((e) => fail(tool, `${url} is not the document expected there (${hint}): ${schemaProblem(e)}`, e))
    )

  return {
    text: (tool, url, hint) => text(tool, url, hint),
    optionalText,
    json: (tool, url, schema, hint, headers) => Effect.flatMap(text(tool, url, hint, headers), decode(tool, url, schema, hint)),
    optionalJson: (tool, url, schema, hint) =>
      Effect.flatMap(optionalText(tool, url, hint), (body) => (body === undefined ? Effect.succeed(undefined) : decode(tool, url, schema, hint)(body))),
    bytes: (tool, url, ctx, hint) => {
      const dest = NodePath.join(ctx.downloadDir, toolDirName(tool.short), `.index-${createHash("sha256").update(url).digest("hex").slice(0, 16)}`)
      return downloader.download({ url, dest }).pipe(
        Effect.mapError((e) => fail(tool, e._tag === "DownloadError" ? withHint(e.message, e.status, hint) : e.message, e)),
        Effect.flatMap(() =>
          Effect.tryPromise({ try: () => fsp.readFile(dest), catch: (cause) => fail(tool, `cannot read the downloaded ${url}: ${String(cause)}`, cause) })
        ),
        Effect.ensuring(Effect.promise(() => fsp.rm(dest, { force: true }).catch(() => undefined)))
      )
    },
    download: (tool, url, checksum, ctx, hint) =>
      Effect.gen(function*() {
        const request = installing(tool)
        const name = fileNameFromUrl(url)
        if (name === "") return yield* fail(request, `cannot tell a file name from the URL ${url}`)
        ctx.log(`${label(request)}: download ${url}`)
        return yield* downloader.download({ url, dest: NodePath.join(downloadsOf(tool, ctx), name), ...(checksum !== undefined ? { checksum } : {}) })
          .pipe(
            Effect.mapError((e) =>
              fail(request, e._tag === "DownloadError" ? withHint(e.message, e.status, hint) : e.message, e)
            )
          )
      }),
    extract: (tool, archive, dir, strip) => {
      const format = formatFromFileName(archive)
      return isArchive(format)
        ? extractArchive(archive, dir, { format, stripComponents: strip }).pipe(
          Effect.asVoid,
          Effect.mapError((e) => fail(installing(tool), e.message, e))
        )
        : Effect.fail(fail(installing(tool), `${NodePath.basename(archive)} is not an archive this engine can unpack`))
    },
    cleanup: dropDownloads
  }
}

/** File system steps after unpacking (moving a binary into `bin/`, links); failures name the tool. */
export const fsStep = <A>(tool: ResolvedTool, what: string, run: () => Promise<A>): Effect.Effect<A, BackendError> =>
  Effect.tryPromise({
    try: run,
    catch: (cause) => fail(installing(tool), `${what}: ${cause instanceof Error ? cause.message : String(cause)}`, cause)
  })

/** Core tools install what upstream publishes: `ref:` builds from source are mise's compile path, not ours. */
export const rejectRef = (tool: ToolRequest): Effect.Effect<void, BackendError> =>
  /^(ref|tag|branch|rev):/.test(tool.version)
    ? Effect.fail(fail(tool, `building ${tool.name} from source is not supported; give a released version (e.g. "latest" or a prefix)`))
    : Effect.void

/** Where an upstream may publish a file's sha256: a sums file listing it, or a `<file>.sha256`-style file of its own. */
export type ChecksumSource =
  | { readonly sums: string; readonly file: string }
  | { readonly single: string }

/**
 * The first sha256 published at `sources`. Where upstream publishes none (old releases, a mirror that skipped the
 * sums files) the download goes ahead unverified with a warning, as mise installs these tools without one; a
 * published sum that does not match always fails.
 */
export const publishedSha256 = (
  upstream: Upstream,
  tool: ResolvedTool,
  sources: ReadonlyArray<ChecksumSource>,
  ctx: BackendContext,
  hint: string
): Effect.Effect<Checksum | undefined, BackendError> =>
  Effect.gen(function*() {
    const request = installing(tool)
    for (const source of sources) {
      const url = "sums" in source ? source.sums : source.single
      const body = yield* upstream.optionalText(request, url, hint)
      if (body === undefined) continue
      const hex = "sums" in source ? parseShasums(body).get(source.file) : singleSha256(body)
      if (hex !== undefined) return sha256(hex)
    }
    const where = sources.map((s) => ("sums" in s ? s.sums : s.single)).join(" or ")
    ctx.warn(`${label(request)}: no sha256 published at ${where}; installing without checksum verification`)
    return undefined
  })
