import { NodeContext } from "@effect/platform-node"
import { CommandExecutor } from "@effect/platform"
import { type Backend, cargoInstallFlags, crateSource, Downloader, indexVersions, installStateToml, layerDownloader, makeCargoBackend, packageVersion, sparseIndexPath } from "@engine/backends"
import { Effect, Layer, ManagedRuntime } from "effect"
import { createHash } from "node:crypto"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { tempDir, testContext, tree, toolsOf } from "./support/Context"
import { tarGz } from "./support/Fixtures"
import { startServer, type TestServer } from "./support/Server"

let server: TestServer
let root: string
let runtime: ManagedRuntime.ManagedRuntime<Downloader | CommandExecutor.CommandExecutor, never>
let n = 0

/** A crate with no dependencies whose binary prints its version, and `LOUD` with the `loud` feature. */
const crateFiles = (name: string, version: string): Record<string, string> => ({
  "Cargo.toml": `[package]\nname = "${name}"\nversion = "${version}"\nedition = "2021"\n\n[features]\nloud = []\n`,
  "src/main.rs":
    `fn main() {\n    let msg = format!("hello from ${name} {}", env!("CARGO_PKG_VERSION"));\n` +
    `    if cfg!(feature = "loud") { println!("{}", msg.to_uppercase()) } else { println!("{msg}") }\n}\n`
})

const writeCrate = (dir: string, files: Record<string, string>) => {
  for (const [file, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true })
    fs.writeFileSync(path.join(dir, file), text)
  }
}

const indexLine = (vers: string, cksum: string, yanked = false) =>
  JSON.stringify({ name: "hello-crate", vers, deps: [], cksum, features: {}, yanked })

beforeAll(async () => {
  server = await startServer()
  root = tempDir("cargo")
  runtime = ManagedRuntime.make(Layer.merge(layerDownloader({ retries: 0 }), NodeContext.layer))
  // A sparse registry cargo itself can install from: config.json, the index file, and the .crate tarball.
  const crate = await tarGz(Object.entries(crateFiles("hello-crate", "1.2.0")).map(([name, content]) => ({ name: `hello-crate-1.2.0/${name}`, content })))
  const cksum = createHash("sha256").update(crate).digest("hex")
  server.route("/index/config.json", JSON.stringify({ dl: `${server.url}/dl/{crate}-{version}.crate` }))
  server.route(
    "/index/he/ll/hello-crate",
    [indexLine("1.0.0", cksum), indexLine("1.10.0", cksum, true), indexLine("1.2.0", cksum), indexLine("2.0.0-rc.1", cksum), ""].join("\n")
  )
  server.route("/dl/hello-crate-1.2.0.crate", crate)
  server.route("/index/3/b/bad", "{\"vers\":\"1.0.0\",\"yanked\":false}\nnot json\n")
  server.route("/corp/2/ab", indexLine("0.3.0", cksum))
})
afterAll(async () => {
  await runtime.dispose()
  await server.close()
  fs.rmSync(root, { recursive: true, force: true })
})

const backend = (): Promise<Backend> =>
  runtime.runPromise(Effect.zipWith(Downloader, CommandExecutor.CommandExecutor, makeCargoBackend))

const { request, resolved } = toolsOf("cargo")

/** cargo with its own CARGO_HOME (registry cache, git checkouts) so nothing touches the user's. */
const cargoContext = (settings: Record<string, unknown> = {}, env: Record<string, string> = {}) =>
  testContext(root, {
    settings: { "cargo.index_url": `${server.url}/index/`, ...settings },
    env: { ...process.env, CARGO_HOME: path.join(root, "cargo-home"), CARGO_TARGET_DIR: path.join(root, "target"), ...env }
  })

const freshDir = () => {
  const dir = path.join(root, `install-${n++}`)
  fs.mkdirSync(dir)
  return dir
}

