import { type BackendContext, Downloader, layerDownloader, makeHttpBackend, type ResolvedTool, versionDirName } from "@engine/backends"
import { Effect, ManagedRuntime } from "effect"
import { createHash } from "node:crypto"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as zlib from "node:zlib"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { tempDir, testContext, tree } from "./support/Context"
import { type Member, tarGz, tarXz, zipBytes } from "./support/Fixtures"
import { startServer, type TestServer } from "./support/Server"

let server: TestServer
let root: string
let runtime: ManagedRuntime.ManagedRuntime<Downloader, never>
let n = 0

const hello: ReadonlyArray<Member> = [
  { name: "hello-1.0.0/", type: "directory" },
  { name: "hello-1.0.0/README", content: "readme\n" },
  { name: "hello-1.0.0/bin/", type: "directory" },
  { name: "hello-1.0.0/bin/hello", content: "#!/bin/sh\necho hello world\n", mode: 0o755 }
]
let helloSha = ""

beforeAll(async () => {
  server = await startServer()
  root = tempDir("http")
  runtime = ManagedRuntime.make(layerDownloader({ retries: 1, retryBaseDelayMs: 5 }))
  const tgz = await tarGz(hello)
  helloSha = createHash("sha256").update(tgz).digest("hex")
  server.route("/hello-1.0.0.tar.gz", tgz)
  server.route("/hello-1.0.0.tar.xz", await tarXz(hello))
  server.route("/hello-1.0.0.zip", zipBytes(hello))
  server.route("/tiny-linux-x64", "#!/bin/sh\necho tiny\n")
  server.route("/tiny-linux-arm64", "#!/bin/sh\necho arm\n")
  server.route("/tool-linux-x64.gz", zlib.gzipSync("#!/bin/sh\necho gz\n"))
  server.route("/deep.tar.gz", await tarGz([{ name: "a/b/bin/z", content: "#!/bin/sh\n", mode: 0o755 }]))
  server.route("/flat.tar.gz", await tarGz([{ name: "x", content: "#!/bin/sh\n", mode: 0o755 }, { name: "y", content: "y" }]))
  server.route("/multi.tar.gz", await tarGz([{ name: "one/bin/a", content: "a", mode: 0o755 }, { name: "two/bin/b", content: "b", mode: 0o755 }]))
})
afterAll(async () => {
  await runtime.dispose()
  await server.close()
  fs.rmSync(root, { recursive: true, force: true })
})

const backend = () => runtime.runPromise(Effect.map(Downloader, makeHttpBackend))

const tool = (name: string, options: ResolvedTool["options"], version = "1.0.0"): ResolvedTool => ({
  short: `http:${name}`,
  backend: "http",
  name,
  version,
  options,
  resolved: version,
  versionDir: versionDirName(version)
})

interface Installed {
  readonly dir: string
  readonly tree: ReadonlyArray<string>
  readonly bins: ReadonlyArray<string>
  readonly ctx: BackendContext & { readonly warnings: Array<string> }
}

const install = async (t: ResolvedTool, ctx = testContext(root)): Promise<Installed> => {
  const b = await backend()
  const dir = path.join(root, `install-${n++}`)
  fs.mkdirSync(dir)
  await runtime.runPromise(b.install(t, dir, ctx))
  const bins = await runtime.runPromise(b.binPaths(t, dir, ctx))
  return { dir, tree: tree(dir), bins: bins.map((p) => path.relative(dir, p) || "."), ctx }
}
const installError = async (t: ResolvedTool, ctx = testContext(root)) => {
  const b = await backend()
  const dir = path.join(root, `install-${n++}`)
  fs.mkdirSync(dir)
  return runtime.runPromise(Effect.flip(b.install(t, dir, ctx)))
}

describe("http backend: versions", () => {
  it("takes the version as written", async () => {
    const b = await backend()
    const t = tool("hello", { url: "x" }, "1.2.3")
    expect(await runtime.runPromise(b.listVersions(t, testContext(root)))).toEqual(["1.2.3"])
    expect(await runtime.runPromise(b.resolveVersion!(t, testContext(root)))).toBe("1.2.3")
    expect(await runtime.runPromise(b.execEnv(t, root, testContext(root)))).toEqual([])
  })
})

