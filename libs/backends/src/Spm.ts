import { CommandExecutor } from "@effect/platform"
import { Effect, Either, Option, ParseResult, Schema } from "effect"
import * as fsp from "node:fs/promises"
import * as NodePath from "node:path"
import { extractArchive } from "./Archive"
import { dropDownloads } from "./Artifact"
import type { Backend, BackendContext, BackendError, RequiredCommand, ResolvedTool, ToolRequest } from "./Backend"
import { fail, flag, fsStep, installing } from "./core/CoreTool"
import type { DownloaderShape } from "./Downloader"
import { GITHUB_API, githubForge } from "./GitHub"
import { GITLAB_API, gitlabForge } from "./GitLab"
import { toolDirName } from "./Naming"
import { type Platform, platformKey, platformOption } from "./Platform"
import { run, which } from "./Process"
import { type Forge, makeReleaseClient, type Release, type ReleaseAsset } from "./Releases"
import { fuzzyMatchVersions, resolveFromList, sortVersions } from "./Versions"

export const spmInfo = {
  id: "spm",
  specForm: "spm:<owner>/<repo>",
  options: ["provider", "api_url", "artifactbundle", "artifactbundle_asset", "filter_bins", "install_command", "prerelease"],
  description:
    "A Swift package's release: its SwiftPM artifact bundle (*.artifactbundle.zip) when the release publishes one, " +
    "else the tag cloned with git and built with `swift build -c release` (the Swift toolchain on the build machine); " +
    "releases from GitHub or GitLab (provider, api_url); setting spm.artifactbundle_only"
} as const

/** Where a package's releases and sources live: the forge API, the repository's path there, and its git URL. */
export interface SpmPackage {
  readonly forge: Forge
  readonly apiUrl: string
  /** `owner/repo` (GitLab: `group/subgroup/project`). */
  readonly shorthand: string
  readonly gitUrl: string
}

const SHORTHAND = /^(?:[a-zA-Z0-9_-]+\/)+[a-zA-Z0-9._-]+$/
const SHORTHAND_IN_URL = /^https:\/\/([^/]+)\/((?:[a-zA-Z0-9_-]+\/)+[a-zA-Z0-9._-]+)\.git/

/** mise's reading of the spec: a slug on github.com (gitlab.com with `provider = "gitlab"`), or a full `https://…/x.git`. */
export const spmPackage = (tool: ToolRequest, platform: Platform): Either.Either<SpmPackage, string> => {
  const provider = platformOption(tool.options, "provider", platform)?.toLowerCase()
  const gitlab = tool.name.includes("gitlab.com") || provider === "gitlab"
  const forge = gitlab ? gitlabForge : githubForge
  const host = gitlab ? "gitlab.com" : "github.com"
  const inUrl = SHORTHAND_IN_URL.exec(tool.name)
  const given = platformOption(tool.options, "api_url", platform)?.replace(/\/+$/, "")
  if (inUrl !== null) {
    // A self-hosted forge's API lives on its own host, unless api_url says otherwise.
    const derived = inUrl[1] === "github.com" || inUrl[1] === "gitlab.com" ? undefined : `https://${inUrl[1]}${gitlab ? "/api/v4" : "/api/v3"}`
    return Either.right({ forge, apiUrl: given ?? derived ?? (gitlab ? GITLAB_API : GITHUB_API), shorthand: inUrl[2]!, gitUrl: tool.name })
  }
  if (SHORTHAND.test(tool.name)) {
    return Either.right({
      forge,
      apiUrl: given ?? (gitlab ? GITLAB_API : GITHUB_API),
      shorthand: tool.name,
      gitUrl: `https://${host}/${tool.name}.git`
    })
  }
  return Either.left(
    `Invalid Swift package repository: ${tool.name}. The repository should either be a repository slug (owner/name), ` +
      "or the complete URL (e.g. https://github.com/owner/name.git)."
  )
}

/** The target triples SwiftPM would report for the image's platform (`swift -print-target-info`), without asking swift. */
export const swiftTriples = (platform: Platform): ReadonlyArray<string> => {
  const arm = platform.arch === "arm64" || platform.arch === "aarch64"
  const x64 = platform.arch === "x64" || platform.arch === "amd64" || platform.arch === "x86_64"
  if (platform.os === "linux") return arm ? ["aarch64-unknown-linux-gnu", "arm64-unknown-linux-gnu"] : x64 ? ["x86_64-unknown-linux-gnu"] : []
  if (platform.os === "macos" || platform.os === "darwin") {
    return arm ? ["arm64-apple-macosx", "arm64-apple-macos"] : x64 ? ["x86_64-apple-macosx", "x86_64-apple-macos"] : []
  }
  if (platform.os === "windows" && x64) return ["x86_64-unknown-windows-msvc"]
  return []
}