describe("cargo backend: names, index paths, flags", () => {
  it("reads the name as mise does: a crate, a git URL, a GitHub owner/repo; a ./ or / name is a local crate dir", () => {
    expect(crateSource("eza")).toEqual({ kind: "registry", crate: "eza" })
    expect(crateSource("https://github.com/eza-community/eza.git")).toEqual({ kind: "git", url: "https://github.com/eza-community/eza.git" })
    expect(crateSource("file:///srv/git/tool")).toEqual({ kind: "git", url: "file:///srv/git/tool" })
    expect(crateSource("eza-community/eza")).toEqual({ kind: "git", url: "https://github.com/eza-community/eza.git" })
    expect(crateSource("./tools/hello", "/work")).toEqual({ kind: "path", dir: "/work/tools/hello" })
    expect(crateSource("../hello", "/work/app")).toEqual({ kind: "path", dir: "/work/hello" })
    expect(crateSource("/opt/src/hello")).toEqual({ kind: "path", dir: "/opt/src/hello" })
    expect(crateSource("~/src/hello", "/", "/home/me")).toEqual({ kind: "path", dir: "/home/me/src/hello" })
  })

  it("puts crates where the sparse index keeps them, lowercased", () => {
    expect(sparseIndexPath("a")).toBe("1/a")
    expect(sparseIndexPath("Ab")).toBe("2/ab")
    expect(sparseIndexPath("Abc")).toBe("3/a/abc")
    expect(sparseIndexPath("Cargo-Deny")).toBe("ca/rg/cargo-deny")
    expect(sparseIndexPath("")).toBeUndefined()
    expect(sparseIndexPath("aébc")).toBeUndefined()
  })

  it("lists index versions ascending without yanked ones, and points at a line that is not an entry", () => {
    expect(indexVersions("{\"vers\":\"1.10.0\",\"yanked\":false}\n{\"vers\":\"1.2.0\",\"yanked\":false}\n{\"vers\":\"1.3.0\",\"yanked\":true}\n"))
      .toEqual(["1.2.0", "1.10.0"])
    expect(indexVersions("{\"vers\":\"1.0.0\",\"yanked\":false}\n{\"vers\":1}\n")).toEqual({ badLine: 2 })
  })

  it("adds mise's flags in mise's order: --bin, --locked, --features, --no-default-features, the crate", () => {
    const ctx = testContext(root)
    expect(cargoInstallFlags(request("x"), ctx)).toEqual(["--locked"])
    expect(cargoInstallFlags(request("x", "1", { features: ["postgres", "rustls"], "default-features": false, bin: "sqlx", crate: "sqlx-cli" }), ctx))
      .toEqual(["--bin=sqlx", "--locked", "--features=postgres rustls", "--no-default-features", "sqlx-cli"])
    expect(cargoInstallFlags(request("x", "1", { features: "add", locked: "false", "default-features": "true" }), ctx)).toEqual(["--features=add"])
    expect(cargoInstallFlags(request("x", "1", { "platforms.linux-x64.bin": "x-linux", bin: "x" }), ctx)).toEqual(["--bin=x-linux", "--locked"])
  })

  it("records the options as mise's .mise-cargo-install.toml, features sorted and deduplicated", () => {
    const ctx = testContext(root)
    expect(installStateToml(request("x"), ctx)).toBe("features = []\ndefault_features = true\nlocked = true\n")
    expect(installStateToml(request("x", "1", { features: "rustls, postgres rustls", "default-features": false, bin: "sqlx", crate: "sqlx-cli", locked: false }), ctx))
      .toBe("features = [\"postgres\", \"rustls\"]\ndefault_features = false\nbin = \"sqlx\"\ncrate = \"sqlx-cli\"\nlocked = false\n")
  })

  it("reads a crate's own version from its Cargo.toml", () => {
    expect(packageVersion("[package]\nname = \"x\"\nversion = \"0.4.1\"\n[dependencies]\nversion = \"9\"\n")).toBe("0.4.1")
    expect(packageVersion("[dependencies]\nversion = \"9\"\n[package]\nname = \"x\"\nversion.workspace = true\n")).toBeUndefined()
  })
})

