import { NodeContext } from "@effect/platform-node"
import { CommandExecutor } from "@effect/platform"
import { type Backend, Downloader, firstGemSource, gemWrapper, layerDownloader, makeGemBackend, rewriteRubyShebang, rubyShebangLine } from "@engine/backends"
import { Effect, Layer, ManagedRuntime } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { tempDir, testContext, tree, toolsOf } from "./support/Context"
import { startServer, type TestServer } from "./support/Server"

let server: TestServer
let root: string
let runtime: ManagedRuntime.ManagedRuntime<Downloader | CommandExecutor.CommandExecutor, never>
let n = 0

/** Runs with only the system's PATH, like a user without GEM_HOME/GEM_PATH or mise in their env. */
const bareEnv = { PATH: "/usr/bin:/bin" }

/** A real gem with one executable, built with `gem build`. */
const buildGem = (dir: string, version: string) => {
  fs.mkdirSync(path.join(dir, "bin"), { recursive: true })
  fs.mkdirSync(path.join(dir, "lib"), { recursive: true })
  fs.writeFileSync(
    path.join(dir, "hello-gem.gemspec"),
    `Gem::Specification.new do |s|\n  s.name = "hello-gem"\n  s.version = "${version}"\n  s.summary = "test gem"\n` +
      `  s.authors = ["engine"]\n  s.license = "MIT"\n  s.files = ["lib/hello_gem.rb", "bin/hello-gem"]\n` +
      `  s.executables = ["hello-gem"]\nend\n`
  )
  fs.writeFileSync(path.join(dir, "lib", "hello_gem.rb"), "module HelloGem\n  def self.greet = \"hello from hello-gem #{Gem.loaded_specs['hello-gem'].version}\"\nend\n")
  fs.writeFileSync(path.join(dir, "bin", "hello-gem"), "#!/usr/bin/env ruby\nrequire \"hello_gem\"\nputs HelloGem.greet\n", { mode: 0o755 })
  execFileSync("gem", ["build", "hello-gem.gemspec"], { cwd: dir, stdio: "pipe", env: { ...bareEnv, HOME: root } })
  return path.join(dir, `hello-gem-${version}.gem`)
}

/** Every file under `dir` served at its relative path: a static gem source as `gem generate_index` lays it out. */
const serveDir = (dir: string, prefix: string) => {
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue
    const file = path.join(entry.parentPath, entry.name)
    server.route(`${prefix}/${path.relative(dir, file)}`, fs.readFileSync(file))
  }
}

beforeAll(async () => {
  server = await startServer()
  root = tempDir("gem")
  runtime = ManagedRuntime.make(Layer.merge(layerDownloader({ retries: 0 }), NodeContext.layer))
  const repo = path.join(root, "repo")
  fs.mkdirSync(path.join(repo, "gems"), { recursive: true })
  fs.copyFileSync(buildGem(path.join(root, "src"), "1.0.0"), path.join(repo, "gems", "hello-gem-1.0.0.gem"))
  execFileSync("gem", ["generate_index", "--directory", repo], { stdio: "pipe", env: { ...bareEnv, HOME: root } })
  serveDir(repo, "/source")
  server.route("/source/", "")
  server.route(
    "/source/api/v1/versions/hello-gem.json",
    JSON.stringify([
      { number: "2.0.0.pre1", platform: "ruby", prerelease: true },
      { number: "1.10.0", platform: "java" },
      { number: "1.10.0", platform: "ruby" },
      { number: "1.0.0", platform: "ruby" }
    ])
  )
  server.route("/source/api/v1/versions/garbage.json", "{\"number\":1}")
})
afterAll(async () => {
  await runtime.dispose()
  await server.close()
  fs.rmSync(root, { recursive: true, force: true })
})

const backend = (): Promise<Backend> =>
  runtime.runPromise(Effect.zipWith(Downloader, CommandExecutor.CommandExecutor, makeGemBackend))

const { request, resolved } = toolsOf("gem")