const isBundleZip = (name: string) => name.toLowerCase().endsWith(".artifactbundle.zip")

/** mise's choice: `artifactbundle_asset` by name, else the one `*.artifactbundle.zip` of the release (none: build). */
export const selectBundleAsset = (
  assets: ReadonlyArray<ReleaseAsset>,
  named: string | undefined
): Either.Either<ReleaseAsset | undefined, string> => {
  if (named !== undefined) {
    if (!isBundleZip(named)) return Either.left(`artifactbundle_asset must end with .artifactbundle.zip, got ${named}`)
    const found = assets.find((a) => a.name === named)
    return found !== undefined ? Either.right(found) : Either.left(`artifactbundle_asset not found in release assets: ${named}`)
  }
  const candidates = assets.filter((a) => isBundleZip(a.name))
  if (candidates.length > 1) {
    return Either.left(
      `multiple SwiftPM artifact bundles found: ${candidates.map((a) => a.name).join(", ")}. Set artifactbundle_asset to choose one`
    )
  }
  return Either.right(candidates[0])
}

/** `filter_bins` as mise reads it: a list or a comma-separated string, blanks dropped; undefined when it names none. */
export const filterBins = (tool: ToolRequest): ReadonlyArray<string> | undefined => {
  const raw = tool.options["filter_bins"]
  const names = (Array.isArray(raw) ? raw : typeof raw === "string" ? raw.split(",") : []).map((s) => s.trim()).filter((s) => s !== "")
  return names.length > 0 ? names : undefined
}

/** The executables `filter_bins` keeps, in the package's order; a name that is not there is an error. */
export const applyFilterBins = (tool: ToolRequest, executables: ReadonlyArray<string>): Either.Either<ReadonlyArray<string>, string> => {
  const filter = filterBins(tool)
  if (filter === undefined) return Either.right(executables)
  const missing = filter.filter((name) => !executables.includes(name))
  if (missing.length > 0) {
    return Either.left(
      `filter_bins references executable(s) not found in the package: ${missing.join(", ")}. Available: ${executables.join(", ")}`
    )
  }
  return Either.right(executables.filter((e) => filter.includes(e)))
}

const BundleInfo = Schema.Struct({
  artifacts: Schema.Record({
    key: Schema.String,
    value: Schema.Struct({
      type: Schema.String,
      variants: Schema.Array(Schema.Struct({ path: Schema.String, supportedTriples: Schema.Array(Schema.String) }))
    })
  })
})
const decodeBundleInfo = Schema.decodeUnknownEither(Schema.parseJson(BundleInfo))

/** One executable of an artifact bundle: its artifact name and where the variant for the platform is. */
export interface BundleBinary {
  readonly name: string
  readonly path: string
}

const isBundleDir = async (dir: string) =>
  dir.endsWith(".artifactbundle") && (await fsp.stat(NodePath.join(dir, "info.json")).then((s) => s.isFile(), () => false))

const subdirs = async (dir: string) =>
  (await fsp.readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => NodePath.join(dir, e.name)).sort()

/** The bundles in an unpacked zip: the root itself, `*.artifactbundle` children, and those one wrapper dir down. */
export const bundleDirs = async (root: string): Promise<ReadonlyArray<string>> => {
  const found: Array<string> = []
  if (await fsp.stat(NodePath.join(root, "info.json")).then((s) => s.isFile(), () => false)) found.push(root)
  for (const child of await subdirs(root)) {
    if (await isBundleDir(child)) found.push(child)
    else for (const inner of await subdirs(child)) if (await isBundleDir(inner)) found.push(inner)
  }
  return found.sort()
}