describe("cargo backend: versions from a sparse index (loopback)", () => {
  it("lists from cargo.index_url and resolves prefixes to the newest stable match; a full version is taken as written", async () => {
    const b = await backend()
    const ctx = cargoContext()
    expect(await runtime.runPromise(b.listVersions(request("Hello-Crate"), ctx))).toEqual(["1.0.0", "1.2.0", "2.0.0-rc.1"])
    const resolve = (spec: string) => runtime.runPromise(b.resolveVersion!(request("hello-crate", spec), ctx))
    expect(await resolve("latest")).toBe("1.2.0")
    expect(await resolve("1")).toBe("1.2.0")
    const hits = server.hits("/index/he/ll/hello-crate")
    expect(await resolve("=3.1.4")).toBe("3.1.4")
    expect(server.hits("/index/he/ll/hello-crate")).toBe(hits)
    const e = await runtime.runPromise(Effect.flip(b.resolveVersion!(request("hello-crate", "3"), ctx)))
    expect(e.message).toBe("cargo:hello-crate@3: no version matches (available: 1.0.0, 1.2.0, 2.0.0-rc.1)")
  })

  it("uses the index cargo has for mise's cargo.registry_name (CARGO_REGISTRIES_<NAME>_INDEX)", async () => {
    const b = await backend()
    const ctx = cargoContext({ "cargo.index_url": undefined, "cargo.registry_name": "my-corp" }, {
      CARGO_REGISTRIES_MY_CORP_INDEX: `sparse+${server.url}/corp/`
    })
    expect(await runtime.runPromise(b.listVersions(request("ab"), ctx))).toEqual(["0.3.0"])
    const unset = await runtime.runPromise(Effect.flip(b.listVersions(request("ab"), cargoContext({ "cargo.index_url": undefined, "cargo.registry_name": "my-corp" }))))
    expect(unset.message).toBe(
      "cargo:ab@latest: cargo.registry_name is \"my-corp\" but CARGO_REGISTRIES_MY_CORP_INDEX is not set, so the engine cannot tell " +
        "where that registry's index is: set CARGO_REGISTRIES_MY_CORP_INDEX=sparse+https://… (cargo reads it too) or the setting cargo.index_url"
    )
    const git = await runtime.runPromise(Effect.flip(b.listVersions(request("ab"), cargoContext({ "cargo.index_url": undefined, "cargo.registry_name": "my-corp" }, {
      CARGO_REGISTRIES_MY_CORP_INDEX: "https://git.example.com/index.git"
    }))))
    expect(git.message).toContain("CARGO_REGISTRIES_MY_CORP_INDEX is https://git.example.com/index.git, a git index")
  })

  it("says when a crate is not in the index, or the index file is not one", async () => {
    const b = await backend()
    const missing = await runtime.runPromise(Effect.flip(b.listVersions(request("nope"), cargoContext())))
    expect(missing.message).toBe(`cargo:nope@latest: crate nope was not found in the index ${server.url}/index/ (${server.url}/index/no/pe/nope: HTTP 404)`)
    const bad = await runtime.runPromise(Effect.flip(b.listVersions(request("bad"), cargoContext())))
    expect(bad.message).toBe(`cargo:bad@latest: ${server.url}/index/3/b/bad is not a sparse index file: line 2 is not a {"vers", "yanked"} entry`)
    const invalid = await runtime.runPromise(Effect.flip(b.listVersions(request("aébc"), cargoContext())))
    expect(invalid.message).toBe("cargo:aébc@latest: invalid Cargo crate name: \"aébc\"")
  })

  it("lists HEAD for a git source and takes tag:/branch:/rev: as written; other versions are refused as mise does", async () => {
    const b = await backend()
    const ctx = cargoContext()
    const git = "https://github.com/eza-community/eza.git"
    expect(await runtime.runPromise(b.listVersions(request(git), ctx))).toEqual(["HEAD"])
    expect(await runtime.runPromise(b.resolveVersion!(request(git, "latest"), ctx))).toBe("HEAD")
    expect(await runtime.runPromise(b.resolveVersion!(request(git, "tag:v0.18.0"), ctx))).toBe("tag:v0.18.0")
    expect(await runtime.runPromise(b.resolveVersion!(request("eza-community/eza", "rev:abc123"), ctx))).toBe("rev:abc123")
    const e = await runtime.runPromise(Effect.flip(b.resolveVersion!(request(git, "0.18"), ctx)))
    expect(e.message).toContain(`cargo:${git}@0.18: invalid cargo git version: 0.18. Give "HEAD", "tag:<tag>", "branch:<branch>" or "rev:<commit>"`)
  })
})

