import { CommandExecutor } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { applyFilterBins, type Backend, type BackendContext, Downloader, executableProducts, filterBins, layerDownloader, makeSpmBackend, selectBundleAsset, spmPackage, swiftTriples } from "@engine/backends"
import { Either, Effect, Layer, ManagedRuntime } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { tempDir, testContext, toolsOf, tree } from "./support/Context"
import { type Member, zipBytes } from "./support/Fixtures"
import { type FixtureRelease, serveGitHub, serveGitLab } from "./support/Forges"
import { startServer, type TestServer } from "./support/Server"

let server: TestServer
let root: string
let standins: string
let runtime: ManagedRuntime.ManagedRuntime<Downloader | CommandExecutor.CommandExecutor, never>
let devCommit: string
let n = 0

const script = (text: string) => `#!/bin/sh\necho "${text}"\n`

/** An SE-0305 bundle: `hello` for linux x86_64/aarch64 and macOS, `helper` for linux, and a library to skip. */
const helloBundle = (version: string, top = "hello.artifactbundle"): ReadonlyArray<Member> => [
  {
    name: `${top}/info.json`,
    content: JSON.stringify({
      schemaVersion: "1.0",
      artifacts: {
        hello: {
          version,
          type: "executable",
          variants: [
            { path: `hello-${version}-macos/bin/hello`, supportedTriples: ["arm64-apple-macosx", "x86_64-apple-macosx"] },
            { path: `hello-${version}-linux-x86_64/bin/hello`, supportedTriples: ["x86_64-unknown-linux-gnu"] },
            { path: `hello-${version}-linux-aarch64/bin/hello`, supportedTriples: ["aarch64-unknown-linux-gnu"] }
          ]
        },
        helper: {
          version,
          type: "executable",
          variants: [{ path: `helper-${version}/bin/helper`, supportedTriples: ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"] }]
        },
        HelloKit: { version, type: "staticLibrary", variants: [{ path: "lib/libHelloKit.a", supportedTriples: ["x86_64-unknown-linux-gnu"] }] }
      }
    }, null, 2)
  },
  { name: `${top}/hello-${version}-macos/bin/hello`, content: script(`hello ${version} macos`), mode: 0o755 },
  { name: `${top}/hello-${version}-linux-x86_64/bin/hello`, content: script(`hello ${version} x86_64-linux`), mode: 0o755 },
  { name: `${top}/hello-${version}-linux-aarch64/bin/hello`, content: script(`hello ${version} aarch64-linux`), mode: 0o755 },
  { name: `${top}/helper-${version}/bin/helper`, content: script(`helper ${version}`), mode: 0o755 },
  { name: `${top}/lib/libHelloKit.a`, content: "!<arch>\n" }
]

const macOnlyBundle = (version: string): ReadonlyArray<Member> => [
  {
    name: "hello.artifactbundle/info.json",
    content: JSON.stringify({
      schemaVersion: "1.0",
      artifacts: { hello: { version, type: "executable", variants: [{ path: "bin/hello", supportedTriples: ["arm64-apple-macosx"] }] } }
    })
  },
  { name: "hello.artifactbundle/bin/hello", content: script(`hello ${version} macos`), mode: 0o755 }
]

const escapingBundle: ReadonlyArray<Member> = [
  {
    name: "hello.artifactbundle/info.json",
    content: JSON.stringify({
      schemaVersion: "1.0",
      artifacts: { hello: { version: "1.5.0", type: "executable", variants: [{ path: "../../../../etc/passwd", supportedTriples: ["x86_64-unknown-linux-gnu"] }] } }
    })
  }
]

const releases = (): ReadonlyArray<FixtureRelease> => [
  { tag: "3.0.0", draft: true, assets: [] },
  { tag: "2.0.0-beta.1", assets: [{ name: "hello.artifactbundle.zip", body: zipBytes(helloBundle("2.0.0-beta.1")), digest: true }] },
  { tag: "1.5.0", assets: [{ name: "hello.artifactbundle.zip", body: zipBytes(escapingBundle) }] },
  { tag: "1.4.0", assets: [{ name: "hello.artifactbundle.zip", body: zipBytes(helloBundle("1.4.0")), digest: `sha256:${"0".repeat(64)}` }] },
  { tag: "1.3.0", assets: [{ name: "Hello.ArtifactBundle.zip", body: zipBytes(macOnlyBundle("1.3.0")) }] },
  {
    tag: "1.2.0",
    assets: [
      { name: "a.artifactbundle.zip", body: zipBytes(helloBundle("1.2.0-a")) },
      { name: "b.artifactbundle.zip", body: zipBytes(helloBundle("1.2.0-b", "wrapper/b.artifactbundle")) }
    ]
  },
  {
    tag: "1.1.0",
    assets: [
      { name: "hello-1.1.0-linux.tar.gz", body: Buffer.from("not used") },
      { name: "hello.artifactbundle.zip", body: zipBytes(helloBundle("1.1.0")), digest: true }
    ]
  },
  { tag: "1.0.0", assets: [] }
]

const git = (cwd: string, ...args: ReadonlyArray<string>) =>
  execFileSync("git", args, {
    cwd,
    encoding: "utf8",
    env: {
      PATH: "/usr/bin:/bin",
      HOME: root,
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_AUTHOR_NAME: "engine",
      GIT_AUTHOR_EMAIL: "engine@example.com",
      GIT_COMMITTER_NAME: "engine",
      GIT_COMMITTER_EMAIL: "engine@example.com",
      GIT_AUTHOR_DATE: "2026-01-01T00:00:00Z",
      GIT_COMMITTER_DATE: "2026-01-01T00:00:00Z"
    }
  }).trim()

const put = (file: string, text: string, mode = 0o644) => {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, text, { mode })
}

/**
 * The package's sources as a bare repository that `https://github.com/acme/hello.git` is rewritten to (git's
 * `url.<base>.insteadOf`): tags 1.0.0-1.5.0 on the release commit, an untagged dev commit after it, and 9.9.9 whose
 * only product does not build.
 * `dump-package.json` is what `swift package dump-package` prints for it: one Swift 6 and one Swift 5 executable.
 */
const makeRepository = () => {
  const work = path.join(root, "src", "hello")
  put(path.join(work, "dump-package.json"), JSON.stringify({
    name: "hello",
    products: [
      { name: "hello", targets: ["hello"], type: "executable" },
      { name: "HelloKit", targets: ["HelloKit"], type: { library: ["automatic"] } },
      { name: "helper", targets: ["helper"], type: { executable: null } }
    ]
  }))
  put(path.join(work, "Package.swift"), "// swift-tools-version: 6.0\n")
  put(path.join(work, "Sources", "hello", "main.sh"), script("hello 1.0.0 from source"))
  put(path.join(work, "Sources", "helper", "main.sh"), script("helper 1.0.0 from source"))
  git(work, "init", "--quiet", "--initial-branch=main")
  git(work, "add", ".")
  git(work, "commit", "--quiet", "-m", "release")
  for (const tag of ["1.0.0", "1.2.0", "1.3.0", "1.4.0", "1.5.0"]) git(work, "tag", tag)
  put(path.join(work, "Sources", "hello", "main.sh"), script("hello dev from source"))
  git(work, "commit", "--quiet", "-am", "dev")
  devCommit = git(work, "rev-parse", "HEAD")
  put(path.join(work, "dump-package.json"), JSON.stringify({ name: "hello", products: [{ name: "broken", targets: ["broken"], type: "executable" }] }))
  git(work, "commit", "--quiet", "-am", "a product that does not build")
  git(work, "tag", "9.9.9")
  git(root, "clone", "--quiet", "--bare", work, path.join(root, "git", "acme", "hello.git"))
}

/**
 * A stand-in `swift` that appends each argv to `swift-calls` (its env to `swift-env`), prints the checkout's dump-package.json, "builds" a
 * product by copying its `Sources/<product>/main.sh` into `<scratch>/x86_64-unknown-linux-gnu/release` with a
 * resource bundle beside it, and answers `--show-bin-path` with that dir.
 */
const writeSwift = (dir: string) =>
  put(
    path.join(dir, "swift"),
    `#!/bin/sh
echo "$*" >> "${root}/swift-calls"
env | sort > "${root}/swift-env"
cmd="$1"; product=""; scratch=""; pkg=""; show=""
while [ $# -gt 0 ]; do
  case "$1" in --product) product="$2"; shift ;; --scratch-path) scratch="$2"; shift ;; --package-path) pkg="$2"; shift ;; --show-bin-path) show=1 ;; esac
  shift
done
out="$scratch/x86_64-unknown-linux-gnu/release"
case "$cmd" in
  package) cat "$pkg/dump-package.json" ;;
  build)
    if [ -n "$show" ]; then echo "$out"; exit 0; fi
    mkdir -p "$out/hello_hello.resources"
    echo "greeting" > "$out/hello_hello.resources/greeting.txt"
    cp "$pkg/Sources/$product/main.sh" "$out/$product"
    chmod +x "$out/$product" ;;
  *) echo "unexpected swift $cmd" >&2; exit 2 ;;
esac
`,
    0o755
  )

beforeAll(async () => {
  server = await startServer()
  root = tempDir("spm")
  standins = path.join(root, "standins")
  writeSwift(standins)
  makeRepository()
  runtime = ManagedRuntime.make(Layer.merge(layerDownloader({ retries: 0 }), NodeContext.layer))
  serveGitHub(server, { base: "/api/v3", repo: "acme/hello", pageSize: 3, releases: releases() })
  serveGitLab(server, {
    repo: "group/sub/hello",
    pageSize: 2,
    releases: [{ tag: "v0.9.0", assets: [] }, { tag: "v0.10.0", assets: [{ name: "hello.artifactbundle.zip", body: zipBytes(helloBundle("0.10.0")) }] }]
  })
})
afterAll(async () => {
  await runtime.dispose()
  await server.close()
  fs.rmSync(root, { recursive: true, force: true })
})

const backend = (): Promise<Backend> => runtime.runPromise(Effect.zipWith(Downloader, CommandExecutor.CommandExecutor, makeSpmBackend))
const run = <A, E>(effect: Effect.Effect<A, E, never>) => runtime.runPromise(effect)
const flip = <A, E>(effect: Effect.Effect<A, E, never>) => runtime.runPromise(Effect.flip(effect))

const { request, resolved } = toolsOf("spm")
const api = () => ({ api_url: `${server.url}/api/v3` })

/** No swift on PATH unless asked; git reaches the fixture repository through `insteadOf`. */
const spmContext = (opts: { swift?: boolean; settings?: Record<string, unknown>; platform?: BackendContext["platform"] } = {}) =>
  testContext(root, {
    settings: opts.settings ?? {},
    ...(opts.platform !== undefined ? { platform: opts.platform } : {}),
    env: {
      PATH: opts.swift === true ? `${standins}:/usr/bin:/bin` : "/usr/bin:/bin",
      HOME: path.join(root, "home"),
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_CONFIG_COUNT: "1",
      GIT_CONFIG_KEY_0: `url.file://${root}/git/.insteadOf`,
      GIT_CONFIG_VALUE_0: "https://github.com/"
    }
  })

const freshDir = () => {
  const dir = path.join(root, `install-${n++}`)
  fs.mkdirSync(dir)
  return dir
}

const swiftCalls = () => {
  const file = path.join(root, "swift-calls")
  const calls = fs.existsSync(file) ? fs.readFileSync(file, "utf8").trimEnd().split("\n") : []
  fs.rmSync(file, { force: true })
  return calls
}

const install = async (version: string, options: Record<string, string | boolean | ReadonlyArray<string>> = {}, ctx = spmContext()) => {
  const b = await backend()
  const dir = freshDir()
  const tool = resolved("acme/hello", version, { ...api(), ...options })
  await run(b.install(tool, dir, ctx))
  return { dir, tree: tree(dir), bins: await run(b.binPaths(tool, dir, ctx)), env: await run(b.execEnv(tool, dir, ctx)) }
}

const installError = async (version: string, options: Record<string, string | boolean> = {}, ctx = spmContext()) => {
  const b = await backend()
  const dir = freshDir()
  const e = await flip(b.install(resolved("acme/hello", version, { ...api(), ...options }), dir, ctx))
  return { message: e.message, tree: tree(dir) }
}

describe("spm backend: specs, triples, bundle choice, filter_bins", () => {
  const linux = { os: "linux", arch: "x64" }

  it("reads the spec as mise does: a slug on github.com or gitlab.com, or a full .git URL whose host serves the API", () => {
    const pkg = (name: string, options: Record<string, string> = {}) =>
      Either.map(spmPackage(request(name, "latest", options), linux), (p) => ({ forge: p.forge.name, apiUrl: p.apiUrl, shorthand: p.shorthand, gitUrl: p.gitUrl }))
    expect(pkg("nicklockwood/SwiftFormat")).toEqual(Either.right({
      forge: "GitHub", apiUrl: "https://api.github.com", shorthand: "nicklockwood/SwiftFormat", gitUrl: "https://github.com/nicklockwood/SwiftFormat.git"
    }))
    expect(pkg("acme/nicklockwood/SwiftFormat", { provider: "GitLab" })).toEqual(Either.right({
      forge: "GitLab", apiUrl: "https://gitlab.com/api/v4", shorthand: "acme/nicklockwood/SwiftFormat", gitUrl: "https://gitlab.com/acme/nicklockwood/SwiftFormat.git"
    }))
    expect(pkg("https://gitlab.com/acme/tool.git")).toEqual(Either.right({
      forge: "GitLab", apiUrl: "https://gitlab.com/api/v4", shorthand: "acme/tool", gitUrl: "https://gitlab.com/acme/tool.git"
    }))
    expect(pkg("https://github.acme.com/org/Tool.git")).toEqual(Either.right({
      forge: "GitHub", apiUrl: "https://github.acme.com/api/v3", shorthand: "org/Tool", gitUrl: "https://github.acme.com/org/Tool.git"
    }))
    expect(pkg("https://gitlab.acme.com/org/Tool.git", { provider: "gitlab" })).toEqual(Either.right({
      forge: "GitLab", apiUrl: "https://gitlab.acme.com/api/v4", shorthand: "org/Tool", gitUrl: "https://gitlab.acme.com/org/Tool.git"
    }))
    expect(Either.map(pkg("https://github.acme.com/org/Tool.git", { api_url: "https://custom-api.acme.com/v3/" }), (p) => p.apiUrl))
      .toEqual(Either.right("https://custom-api.acme.com/v3"))
    expect(Either.isRight(pkg("owner/name.swift"))).toBe(true)
    expect(pkg("owner/name$swift")).toEqual(Either.left(
      "Invalid Swift package repository: owner/name$swift. The repository should either be a repository slug (owner/name), " +
        "or the complete URL (e.g. https://github.com/owner/name.git)."
    ))
  })

  it("matches bundle variants by the triples swift reports for the image's platform", () => {
    expect(swiftTriples(linux)).toEqual(["x86_64-unknown-linux-gnu"])
    expect(swiftTriples({ os: "linux", arch: "arm64" })).toEqual(["aarch64-unknown-linux-gnu", "arm64-unknown-linux-gnu"])
    expect(swiftTriples({ os: "macos", arch: "arm64" })).toEqual(["arm64-apple-macosx", "arm64-apple-macos"])
  })

  it("picks the one *.artifactbundle.zip, or the one artifactbundle_asset names", () => {
    const asset = (name: string) => ({ name, url: `https://x/${name}` })
    expect(selectBundleAsset([asset("tool.tar.gz"), asset("Tool.ArtifactBundle.zip")], undefined)).toEqual(Either.right(asset("Tool.ArtifactBundle.zip")))
    expect(selectBundleAsset([asset("tool.tar.gz")], undefined)).toEqual(Either.right(undefined))
    expect(selectBundleAsset([asset("a.artifactbundle.zip"), asset("b.artifactbundle.zip")], undefined)).toEqual(Either.left(
      "multiple SwiftPM artifact bundles found: a.artifactbundle.zip, b.artifactbundle.zip. Set artifactbundle_asset to choose one"
    ))
    expect(selectBundleAsset([asset("a.artifactbundle.zip"), asset("b.artifactbundle.zip")], "b.artifactbundle.zip")).toEqual(Either.right(asset("b.artifactbundle.zip")))
    expect(selectBundleAsset([asset("tool.tar.gz")], "tool.tar.gz")).toEqual(Either.left("artifactbundle_asset must end with .artifactbundle.zip, got tool.tar.gz"))
    expect(selectBundleAsset([asset("a.artifactbundle.zip")], "missing.artifactbundle.zip"))
      .toEqual(Either.left("artifactbundle_asset not found in release assets: missing.artifactbundle.zip"))
  })

  it("reads filter_bins as a list or a comma-separated string and keeps the package's order", () => {
    expect(filterBins(request("a/b"))).toBeUndefined()
    expect(filterBins(request("a/b", "1", { filter_bins: " foo , bar , " }))).toEqual(["foo", "bar"])
    expect(filterBins(request("a/b", "1", { filter_bins: ["foo", " bar", ""] }))).toEqual(["foo", "bar"])
    expect(filterBins(request("a/b", "1", { filter_bins: " , " }))).toBeUndefined()
    const tool = request("a/b", "1", { filter_bins: ["helper", "swiftly"] })
    expect(applyFilterBins(tool, ["swiftly", "test-swiftly", "helper"])).toEqual(Either.right(["swiftly", "helper"]))
    expect(applyFilterBins(request("a/b", "1", { filter_bins: "does-not-exist" }), ["swiftly", "test-swiftly"])).toEqual(Either.left(
      "filter_bins references executable(s) not found in the package: does-not-exist. Available: swiftly, test-swiftly"
    ))
  })

  it("finds executable products in Swift 5 and Swift 6 dump-package output", () => {
    expect(executableProducts(JSON.stringify({
      products: [{ name: "a", type: "executable" }, { name: "b", type: { executable: null } }, { name: "c", type: { library: ["automatic"] } }, { name: "d", type: "library" }]
    }))).toEqual(Either.right(["a", "b"]))
    expect(Either.isLeft(executableProducts("error: no Package.swift"))).toBe(true)
  })
})

describe("spm backend: versions from the forge's releases (loopback)", () => {
  it("lists release tags as they are, drafts left out, across pages; latest is the newest stable tag", async () => {
    const b = await backend()
    const tool = request("acme/hello", "latest", api())
    expect(await run(b.listVersions(tool, spmContext()))).toEqual(["1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0", "1.5.0", "2.0.0-beta.1"])
    expect(await run(b.resolveVersion!(tool, spmContext()))).toBe("1.5.0")
    expect(await run(b.resolveVersion!(request("acme/hello", "1.1", api()), spmContext()))).toBe("1.1.0")
    expect(await run(b.resolveVersion!(request("acme/hello", "latest", api()), spmContext({ settings: { prereleases: true } })))).toBe("2.0.0-beta.1")
    expect(await run(b.resolveVersion!(request("acme/hello", "latest", { ...api(), prerelease: true }), spmContext()))).toBe("2.0.0-beta.1")
    expect(await run(b.resolveVersion!(request("acme/hello", "2", { ...api(), prerelease: "1" }), spmContext()))).toBe("2.0.0-beta.1")
    expect(await run(b.resolveVersion!(request("acme/hello", "rev:abc123", api()), spmContext()))).toBe("rev:abc123")
  })

  it("lists a GitLab project's releases with provider = gitlab", async () => {
    const b = await backend()
    const tool = request("group/sub/hello", "latest", { provider: "gitlab", api_url: `${server.url}/api/v4` })
    expect(await run(b.listVersions(tool, spmContext()))).toEqual(["v0.9.0", "v0.10.0"])
    expect(await run(b.resolveVersion!(request("group/sub/hello", "0.9", tool.options), spmContext()))).toBe("v0.9.0")
  })

  it("installs a GitLab release's bundle from its release link", async () => {
    const b = await backend()
    const dir = freshDir()
    await run(b.install(resolved("group/sub/hello", "v0.10.0", { provider: "gitlab", api_url: `${server.url}/api/v4` }), dir, spmContext()))
    expect(execFileSync(path.join(dir, "bin", "hello"), { encoding: "utf8" })).toBe("hello 0.10.0 x86_64-linux\n")
  })

  it("names a missing repository and the token to set", async () => {
    const b = await backend()
    const e = await flip(b.listVersions(request("acme/nope", "latest", api()), spmContext()))
    expect(e.message).toBe(
      `spm:acme/nope@latest: GitHub has no repository acme/nope at ${server.url}/api/v3 ` +
        `(HTTP 404 from ${server.url}/api/v3/repos/acme/nope/releases?per_page=100&page=1); check the name and api_url; ` +
        "if it is private, set GITHUB_TOKEN"
    )
  })
})

describe("spm backend: artifact bundles (no swift on PATH)", () => {
  it("installs the bundle's executables for linux-x64 as mise lays them out, and they run", async () => {
    const r = await install("1.1.0")
    expect(r.tree).toEqual([
      "d artifactbundle",
      "d artifactbundle/bin",
      "f artifactbundle/bin/hello 755",
      "f artifactbundle/bin/helper 755",
      "d bin",
      `l bin/hello -> ${r.dir}/artifactbundle/bin/hello`,
      `l bin/helper -> ${r.dir}/artifactbundle/bin/helper`
    ])
    expect(r.bins).toEqual([path.join(r.dir, "bin")])
    expect(r.env).toEqual([])
    expect(execFileSync(path.join(r.dir, "bin", "hello"), { encoding: "utf8" })).toBe("hello 1.1.0 x86_64-linux\n")
    expect(fs.existsSync(path.join(root, "downloads", "spm-acme-hello", "1.1.0"))).toBe(false)
  })

  it("takes the aarch64 variant for an arm64 image, and only filter_bins' executables", async () => {
    const r = await install("1.1.0", { filter_bins: "hello" }, spmContext({ platform: { os: "linux", arch: "arm64" } }))
    expect(r.tree.filter((l) => l.startsWith("f ") || l.startsWith("l "))).toEqual([
      "f artifactbundle/bin/hello 755",
      `l bin/hello -> ${r.dir}/artifactbundle/bin/hello`
    ])
    expect(fs.readFileSync(path.join(r.dir, "artifactbundle", "bin", "hello"), "utf8")).toBe(script("hello 1.1.0 aarch64-linux"))
  })

  it("installs the bundle artifactbundle_asset names, one wrapper dir down", async () => {
    const r = await install("1.2.0", { artifactbundle_asset: "b.artifactbundle.zip" })
    expect(execFileSync(path.join(r.dir, "bin", "hello"), { encoding: "utf8" })).toBe("hello 1.2.0-b x86_64-linux\n")
  })

  it("fails with mise's messages when a bundle is required but cannot be had", async () => {
    expect((await installError("1.0.0", { artifactbundle: true })).message).toBe(
      "spm:acme/hello@1.0.0: No matching SwiftPM artifact bundle found for acme/hello"
    )
    expect((await installError("1.3.0", {}, spmContext({ settings: { "spm.artifactbundle_only": true } }))).message).toBe(
      "spm:acme/hello@1.3.0: No matching SwiftPM artifact bundle found for acme/hello, but spm.artifactbundle_only is set"
    )
    expect((await installError("1.2.0", { artifactbundle: "1" })).message).toBe(
      "spm:acme/hello@1.2.0: multiple SwiftPM artifact bundles found: a.artifactbundle.zip, b.artifactbundle.zip. Set artifactbundle_asset to choose one"
    )
    expect((await installError("1.1.0", { artifactbundle: true, filter_bins: "nope" })).message).toBe(
      "spm:acme/hello@1.1.0: filter_bins references executable(s) not found in the package: nope. Available: hello, helper"
    )
    expect((await installError("1.1.0", { artifactbundle: "maybe" })).message).toBe(
      "spm:acme/hello@1.1.0: artifactbundle must be true, false, 1, or 0, got maybe"
    )
    expect((await installError("1.1.0", { artifactbundle: false }, spmContext({ settings: { "spm.artifactbundle_only": "true" } }))).message).toBe(
      "spm:acme/hello@1.1.0: artifactbundle = false conflicts with spm.artifactbundle_only"
    )
    expect((await installError("rev:abc", { artifactbundle: true })).message).toBe(
      "spm:acme/hello@rev:abc: SwiftPM artifact bundles require a release version; rev:abc selects a Git revision and must be built from source"
    )
  })

  it("refuses a bundle whose published digest does not match, and a variant path leaving the bundle", async () => {
    const digest = await installError("1.4.0", { artifactbundle: true })
    expect(digest.message).toMatch(/^spm:acme\/hello@1\.4\.0: .*sha256.*0{64}.*\(the checksum is from GitHub's digest of hello\.artifactbundle\.zip\)/s)
    expect(digest.tree).toEqual([])
    const escaping = await installError("1.5.0", { artifactbundle: true })
    expect(escaping.message).toBe(
      "spm:acme/hello@1.5.0: artifact \"hello\" of hello.artifactbundle points outside the bundle (../../../../etc/passwd)"
    )
    expect(escaping.tree).toEqual([])
  })
})

describe("spm backend: source builds (git clone + a stand-in swift)", () => {
  const work = path.join("downloads", "spm-acme-hello")
  const paths = (version: string) => {
    const dir = path.join(root, work, version)
    return `--scratch-path ${dir}/build --package-path ${dir}/repo --cache-path ${root}/spm`
  }

  it("builds a release without a bundle for the platform from its tag with mise's swift commands, copying the executables", async () => {
    swiftCalls()
    const r = await install("1.3.0", {}, spmContext({ swift: true }))
    expect(swiftCalls()).toEqual([
      `package dump-package ${paths("1.3.0")}`,
      `build --configuration release --product hello ${paths("1.3.0")}`,
      `build --configuration release --product hello ${paths("1.3.0")} --show-bin-path`,
      `build --configuration release --product helper ${paths("1.3.0")}`,
      `build --configuration release --product helper ${paths("1.3.0")} --show-bin-path`
    ])
    // The shell adds PWD; the rest is the build's env as it is.
    const env = fs.readFileSync(path.join(root, "swift-env"), "utf8").trimEnd().split("\n").filter((l) => !l.startsWith("PWD="))
    expect(env).toEqual(Object.entries(spmContext({ swift: true }).env).map(([k, v]) => `${k}=${v}`).sort())
    expect(r.tree).toEqual([
      "d bin",
      "f bin/hello 755",
      "d bin/hello_hello.resources",
      "f bin/hello_hello.resources/greeting.txt 644",
      "f bin/helper 755"
    ])
    expect(execFileSync(path.join(r.dir, "bin", "hello"), { encoding: "utf8" })).toBe("hello 1.0.0 from source\n")
    expect(fs.existsSync(path.join(root, work, "1.3.0"))).toBe(false)
  })

  it("builds filter_bins' products only, and a rev: at that commit", async () => {
    swiftCalls()
    const r = await install(`rev:${devCommit}`, { filter_bins: ["hello"] }, spmContext({ swift: true }))
    expect(swiftCalls().filter((c) => c.startsWith("build") && !c.endsWith("--show-bin-path")))
      .toEqual([`build --configuration release --product hello ${paths(`rev-${devCommit}`)}`])
    expect(execFileSync(path.join(r.dir, "bin", "hello"), { encoding: "utf8" })).toBe("hello dev from source\n")
  })

  it("falls back to a source build, with a warning, when the bundle cannot be installed", async () => {
    const ctx = spmContext({ swift: true })
    const r = await install("1.4.0", {}, ctx)
    expect(ctx.warnings).toHaveLength(1)
    expect(ctx.warnings[0]).toMatch(/^spm:acme\/hello@1\.4\.0: .*GitHub's digest of hello\.artifactbundle\.zip.*; building from source instead$/s)
    expect(r.tree).toContain("f bin/hello 755")
  })

  it("runs install_command in the checkout with PREFIX and MISE_TOOL_INSTALL_PATH, and checks it installed something", async () => {
    const command = "mkdir -p \"$PREFIX/bin\" && cp Sources/hello/main.sh \"$MISE_TOOL_INSTALL_PATH/bin/hello\" && chmod +x \"$PREFIX/bin/hello\""
    swiftCalls()
    const r = await install("1.0.0", { install_command: command })
    expect(swiftCalls()).toEqual([])
    expect(r.tree).toEqual(["d bin", "f bin/hello 755"])
    const idle = await installError("1.0.0", { install_command: "true" })
    expect(idle.message).toMatch(
      /^spm:acme\/hello@1\.0\.0: install_command `true` exited successfully but installed no executable into \/.*\/bin; check that it installs into \$MISE_TOOL_INSTALL_PATH and that it fails when the build fails$/
    )
    expect((await installError("1.0.0", { install_command: "  " })).message).toBe("spm:acme/hello@1.0.0: install_command must be a non-empty string")
    expect((await installError("1.0.0", { install_command: "make", filter_bins: "x" })).message).toBe(
      "spm:acme/hello@1.0.0: install_command cannot be used with filter_bins"
    )
  })

  it("reports swift's own failure with its output", async () => {
    const e = await installError("9.9.9", {}, spmContext({ swift: true }))
    expect(e.message).toMatch(
      new RegExp(`^spm:acme/hello@9\\.9\\.9: \`${standins}/swift build --configuration release --product broken .*\` exited with code 1:\ncp: cannot stat .*Sources/broken/main\\.sh`)
    )
    expect(e.tree).toEqual([])
  })

  it("explains a missing swift with the reason the release needs a build, before cloning anything", async () => {
    const e = await installError("1.0.0")
    expect(e.message).toBe(
      "spm:acme/hello@1.0.0: swift was not found on PATH, and release 1.0.0 of acme/hello publishes no SwiftPM artifact bundle for " +
        "linux-x64, so the spm backend builds it from source with `swift build`: install Swift on the build machine " +
        "(https://swift.org/install, or `mise use -g swift`) and make sure `swift` is on PATH, or use a release that publishes a " +
        "SwiftPM artifact bundle."
    )
    expect(e.tree).toEqual([])
    expect(fs.existsSync(path.join(root, work, "1.0.0", "repo"))).toBe(false)
  })

  it("says why a clone failed", async () => {
    const ctx = spmContext({ swift: true })
    const e = await flip((await backend()).install(resolved("acme/gone", "rev:abc", api()), freshDir(), ctx))
    expect(e.message).toMatch(/^spm:acme\/gone@rev:abc: cannot fetch https:\/\/github\.com\/acme\/gone\.git: `.*git clone --quiet https:\/\/github\.com\/acme\/gone\.git .*` exited with code 128:\nfatal: .*does not appear to be a git repository/s)
  })

  it("declares git and swift for the engine's check only when the build is certainly from source", async () => {
    const b = await backend()
    const needs = (version: string, options: Record<string, string | boolean> = {}) =>
      b.requiredCommands?.(request("acme/hello", version, options), spmContext()).map((c) => c.command)
    expect(needs("1.1.0")).toEqual([])
    expect(needs("latest", { artifactbundle: true })).toEqual([])
    expect(needs("rev:abc")).toEqual(["git", "swift"])
    expect(needs("1.1.0", { artifactbundle: false })).toEqual(["git", "swift"])
    expect(needs("ref:main", { install_command: "make install" })).toEqual(["git"])
  })
})