/** The executables of the bundles for `triples`: per artifact, the first variant supporting one of them. */
export const bundleBinaries = async (
  root: string,
  triples: ReadonlyArray<string>
): Promise<Either.Either<ReadonlyArray<BundleBinary>, string>> => {
  const binaries: Array<BundleBinary> = []
  for (const bundle of await bundleDirs(root)) {
    const info = decodeBundleInfo(await fsp.readFile(NodePath.join(bundle, "info.json"), "utf8"))
    if (Either.isLeft(info)) {
      const problem = ParseResult.TreeFormatter.formatErrorSync(info.left).split("\n").slice(0, 4).join(" ")
      return Either.left(`${NodePath.basename(bundle)}/info.json is not an artifact bundle manifest (SE-0305): ${problem}`)
    }
    for (const [name, artifact] of Object.entries(info.right.artifacts)) {
      if (artifact.type !== "executable") continue
      const variant = artifact.variants.find((v) => v.supportedTriples.some((t) => triples.includes(t)))
      if (variant === undefined) continue
      const path = NodePath.resolve(bundle, variant.path)
      if (!/^[^/\\]+$/.test(name) || name === "." || name === ".." || !path.startsWith(`${bundle}${NodePath.sep}`)) {
        return Either.left(`artifact ${JSON.stringify(name)} of ${NodePath.basename(bundle)} points outside the bundle (${variant.path})`)
      }
      if (!(await fsp.stat(path).then((s) => s.isFile(), () => false))) {
        return Either.left(`artifact bundle executable does not exist: ${NodePath.relative(root, path)}`)
      }
      binaries.push({ name, path })
    }
  }
  return Either.right(binaries)
}

/** SwiftPM's `dump-package` product type: `"executable"` (Swift 6) or `{"executable": null}` (Swift 5). */
const isExecutable = (type: unknown) =>
  type === "executable" || (typeof type === "object" && type !== null && Object.keys(type)[0] === "executable")

const PackageDescription = Schema.Struct({ products: Schema.Array(Schema.Struct({ name: Schema.String, type: Schema.Unknown })) })
const decodePackage = Schema.decodeUnknownEither(Schema.parseJson(PackageDescription))

/** The executable products of `swift package dump-package` output, in the package's order. */
export const executableProducts = (json: string): Either.Either<ReadonlyArray<string>, string> =>
  Either.match(decodePackage(json), {
    onLeft: (e) => Either.left(`swift package dump-package printed no package description: ${e.message.split("\n")[0]}`),
    onRight: (p) => Either.right(p.products.filter((x) => isExecutable(x.type)).map((x) => x.name))
  })

type BundleMode = "auto" | "required" | "source"

const bundleMode = (tool: ToolRequest, platform: Platform): Either.Either<BundleMode, string> => {
  const value = platformOption(tool.options, "artifactbundle", platform)
  if (value === undefined) return Either.right("auto")
  const v = value.trim().toLowerCase()
  if (v === "true" || v === "1") return Either.right("required")
  if (v === "false" || v === "0") return Either.right("source")
  return Either.left(`artifactbundle must be true, false, 1, or 0, got ${value}`)
}

/** `install_command`: a non-empty string, never with `filter_bins`. */
const installCommand = (tool: ToolRequest): Either.Either<string | undefined, string> => {
  const raw = tool.options["install_command"]
  if (raw === undefined) return Either.right(undefined)
  if (typeof raw !== "string" || raw.trim() === "") return Either.left("install_command must be a non-empty string")
  if (filterBins(tool) !== undefined) return Either.left("install_command cannot be used with filter_bins")
  return Either.right(raw.trim())
}

/** mise's default: the global `prereleases` setting, else the tool's `prerelease` option (`true`/`1`). */
const includePrereleases = (tool: ToolRequest, ctx: BackendContext): boolean => {
  if (flag(ctx, "prereleases", "MISE_PRERELEASES") === true) return true
  const value = tool.options["prerelease"]
  return value === true || value === 1 || (typeof value === "string" && ["true", "1"].includes(value.trim().toLowerCase()))
}

const GIT_REVISION = /^(?:ref|rev):(.+)$/

const SWIFT_HINT = "install Swift on the build machine (https://swift.org/install, or `mise use -g swift`) and make sure " +
  "`swift` is on PATH, or use a release that publishes a SwiftPM artifact bundle"
const GIT_HINT = "install git (`apt-get install git`) and make sure `git` is on PATH"