describe("http backend: install", () => {
  it("installs the mise appendix example: tar.gz, {{ version }}, bin_path, strip_components, checksum", async () => {
    const out = await install(tool("hello", {
      url: `${server.url}/hello-{{ version }}.tar.gz`,
      bin_path: "bin",
      strip_components: 1,
      checksum: `sha256:${helloSha}`
    }))
    expect(out.tree).toEqual(["f README 644", "d bin", "f bin/hello 755"])
    expect(out.bins).toEqual(["bin"])
    expect(execFileSync(path.join(out.dir, "bin/hello"), { encoding: "utf8" })).toBe("hello world\n")
    expect(fs.existsSync(path.join(root, "downloads", "http-hello", "1.0.0"))).toBe(false)
  })

  it("keeps the download with always_keep_download, as mise does", async () => {
    const downloadDir = path.join(root, "kept")
    const ctx = testContext(root, { downloadDir, settings: { always_keep_download: true } })
    await install(tool("tiny", { url: `${server.url}/tiny-linux-x64` }), ctx)
    expect(fs.readdirSync(path.join(downloadDir, "http-tiny", "1.0.0"))).toEqual(["tiny-linux-x64"])
  })

  it("auto-strips a single top-level directory when neither strip_components nor bin_path is set", async () => {
    for (const ext of ["tar.gz", "tar.xz", "zip"]) {
      const out = await install(tool("hello", { url: `${server.url}/hello-{{version}}.${ext}` }))
      expect(out.tree, ext).toEqual(["f README 644", "d bin", "f bin/hello 755"])
      expect(out.bins).toEqual(["bin"])
    }
  })

  it("does not auto-strip when bin_path is set (mise's rule)", async () => {
    const out = await install(tool("hello", { url: `${server.url}/hello-{version}.tar.gz`, bin_path: "hello-{{ version }}/bin" }))
    expect(out.tree[0]).toBe("d hello-1.0.0")
    expect(out.bins).toEqual(["hello-1.0.0/bin"])
  })

  it("finds bin dirs one level down, else uses the install root", async () => {
    expect((await install(tool("deep", { url: `${server.url}/deep.tar.gz` }))).bins).toEqual(["b/bin"])
    expect((await install(tool("multi", { url: `${server.url}/multi.tar.gz` }))).bins).toEqual(["one/bin", "two/bin"])
    expect((await install(tool("flat", { url: `${server.url}/flat.tar.gz` }))).bins).toEqual(["."])
  })

  it("installs a bare binary at the root under its cleaned name, as mise 2026.9.15 does", async () => {
    const out = await install(tool("tiny", { url: `${server.url}/tiny-linux-x64` }, "2.0.0"))
    expect(out.tree).toEqual(["f tiny 755"])
    expect(out.bins).toEqual(["."])
    expect(execFileSync(path.join(out.dir, "tiny"), { encoding: "utf8" })).toBe("tiny\n")
  })

  it("puts a bare binary in bin_path when given, and names it by `bin` when given", async () => {
    expect((await install(tool("tiny", { url: `${server.url}/tiny-linux-x64`, bin_path: "bin" }))).tree).toEqual(["d bin", "f bin/tiny 755"])
    expect((await install(tool("tiny", { url: `${server.url}/tiny-linux-x64`, bin: "tn" }))).tree).toEqual(["f tn 755"])
  })

  it("decompresses a single .gz binary", async () => {
    const out = await install(tool("tool", { url: `${server.url}/tool-linux-x64.gz` }))
    expect(out.tree).toEqual(["f tool 755"])
  })

  it("picks the platform's URL (platforms.<os>-<arch>.url, or an alias) over url", async () => {
    const opts = {
      url: `${server.url}/missing`,
      "platforms.linux-x64.url": `${server.url}/tiny-linux-x64`,
      "platforms.linux-aarch64.url": `${server.url}/tiny-linux-arm64`
    }
    const x64 = await install(tool("tiny", opts))
    expect(fs.readFileSync(path.join(x64.dir, "tiny"), "utf8")).toContain("tiny")
    const arm = await install(tool("tiny", opts), testContext(root, { platform: { os: "linux", arch: "arm64" } }))
    expect(fs.readFileSync(path.join(arm.dir, "tiny"), "utf8")).toContain("arm")
  })
})

describe("http backend: errors a user can act on", () => {
  it("a 404", async () => {
    const e = await installError(tool("hello", { url: `${server.url}/hello-{{ version }}.tgz` }))
    expect(e.message).toBe(`http:hello@1.0.0: download of ${server.url}/hello-1.0.0.tgz failed: HTTP 404 Not Found`)
    expect(e.tool).toBe("http:hello")
    expect((e.cause as { _tag: string })._tag).toBe("DownloadError")
  })

  it("a checksum mismatch names the url, expected and actual", async () => {
    const wrong = "1".repeat(64)
    const e = await installError(tool("hello", { url: `${server.url}/hello-1.0.0.tar.gz`, checksum: `sha256:${wrong}` }))
    expect(e.message).toBe(
      `http:hello@1.0.0: checksum mismatch for ${server.url}/hello-1.0.0.tar.gz: expected sha256:${wrong}, got sha256:${helloSha}`
    )
  })

  it("blake3 checksums are refused before downloading", async () => {
    const e = await installError(tool("hello", { url: `${server.url}/hello-1.0.0.tar.gz`, checksum: `blake3:${"a".repeat(64)}` }))
    expect(e.message).toContain("blake3 checksums are not supported yet")
  })

  it("no url, or none for this platform", async () => {
    expect((await installError(tool("hello", {}))).message).toContain("http:hello@1.0.0: the http backend needs a 'url' option")
    expect((await installError(tool("hello", { "platforms.macos-arm64.url": "x" }))).message).toBe(
      "http:hello@1.0.0: no URL for platform linux-x64 (available: macos-arm64); add 'url' or 'platforms.linux-x64.url'"
    )
  })

  it("bin_path may not leave the install dir", async () => {
    const e = await installError(tool("hello", { url: `${server.url}/hello-1.0.0.tar.gz`, bin_path: "../x" }))
    expect(e.message).toBe(`http:hello@1.0.0: bin_path "../x" must be a path inside the install dir`)
  })

  it("bad strip_components and templates", async () => {
    expect((await installError(tool("hello", { url: `${server.url}/a.tar.gz`, strip_components: "x" }))).message).toBe(
      `http:hello@1.0.0: strip_components must be a whole number (got "x")`
    )
    expect((await installError(tool("hello", { url: `${server.url}/{{ nope }}` }))).message).toContain(
      "cannot fill in the url template"
    )
  })
})