/** gem with the loopback source and a temp HOME (its spec cache lives there). */
const gemContext = (env: Record<string, string> = {}) =>
  testContext(root, { settings: { "gem.source": `${server.url}/source` }, env: { ...process.env, HOME: path.join(root, "home"), ...env } })

describe("gem backend: sources, shebangs, wrappers", () => {
  it("takes the first http(s) line of `gem sources`", () => {
    expect(firstGemSource("*** CURRENT SOURCES ***\n\nhttps://gems.example.com\nhttps://rubygems.org/\n")).toBe("https://gems.example.com/")
    expect(firstGemSource("*** CURRENT SOURCES ***\n\n")).toBeUndefined()
  })

  it("finds the ruby shebang of plain scripts and of RubyGems' polyglot stubs", () => {
    expect(rubyShebangLine(["#!/usr/bin/ruby3.1", "puts 1"])).toBe(0)
    expect(rubyShebangLine(["#!/bin/sh", "# -*- ruby -*-", "_=[ -x x ] && exec x", "=begin", "...", "=end", "#!/opt/ruby/bin/ruby", "puts 1"])).toBe(6)
    expect(rubyShebangLine(["#!/bin/bash", "echo"])).toBeUndefined()
  })

  it("points a system ruby shebang at `env ruby` (mise), and keeps a ruby from mise's installs", () => {
    expect(rewriteRubyShebang("#!/usr/bin/ruby3.1 -w\nputs 1\n", "/data/installs")).toBe("#!/usr/bin/env ruby\nputs 1\n")
    expect(rewriteRubyShebang("#!/data/installs/ruby/3.3.0/bin/ruby\nputs 1\n", "/data/installs")).toBeUndefined()
    expect(rewriteRubyShebang("#!/usr/bin/env ruby\nputs 1\n", "/data/installs")).toBeUndefined()
  })

  it("writes wrappers that find libexec from their own location, so they hold no host path", () => {
    expect(gemWrapper("rubocop")).toBe(
      "#!/usr/bin/env bash\n" +
        "libexec=\"$(cd -- \"$(dirname -- \"$(readlink -f -- \"${BASH_SOURCE[0]}\")\")/../libexec\" && pwd)\"\n" +
        "GEM_HOME=\"$libexec\" exec \"$libexec/bin/rubocop\" \"$@\"\n"
    )
  })
})

describe("gem backend: versions from the source's versions API (loopback)", () => {
  it("lists versions ascending, one per version across platforms; a full version is taken as written", async () => {
    const b = await backend()
    const ctx = gemContext()
    expect(await runtime.runPromise(b.listVersions(request("hello-gem"), ctx))).toEqual(["1.0.0", "1.10.0", "2.0.0.pre1"])
    expect(await runtime.runPromise(b.resolveVersion!(request("hello-gem", "latest"), ctx))).toBe("1.10.0")
    expect(await runtime.runPromise(b.resolveVersion!(request("hello-gem", "1.0"), ctx))).toBe("1.0.0")
    const hits = server.hits("/source/api/v1/versions/hello-gem.json")
    expect(await runtime.runPromise(b.resolveVersion!(request("hello-gem", "3.2.1"), ctx))).toBe("3.2.1")
    expect(server.hits("/source/api/v1/versions/hello-gem.json")).toBe(hits)
  })

  it("asks the source `gem sources` names (~/.gemrc) when gem.source is not set", async () => {
    const b = await backend()
    const gemrc = path.join(root, "gemrc")
    fs.writeFileSync(gemrc, `---\n:sources:\n- ${server.url}/source/\n`)
    const ctx = testContext(root, { env: { ...process.env, HOME: path.join(root, "home"), GEMRC: gemrc } })
    const hits = server.hits("/source/api/v1/versions/hello-gem.json")
    expect(await runtime.runPromise(b.listVersions(request("hello-gem"), ctx))).toEqual(["1.0.0", "1.10.0", "2.0.0.pre1"])
    expect(server.hits("/source/api/v1/versions/hello-gem.json")).toBe(hits + 1)
  })

  it("says when a gem is not at the source, or the answer is not a versions list", async () => {
    const b = await backend()
    const missing = await runtime.runPromise(Effect.flip(b.listVersions(request("nope"), gemContext())))
    expect(missing.message).toBe(
      `gem:nope@latest: gem nope was not found at ${server.url}/source/ (${server.url}/source/api/v1/versions/nope.json: HTTP 404; ` +
        "a source without the versions API can still install an exact version such as \"1.2.3\")"
    )
    const garbage = await runtime.runPromise(Effect.flip(b.listVersions(request("garbage"), gemContext())))
    expect(garbage.message).toMatch(new RegExp(`^gem:garbage@latest: ${server.url}/source/api/v1/versions/garbage\\.json is not a RubyGems versions list`))
  })
})