/** The `spm` backend, over the given Downloader (releases API, bundles) and the platform's CommandExecutor (git, swift). */
export const makeSpmBackend = (downloader: DownloaderShape, executor: CommandExecutor.CommandExecutor): Backend => {
  const client = makeReleaseClient(downloader)

  const check = <A>(tool: ToolRequest, value: Either.Either<A, string>): Effect.Effect<A, BackendError> =>
    Either.match(value, { onLeft: (m) => Effect.fail(fail(tool, m)), onRight: Effect.succeed })

  /** The tool as the forge client sees it: the repository path, and the API it is served from. */
  const onForge = <T extends ToolRequest>(tool: T, pkg: SpmPackage): T => ({ ...tool, name: pkg.shorthand, options: { ...tool.options, api_url: pkg.apiUrl } })

  const releases = (tool: ToolRequest, ctx: BackendContext) =>
    Effect.gen(function*() {
      const pkg = yield* check(tool, spmPackage(tool, ctx.platform))
      return yield* client.releases(pkg.forge, onForge(tool, pkg), ctx)
    })

  // mise takes the tag names as they are for versions.
  const listVersions = (tool: ToolRequest, ctx: BackendContext) =>
    Effect.map(releases(tool, ctx), (list) => sortVersions(list.filter((r) => !r.draft).map((r) => r.tag)))

  const resolveVersion = (tool: ToolRequest, ctx: BackendContext): Effect.Effect<string, BackendError> => {
    if (GIT_REVISION.test(tool.version)) return Effect.succeed(tool.version)
    const spec = tool.version.replace(/^prefix:/, "")
    return Effect.flatMap(listVersions(tool, ctx), (versions) => {
      if (!includePrereleases(tool, ctx)) return resolveFromList(spec, versions, tool.short)
      const found = versions.includes(spec) ? spec : fuzzyMatchVersions(versions, spec, false).at(-1)
      return found !== undefined ? Effect.succeed(found) : resolveFromList(spec, versions, tool.short)
    })
  }

  const provided = <A, E>(effect: Effect.Effect<A, E, CommandExecutor.CommandExecutor>) =>
    Effect.provideService(effect, CommandExecutor.CommandExecutor, executor)

  const workDir = (tool: ResolvedTool, ctx: BackendContext) => NodePath.join(ctx.downloadDir, toolDirName(tool.short), tool.versionDir)

  /** Installs the release's artifact bundle; false when it has none with an executable for the platform. */
  const installBundle = (tool: ResolvedTool, pkg: SpmPackage, dir: string, ctx: BackendContext) =>
    Effect.gen(function*() {
      const request = installing(tool)
      const forgeTool = onForge(tool, pkg)
      const release: Option.Option<Release> = yield* client.byTag(pkg.forge, onForge(request, pkg), [tool.resolved], ctx)
      if (Option.isNone(release)) return false
      const asset = yield* check(request, selectBundleAsset(release.value.assets, platformOption(tool.options, "artifactbundle_asset", ctx.platform)))
      if (asset === undefined) return false
      const file = yield* client.download(pkg.forge, forgeTool, release.value, asset, ctx)
      const unpacked = NodePath.join(workDir(tool, ctx), "artifactbundle")
      yield* fsStep(tool, "cannot clear the bundle dir", () => fsp.rm(unpacked, { recursive: true, force: true }))
      yield* extractArchive(file.path, unpacked, { format: "zip", stripComponents: 0 }).pipe(Effect.mapError((e) => fail(request, `${asset.name}: ${e.message}`, e)))
      const found = yield* check(request, yield* fsStep(tool, `cannot read ${asset.name}`, () => bundleBinaries(unpacked, swiftTriples(ctx.platform))))
      if (found.length === 0) return false
      const names = yield* check(request, applyFilterBins(tool, found.map((b) => b.name)))
      const chosen = found.filter((b) => names.includes(b.name))
      if (chosen.length === 0) return false
      yield* fsStep(tool, "cannot install the bundle's executables", async () => {
        const store = NodePath.join(dir, "artifactbundle", "bin")
        await fsp.mkdir(store, { recursive: true })
        await fsp.mkdir(NodePath.join(dir, "bin"), { recursive: true })
        for (const binary of chosen) {
          const installed = NodePath.join(store, binary.name)
          await fsp.copyFile(binary.path, installed)
          await fsp.chmod(installed, 0o755)
          // Absolute, as mise links it; the layer writer makes a link into the install dir relative, as mise's does.
          await fsp.symlink(installed, NodePath.join(dir, "bin", binary.name))
        }
      })
      ctx.log(`${tool.short}@${tool.resolved}: installed ${chosen.map((b) => b.name).join(", ")} from ${asset.name}`)
      return true
    })

  const need = (tool: ToolRequest, ctx: BackendContext, command: string, why: string, hint: string) =>
    Effect.flatMap(which(command, ctx.env), (found) =>
      found !== undefined ? Effect.succeed(found) : Effect.fail(fail(tool, `${command} was not found on PATH, and ${why}: ${hint}.`)))

  /** Clone the tag (or `ref:`/`rev:` revision) into `repo`, with its submodules. */
  const clone = (tool: ResolvedTool, pkg: SpmPackage, git: string, repo: string, revision: string | undefined, ctx: BackendContext) =>
    Effect.gen(function*() {
      const env = { ...ctx.env, GIT_TERMINAL_PROMPT: "0" }
      const gitRun = (args: ReadonlyArray<string>) =>
        provided(run(git, args, { env })).pipe(Effect.mapError((e) => fail(installing(tool), `cannot fetch ${pkg.gitUrl}: ${e.message}`, e)))
      yield* fsStep(tool, "cannot clear the source dir", () => fsp.rm(repo, { recursive: true, force: true }))
      ctx.log(`${tool.short}@${tool.resolved}: git clone ${pkg.gitUrl}`)
      if (revision === undefined) yield* gitRun(["clone", "--quiet", "--depth", "1", "--branch", tool.resolved, pkg.gitUrl, repo])
      else {
        yield* gitRun(["clone", "--quiet", pkg.gitUrl, repo])
        yield* gitRun(["-C", repo, "checkout", "--quiet", revision])
      }
      yield* gitRun(["-C", repo, "submodule", "update", "--quiet", "--init", "--recursive"])
    })

  const buildFromSource = (tool: ResolvedTool, pkg: SpmPackage, dir: string, command: string | undefined, why: string, ctx: BackendContext) =>
    Effect.gen(function*() {
      const request = installing(tool)
      const git = yield* need(request, ctx, "git", `${why}, so the spm backend clones ${pkg.gitUrl} to build it from source`, GIT_HINT)
      const swift = command === undefined ? yield* need(request, ctx, "swift", `${why}, so the spm backend builds it from source with \`swift build\``, SWIFT_HINT) : ""
      const work = workDir(tool, ctx)
      const repo = NodePath.join(work, "repo")
      yield* clone(tool, pkg, git, repo, GIT_REVISION.exec(tool.resolved)?.[1], ctx)
      if (command !== undefined) {
        ctx.log(`${tool.short}@${tool.resolved}: ${command}`)
        yield* provided(run("sh", ["-c", "-o", "errexit", command], {
          env: { ...ctx.env, PREFIX: dir, MISE_TOOL_INSTALL_PATH: dir },
          cwd: repo
        })).pipe(Effect.mapError((e) => fail(request, `install_command failed: ${e.message}`, e)))
        const bin = NodePath.join(dir, "bin")
        const executables = yield* Effect.promise(async () => {
          const entries = await fsp.readdir(bin, { withFileTypes: true }).catch(() => [])
          const modes = await Promise.all(entries.map((e) => fsp.stat(NodePath.join(bin, e.name)).then((s) => s.isFile() && (s.mode & 0o111) !== 0, () => false)))
          return modes.filter((m) => m).length
        })
        if (executables === 0) {
          return yield* fail(
            request,
            `install_command \`${command}\` exited successfully but installed no executable into ${bin}; check that it installs ` +
              "into $MISE_TOOL_INSTALL_PATH and that it fails when the build fails"
          )
        }
        return
      }
      // SwiftPM's shared cache (`<cache>/spm`, as mise's) sits beside the downloads dir; the build scratch is thrown away.
      const paths = ["--scratch-path", NodePath.join(work, "build"), "--package-path", repo, "--cache-path", NodePath.join(NodePath.dirname(ctx.downloadDir), "spm")]
      const swiftRun = (args: ReadonlyArray<string>) =>
        provided(run(swift, args, { env: ctx.env })).pipe(Effect.mapError((e) => fail(request, e.message, e)))
      const described = yield* swiftRun(["package", "dump-package", ...paths])
      const all = yield* check(request, executableProducts(described.stdout))
      if (all.length === 0) return yield* fail(request, `No executables found in the package ${pkg.shorthand} at ${tool.resolved}`)
      const executables = yield* check(request, applyFilterBins(tool, all))
      const built: Array<string> = []
      for (const product of executables) {
        const args = ["build", "--configuration", "release", "--product", product, ...paths]
        ctx.log(`${tool.short}@${tool.resolved}: swift ${args.join(" ")}`)
        yield* swiftRun(args)
        built.push(NodePath.join((yield* swiftRun([...args, "--show-bin-path"])).stdout.trim(), product))
      }
      yield* fsStep(tool, "cannot copy the built executables into the install dir", async () => {
        const bin = NodePath.join(dir, "bin")
        await fsp.mkdir(bin, { recursive: true })
        for (const file of built) {
          await fsp.copyFile(file, NodePath.join(bin, NodePath.basename(file)))
          await fsp.chmod(NodePath.join(bin, NodePath.basename(file)), 0o755)
          // Resources (`Bundle.module`) are looked up beside the executable.
          for (const entry of await fsp.readdir(NodePath.dirname(file), { withFileTypes: true })) {
            if (entry.isDirectory() && /\.(resources|bundle)$/.test(entry.name)) {
              await fsp.cp(NodePath.join(NodePath.dirname(file), entry.name), NodePath.join(bin, entry.name), { recursive: true })
            }
          }
        }
      })
    })

  const install = (tool: ResolvedTool, dir: string, ctx: BackendContext) =>
    Effect.gen(function*() {
      const request = installing(tool)
      const pkg = yield* check(request, spmPackage(tool, ctx.platform))
      const command = yield* check(request, installCommand(tool))
      const mode = yield* check(request, bundleMode(tool, ctx.platform))
      const only = flag(ctx, "spm.artifactbundle_only", "MISE_SPM_ARTIFACTBUNDLE_ONLY") === true
      const required = mode === "required" || platformOption(tool.options, "artifactbundle_asset", ctx.platform) !== undefined
      const revision = GIT_REVISION.test(tool.resolved)
      if (mode === "source" && only) return yield* fail(request, "artifactbundle = false conflicts with spm.artifactbundle_only")
      if (revision && (required || only)) {
        return yield* fail(
          request,
          `SwiftPM artifact bundles require a release version; ${tool.resolved} selects a Git revision and must be built from source`
        )
      }
      let why = revision ? `${tool.resolved} is a Git revision` : "the tool asks for artifactbundle = false"
      if (!revision && mode !== "source") {
        const attempt = yield* Effect.either(installBundle(tool, pkg, dir, ctx))
        if (Either.isRight(attempt) && attempt.right) return yield* dropDownloads(tool, ctx)
        if (Either.isLeft(attempt)) {
          if (required || only) return yield* Effect.fail(attempt.left)
          ctx.warn(`${attempt.left.message}; building from source instead`)
          why = `the artifact bundle of release ${tool.resolved} could not be installed`
        } else {
          if (required) return yield* fail(request, `No matching SwiftPM artifact bundle found for ${pkg.shorthand}`)
          if (only) return yield* fail(request, `No matching SwiftPM artifact bundle found for ${pkg.shorthand}, but spm.artifactbundle_only is set`)
          why = `release ${tool.resolved} of ${pkg.shorthand} publishes no SwiftPM artifact bundle for ${platformKey(ctx.platform)}`
        }
      }
      yield* buildFromSource(tool, pkg, dir, command, why, ctx).pipe(Effect.ensuring(dropDownloads(tool, ctx)))
    })

  /** Only a build that is certain to come from source needs git and swift up front; a release may ship a bundle. */
  const requiredCommands = (tool: ToolRequest, ctx: BackendContext): ReadonlyArray<RequiredCommand> => {
    const fromSource = GIT_REVISION.test(tool.version) || Either.getOrUndefined(bundleMode(tool, ctx.platform)) === "source"
    if (!fromSource) return []
    const command = Either.getOrUndefined(installCommand(tool))
    return [{ command: "git", hint: GIT_HINT }, ...(command === undefined ? [{ command: "swift", hint: SWIFT_HINT }] : [])]
  }

  return {
    ...spmInfo,
    listVersions,
    resolveVersion,
    requiredCommands,
    install,
    binPaths: (_tool, dir) => Effect.succeed([NodePath.join(dir, "bin")]),
    execEnv: () => Effect.succeed([])
  }
}
