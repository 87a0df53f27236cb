import { CommandExecutor } from "@effect/platform"
import { Effect, Option, Schema } from "effect"
import * as fsp from "node:fs/promises"
import * as NodePath from "node:path"
import type { Backend, BackendContext, BackendError, ResolvedTool, ToolRequest } from "./Backend"
import { fail, fsStep, installing, makeUpstream, memo, setting, withSlash } from "./core/CoreTool"
import type { DownloaderShape } from "./Downloader"
import { run, which } from "./Process"
import { resolveFromList, sortVersions } from "./Versions"

export const gemInfo = {
  id: "gem",
  specForm: "gem:<name>",
  options: [],
  description:
    "Install a gem with the real RubyGems (`gem install --install-dir <install>/libexec`) behind bin/ wrappers that set " +
    "GEM_HOME; versions from the source's /api/v1/versions (setting gem.source, else `gem sources`)"
} as const

export const DEFAULT_GEM_SOURCE = "https://rubygems.org/"

const SOURCE = "gem.source"

/** rubygems.org's `/api/v1/versions/<name>.json`: newest first, one entry per platform build. */
const GemVersions = Schema.Array(Schema.Struct({ number: Schema.String }))

/** The first http(s) source `gem sources` prints (`*** CURRENT SOURCES ***`), as mise picks it. */
export const firstGemSource = (output: string): string | undefined => {
  const line = output.split("\n").map((l) => l.trim()).find((l) => /^https?:\/\//.test(l))
  return line === undefined ? undefined : withSlash(line)
}

/**
 * The line of a gem's executable that names ruby: the first line, or for RubyGems' polyglot stubs (`#!/bin/sh`, a
 * `=begin … =end` shell block) the first `#!…ruby` after `=end`.
 */
export const rubyShebangLine = (lines: ReadonlyArray<string>): number | undefined => {
  const first = lines[0]
  if (first === undefined) return undefined
  if (first.startsWith("#!") && first.includes("ruby")) return 0
  if (!first.startsWith("#!/bin/sh")) return undefined
  const end = lines.findIndex((l) => l.trim() === "=end")
  if (end < 0) return undefined
  const found = lines.findIndex((l, i) => i > end && l.startsWith("#!") && l.includes("ruby"))
  return found < 0 ? undefined : found
}

/**
 * mise's shebang rewrite: a ruby outside mise's installs becomes `#!/usr/bin/env ruby`, so the gem runs with whatever
 * ruby is on PATH (the one in the image) instead of the host's `/usr/bin/ruby3.1`. A mise-installed ruby is kept.
 */
export const rewriteRubyShebang = (script: string, installsDir: string): string | undefined => {
  const lines = script.split("\n")
  const at = rubyShebangLine(lines)
  if (at === undefined) return undefined
  const ruby = lines[at]!.slice(2).trim().split(/\s+/)[0] ?? ""
  if (ruby.startsWith(withSlash(installsDir))) return undefined
  if (lines[at] === "#!/usr/bin/env ruby") return undefined
  lines[at] = "#!/usr/bin/env ruby"
  return lines.join("\n")
}

/**
 * The `bin/<exe>` wrapper: GEM_HOME is the install's libexec, found from the wrapper's own location so the same file
 * works on the host and at the image's mount point (mise writes the host path in; see the report on relocation).
 */
export const gemWrapper = (exe: string): string =>
  [
    "#!/usr/bin/env bash",
    "libexec=\"$(cd -- \"$(dirname -- \"$(readlink -f -- \"${BASH_SOURCE[0]}\")\")/../libexec\" && pwd)\"",
    `GEM_HOME="$libexec" exec "$libexec/bin/${exe}" "$@"`,
    ""
  ].join("\n")

/** The `gem` backend, over the given Downloader (the versions API) and the platform's CommandExecutor (gem itself). */
const GEM_HINT = "install Ruby (it ships gem), e.g. `mise use -g ruby` or your system's package (`apt-get install ruby`), " +
  "and make sure `gem` is on PATH"

export const makeGemBackend = (downloader: DownloaderShape, executor: CommandExecutor.CommandExecutor): Backend => {
  const upstream = makeUpstream(downloader)
  const versionLists = memo<ReadonlyArray<string>>()
  let configuredSource: string | undefined

  const provided = <A, E>(effect: Effect.Effect<A, E, CommandExecutor.CommandExecutor>) =>
    Effect.provideService(effect, CommandExecutor.CommandExecutor, executor)

  /** Engine setting `gem.source`, else the first of `gem sources` (it reads ~/.gemrc and /etc/gemrc), else rubygems.org. */
  const sourceFor = (ctx: BackendContext) =>
    Effect.gen(function*() {
      const set = setting(ctx, SOURCE, "MISE_GEM_SOURCE")
      if (set !== undefined) return { url: withSlash(set), hint: `the source is set by ${SOURCE}` }
      if (configuredSource === undefined) {
        const gem = yield* which("gem", ctx.env)
        const out = gem === undefined ? Option.none() : yield* provided(run(gem, ["sources"], { env: ctx.env })).pipe(Effect.option)
        configuredSource = (Option.isSome(out) ? firstGemSource(out.value.stdout) : undefined) ?? DEFAULT_GEM_SOURCE
      }
      return { url: configuredSource, hint: `the source is the first of \`gem sources\`; set ${SOURCE} to choose another` }
    })

  const listVersions = (tool: ToolRequest, ctx: BackendContext): Effect.Effect<ReadonlyArray<string>, BackendError> =>
    Effect.gen(function*() {
      const source = yield* sourceFor(ctx)
      const url = `${source.url}api/v1/versions/${encodeURIComponent(tool.name)}.json`
      return yield* versionLists(url, Effect.gen(function*() {
        const text = yield* upstream.optionalText(tool, url, source.hint)
        if (text === undefined) {
          return yield* fail(
            tool,
            `gem ${tool.name} was not found at ${source.url} (${url}: HTTP 404; a source without the versions API can ` +
              `still install an exact version such as "1.2.3")`
          )
        }
        const entries = yield* Schema.decodeUnknown(Schema.parseJson(GemVersions))(text).pipe(
          Effect.mapError((e) => fail(tool, `${url} is not a RubyGems versions list (${source.hint}): ${e.message.split("\n")[0]}`, e))
        )
        return sortVersions(entries.map((e) => e.number))
      }))
    })

  const resolveVersion = (tool: ToolRequest, ctx: BackendContext): Effect.Effect<string, BackendError> => {
    const spec = tool.version.replace(/^prefix:/, "")
    // mise: a full semver is exact (`gem install --version` fails if it does not exist); 4-part versions are listed.
    if (/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/.test(spec)) return Effect.succeed(spec)
    return Effect.flatMap(listVersions(tool, ctx), (versions) => resolveFromList(spec, versions, tool.short))
  }

  const install = (tool: ResolvedTool, dir: string, ctx: BackendContext) =>
    Effect.gen(function*() {
      const request = installing(tool)
      const gem = yield* which("gem", ctx.env)
      if (gem === undefined) {
        return yield* fail(
          request,
          `gem was not found on PATH. The gem backend installs gems with the real RubyGems: ${GEM_HINT}.`
        )
      }
      const libexec = NodePath.join(dir, "libexec")
      const set = setting(ctx, SOURCE, "MISE_GEM_SOURCE")
      const args = [
        "install",
        tool.name,
        "--version",
        tool.resolved,
        "--install-dir",
        libexec,
        ...(set !== undefined ? ["--clear-sources", "--source", withSlash(set)] : [])
      ]
      ctx.log(`${tool.short}@${tool.resolved}: gem ${args.join(" ")}`)
      yield* provided(run(gem, args, { env: ctx.env })).pipe(
        Effect.mapError((e) => fail(request, `gem install failed: ${e.message}`, e))
      )
      yield* fsStep(tool, "cannot write the bin/ wrappers", async () => {
        const installs = NodePath.join(ctx.dataDir, "installs")
        const execs = NodePath.join(libexec, "bin")
        const names = (await fsp.readdir(execs).catch(() => [] as Array<string>)).sort()
        await fsp.mkdir(NodePath.join(dir, "bin"), { recursive: true })
        for (const name of names) {
          const file = NodePath.join(execs, name)
          const info = await fsp.stat(file)
          if (!info.isFile() || (info.mode & 0o111) === 0) continue
          const rewritten = rewriteRubyShebang(await fsp.readFile(file, "utf8"), installs)
          if (rewritten !== undefined) await fsp.writeFile(file, rewritten)
          await fsp.writeFile(NodePath.join(dir, "bin", name), gemWrapper(name), { mode: 0o755 })
        }
      })
    })

  return {
    ...gemInfo,
    listVersions,
    resolveVersion,
    requiredCommands: () => [{ command: "gem", hint: GEM_HINT }],
    install,
    binPaths: (_tool, dir) => Effect.succeed([NodePath.join(dir, "bin")]),
    execEnv: () => Effect.succeed([])
  }
}
