import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { engine } from "./support/Cli"
import { makeHelloTool, put } from "./support/Fixtures"
import { type FixtureServer, startFixtureServer } from "./support/FixtureServer"

let work: string
let server: FixtureServer
/** A PATH with none of the ecosystems' tools on it (node itself is run by absolute path). */
let bareBin: string

const env = (name: string, extra: Record<string, string> = {}) => ({
  ENGINE_DATA_DIR: path.join(work, `data-${name}`),
  ENGINE_CACHE_DIR: path.join(work, `cache-${name}`),
  HOME: path.join(work, "home"),
  SOURCE_DATE_EPOCH: "1700000000",
  PATH: bareBin,
  ...extra
})

const project = (name: string, toml: string): string => {
  const dir = path.join(work, name)
  put(path.join(dir, "mise.toml"), toml.replaceAll("URL", server.url))
  return dir
}

const HELLO = `"http:hello" = { version = "1.0.0", url = "URL/hello-{{ version }}.tar.gz", bin_path = "bin", strip_components = 1 }`

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), "engine-toolchains-"))
  fs.mkdirSync(path.join(work, "home"))
  bareBin = path.join(work, "bare-bin")
  fs.mkdirSync(bareBin)
  const dist = path.join(work, "dist")
  fs.mkdirSync(dist)
  makeHelloTool(dist, "1.0.0")
  server = await startFixtureServer(dist)
})

afterAll(async () => {
  await server.close()
  fs.rmSync(work, { recursive: true, force: true })
})

const helloInstall = (name: string) => path.join(work, `data-${name}`, "installs", "http-hello", "1.0.0")

describe("a missing toolchain stops the build before any install", () => {
  it("engine install names cargo, the spec needing it and how to get it; the http tool is not installed", async () => {
    const dir = project("cargo-install", `[tools]\n${HELLO}\n"cargo:ripgrep" = "14.1.0"\n`)
    const r = await engine(["install"], { cwd: dir, env: env("cargo-install") })
    expect(r.code, r.stderr).toBe(4)
    expect(r.stderr).toContain("cannot install cargo:ripgrep: a program they need is not on PATH; nothing was installed.")
    expect(r.stderr).toMatch(/`cargo` \(needed by cargo:ripgrep\): install Rust with rustup \(https:\/\/rustup\.rs\)/)
    expect(r.stderr).not.toContain("installing http:hello")
    expect(fs.existsSync(helloInstall("cargo-install"))).toBe(false)
  })

  it("engine build names every missing program at once and installs nothing", async () => {
    const dir = project(
      "many-build",
      `[tools]\n${HELLO}\n"cargo:ripgrep" = "14.1.0"\n"go:example.com/tool" = "1.2.3"\n"cargo:eza" = "0.18.0"\n"pipx:black" = "24.1.0"\n`
    )
    const r = await engine(["build", "--from", "scratch", "--no-mise", "-o", "out"], { cwd: dir, env: env("many-build") })
    expect(r.code, r.stderr).toBe(4)
    expect(r.stderr).toContain(
      "cannot install cargo:ripgrep, cargo:eza, go:example.com/tool, pipx:black: programs they need are not on PATH; nothing was installed."
    )
    expect(r.stderr).toContain("`cargo` (needed by cargo:ripgrep, cargo:eza): install Rust with rustup")
    expect(r.stderr).toContain("`go` (needed by go:example.com/tool): install Go")
    expect(r.stderr).toContain("`pipx` or `uv` (needed by pipx:black): install pipx (`apt-get install pipx`")
    expect(fs.existsSync(helloInstall("many-build"))).toBe(false)
    expect(fs.existsSync(path.join(dir, "out"))).toBe(false)
  })

  it("cargo in ~/.cargo/bin (rustup, not yet on PATH) is enough, as the cargo backend runs it from there", async () => {
    const home = path.join(work, "rustup-home")
    put(path.join(home, ".cargo", "bin", "cargo"), "#!/bin/sh\nexit 1\n", 0o755)
    const dir = project("rustup", `[tools]\n${HELLO}\n"cargo:ripgrep" = "14.1.0"\n`)
    const r = await engine(["install"], { cwd: dir, env: env("rustup", { HOME: home }) })
    // The stand-in cargo fails the install itself: the preflight let it through.
    expect(r.stderr).not.toContain("not on PATH")
    expect(r.stderr).toContain("cargo install failed")
  })

  it("a tool already installed needs no toolchain", async () => {
    const dir = project("installed", `[tools]\n"cargo:ripgrep" = "14.1.0"\n`)
    const installDir = path.join(work, "data-installed", "installs", "cargo-ripgrep", "14.1.0")
    put(path.join(installDir, "bin", "rg"), "#!/bin/sh\necho rg\n", 0o755)
    const r = await engine(["build", "--from", "scratch", "--no-mise", "-o", "out"], { cwd: dir, env: env("installed") })
    expect(r.code, r.stderr).toBe(0)
  })
})