describe("gem backend: installs with the real gem", () => {
  it("installs into libexec behind a bin/ wrapper that runs without GEM_HOME, also after the install dir moves", async () => {
    const b = await backend()
    const ctx = gemContext()
    const dir = path.join(root, `install-${n++}`)
    fs.mkdirSync(dir)
    const tool = resolved("hello-gem", "1.0.0")
    await runtime.runPromise(b.install(tool, dir, ctx))
    const files = tree(dir)
    expect(files).toEqual(expect.arrayContaining([
      "d bin",
      "f bin/hello-gem 755",
      "d libexec",
      "f libexec/bin/hello-gem 755",
      "f libexec/cache/hello-gem-1.0.0.gem 644",
      "f libexec/gems/hello-gem-1.0.0/lib/hello_gem.rb 644",
      "f libexec/specifications/hello-gem-1.0.0.gemspec 644"
    ]))
    expect(fs.readFileSync(path.join(dir, "bin", "hello-gem"), "utf8")).toBe(gemWrapper("hello-gem"))
    expect(fs.readFileSync(path.join(dir, "libexec", "bin", "hello-gem"), "utf8").split("\n")[0]).toBe("#!/usr/bin/env ruby")
    expect(await runtime.runPromise(b.binPaths(tool, dir, ctx))).toEqual([path.join(dir, "bin")])
    expect(await runtime.runPromise(b.execEnv(tool, dir, ctx))).toEqual([])
    expect(execFileSync(path.join(dir, "bin", "hello-gem"), { encoding: "utf8", env: bareEnv })).toBe("hello from hello-gem 1.0.0\n")
    // What an image does: the same files under another root.
    const moved = path.join(root, "elsewhere", "installs", "gem-hello-gem", "1.0.0")
    fs.cpSync(dir, moved, { recursive: true, verbatimSymlinks: true })
    fs.rmSync(dir, { recursive: true })
    expect(execFileSync(path.join(moved, "bin", "hello-gem"), { encoding: "utf8", env: bareEnv })).toBe("hello from hello-gem 1.0.0\n")
  })

  it("fails with gem's own words when the version does not exist", async () => {
    const b = await backend()
    const dir = path.join(root, `install-${n++}`)
    fs.mkdirSync(dir)
    const e = await runtime.runPromise(Effect.flip(b.install(resolved("hello-gem", "9.9.9"), dir, gemContext())))
    expect(e.message).toMatch(/^gem:hello-gem@9\.9\.9: gem install failed: `\S*gem install hello-gem --version 9\.9\.9 --install-dir \S+ --clear-sources --source \S+` exited with code 2:\n/)
    expect(e.message).toContain("Could not find a valid gem 'hello-gem' (= 9.9.9)")
  })

  it("explains a missing gem", async () => {
    const b = await backend()
    const dir = path.join(root, `install-${n++}`)
    fs.mkdirSync(dir)
    const e = await runtime.runPromise(Effect.flip(b.install(resolved("rubocop", "1.60.0"), dir, gemContext({ PATH: path.join(root, "empty-bin") }))))
    expect(e.message).toBe(
      "gem:rubocop@1.60.0: gem was not found on PATH. The gem backend installs gems with the real RubyGems: install Ruby " +
        "(it ships gem), e.g. `mise use -g ruby` or your system's package (`apt-get install ruby`), and make sure `gem` is on PATH."
    )
  })
})