describe("cargo backend: installs with the real cargo", () => {
  it("installs a crate from the loopback sparse registry; the binary runs from <install>/bin", async () => {
    const b = await backend()
    const ctx = cargoContext()
    const dir = freshDir()
    const tool = resolved("hello-crate", "1.2.0")
    await runtime.runPromise(b.install(tool, dir, ctx))
    expect(tree(dir)).toEqual([
      "f .crates.toml 644",
      "f .crates2.json 644",
      "f .mise-cargo-install.toml 644",
      "d bin",
      "f bin/hello-crate 755"
    ])
    expect(fs.readFileSync(path.join(dir, ".crates.toml"), "utf8")).toContain(`"hello-crate 1.2.0 (sparse+${server.url}/index/)"`)
    expect(await runtime.runPromise(b.binPaths(tool, dir, ctx))).toEqual([path.join(dir, "bin")])
    expect(await runtime.runPromise(b.execEnv(tool, dir, ctx))).toEqual([])
    expect(execFileSync(path.join(dir, "bin", "hello-crate"), { encoding: "utf8", env: {} })).toBe("hello from hello-crate 1.2.0\n")
  })

  it("builds a git source at a tag with features (cargo install --git --tag --features)", async () => {
    const repo = path.join(root, "git-crate")
    writeCrate(repo, crateFiles("git-crate", "0.2.0"))
    const git = (...args: Array<string>) => execFileSync("git", args, { cwd: repo, stdio: "pipe", env: { ...process.env, GIT_CONFIG_GLOBAL: "/dev/null" } })
    git("init", "-q", "-b", "main")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "-m", "v0.2.0")
    git("tag", "v0.2.0")
    const b = await backend()
    const ctx = cargoContext()
    const name = `file://${repo}`
    const version = await runtime.runPromise(b.resolveVersion!(request(name, "tag:v0.2.0"), ctx))
    const dir = freshDir()
    await runtime.runPromise(b.install(resolved(name, version, { features: ["loud"] }), dir, ctx))
    expect(execFileSync(path.join(dir, "bin", "git-crate"), { encoding: "utf8", env: {} })).toBe("HELLO FROM GIT-CRATE 0.2.0\n")
    expect(fs.readFileSync(path.join(dir, ".mise-cargo-install.toml"), "utf8")).toBe("features = [\"loud\"]\ndefault_features = true\nlocked = true\n")
  })

  it("installs a local crate dir at the version its Cargo.toml names", async () => {
    const src = path.join(root, "path-crate")
    writeCrate(src, crateFiles("path-crate", "0.4.1"))
    const b = await backend()
    const ctx = cargoContext({}, { CARGO_NET_OFFLINE: "true" })
    expect(await runtime.runPromise(b.listVersions(request(src), ctx))).toEqual(["0.4.1"])
    expect(await runtime.runPromise(b.resolveVersion!(request(src, "latest"), ctx))).toBe("0.4.1")
    const e = await runtime.runPromise(Effect.flip(b.resolveVersion!(request(src, "1"), ctx)))
    expect(e.message).toBe(`cargo:${src}@1: no version matches (available: 0.4.1)`)
    const dir = freshDir()
    await runtime.runPromise(b.install(resolved(src, "0.4.1", { bin: "path-crate" }), dir, ctx))
    expect(execFileSync(path.join(dir, "bin", "path-crate"), { encoding: "utf8", env: {} })).toBe("hello from path-crate 0.4.1\n")
    const none = await runtime.runPromise(Effect.flip(b.listVersions(request(path.join(root, "no-crate")), ctx)))
    expect(none.message).toMatch(new RegExp(`^cargo:${root}/no-crate@latest: the crate dir ${root}/no-crate has no readable Cargo.toml`))
  })

  it("fails with cargo's own words when the install fails", async () => {
    const b = await backend()
    const e = await runtime.runPromise(Effect.flip(b.install(resolved("hello-crate", "9.9.9"), freshDir(), cargoContext())))
    expect(e.message).toMatch(/^cargo:hello-crate@9\.9\.9: cargo install failed: `\S*cargo install hello-crate@9\.9\.9 --index=sparse\+http:\/\/127\.0\.0\.1:\d+\/index\/ --locked --root \S+` exited with code 101:\n/)
    expect(e.message).toContain("could not find `hello-crate` in registry")
  })

  it("explains a missing cargo: the tool, the spec and how to get it", async () => {
    const b = await backend()
    const home = path.join(root, "empty-home")
    const ctx = testContext(root, { env: { PATH: path.join(root, "empty-bin"), HOME: home } })
    const e = await runtime.runPromise(Effect.flip(b.install(resolved("eza", "0.18.0"), freshDir(), ctx)))
    expect(e.message).toBe(
      "cargo:eza@0.18.0: cargo was not found on PATH (nor in $CARGO_HOME/bin or ~/.cargo/bin). The cargo backend builds crates " +
        "with the real cargo: install Rust with rustup (https://rustup.rs), your system's package (`apt-get install cargo`) or " +
        "`mise use -g rust`, and make sure `cargo` is on PATH."
    )
  })
})
