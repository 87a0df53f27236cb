import {
  type Backend,
  compareCondaVersions,
  condaChannelUrl,
  condaIndex,
  condaLauncherScript,
  condaReplacePrefix,
  condaSolve,
  condaVirtualPackages,
  Downloader,
  layerDownloader,
  makeCondaBackend,
  parseCondaVersion,
  parseMatchSpec,
  resolveFromList,
  specMatches
} from "@engine/backends"
import { Effect, ManagedRuntime } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { fileNameOf, LEGACY_PLACEHOLDER, PLACEHOLDER, typicalPackages, writeChannel, serveChannel } from "./support/CondaChannel"
import { tempDir, testContext, toolsOf } from "./support/Context"
import { startServer, type TestServer } from "./support/Server"

let server: TestServer
let root: string
let runtime: ManagedRuntime.ManagedRuntime<Downloader, never>
let backend: Backend
let n = 0

const packages = typicalPackages("linux-64")

beforeAll(async () => {
  server = await startServer()
  root = tempDir("conda")
  runtime = ManagedRuntime.make(layerDownloader({ retries: 0 }))
  backend = await runtime.runPromise(Effect.map(Downloader, makeCondaBackend))
  const channel = path.join(root, "channel")
  await writeChannel(channel, packages, root)
  serveChannel(server, "/channel", channel)
  // The same channel with linux-64's listing only as repodata.json.zst, as large channels publish it.
  serveChannel(server, "/zchannel", channel)
  const listing = fs.readFileSync(path.join(channel, "linux-64", "repodata.json"))
  server.route("/zchannel/linux-64/repodata.json", (_req, res) => res.writeHead(500).end("use the .zst"))
  server.route("/zchannel/linux-64/repodata.json.zst", execFileSync("zstd", ["-q", "-c"], { input: listing, maxBuffer: 64 << 20 }))
  server.route("/badzst/linux-64/repodata.json.zst", "not zstd")
})
afterAll(async () => {
  await runtime.dispose()
  await server.close()
  fs.rmSync(root, { recursive: true, force: true })
})

const { request, resolved } = toolsOf("conda")
const ctx = (env: Record<string, string> = {}) =>
  testContext(path.join(root, `ctx-${n++}`), { settings: { "conda.channel": `${server.url}/channel` }, env: { ...process.env, ...env } })

const listVersions = (name: string) => runtime.runPromise(backend.listVersions(request(name), ctx()))
const install = async (name: string, version: string, env: Record<string, string> = {}) => {
  const dir = path.join(root, `install-${n++}`, `conda-${name}`, version)
  fs.mkdirSync(dir, { recursive: true })
  const context = ctx(env)
  await runtime.runPromise(backend.install(resolved(name, version), dir, context))
  return { dir, context }
}
const installError = async (name: string, version: string, env: Record<string, string> = {}) => {
  const dir = path.join(root, `install-${n++}`, `conda-${name}`, version)
  fs.mkdirSync(dir, { recursive: true })
  const e = await runtime.runPromise(Effect.flip(backend.install(resolved(name, version), dir, ctx(env))))
  return { e, dir }
}

describe("conda versions and match specs", () => {
  it("orders versions as conda does", () => {
    const sorted = ["1.0", "1.0.post1", "1.0rc1", "1.0a1", "1.0dev1", "0.9", "1!0.1", "1.0.1", "1.1"].sort((a, b) =>
      compareCondaVersions(parseCondaVersion(a), parseCondaVersion(b)))
    expect(sorted).toEqual(["0.9", "1.0dev1", "1.0a1", "1.0rc1", "1.0", "1.0.post1", "1.0.1", "1.1", "1!0.1"])
    expect(compareCondaVersions(parseCondaVersion("1.1"), parseCondaVersion("1.1.0"))).toBe(0)
  })

  it.each([
    ["hello", "9.9", "h0", true],
    ["hello >=1.2,<2", "1.5", "h0", true],
    ["hello >=1.2,<2", "2.0", "h0", false],
    ["hello >=1.2,<2.0a0", "2.0rc1", "h0", false],
    ["hello 1.2.*", "1.2.7", "h0", true],
    ["hello 1.2.*", "1.20", "h0", false],
    ["hello 1.2", "1.2.0", "h0", true],
    ["hello 1.2", "1.2.1", "h0", false],
    ["hello 1.2 py_0", "1.2", "py_0", true],
    ["hello 1.2 py_0", "1.2", "py_1", false],
    ["python_abi 3.11.* *_cp311", "3.11", "4_cp311", true],
    ["hello >=2|<0.5", "0.4", "h0", true],
    ["hello >=2|<0.5", "1.0", "h0", false],
    ["hello !=1.1", "1.1.0", "h0", false],
    ["hello ~=1.2.3", "1.2.9", "h0", true],
    ["hello ~=1.2.3", "1.3", "h0", false],
    ["hello=1.2", "1.2.5", "h0", true],
    ["hello==1.2=h0", "1.2", "h0", true],
    ["conda-forge::hello >=1", "1.0", "h0", true]
  ])("%s matches %s (%s): %s", (spec, version, build, expected) => {
    const parsed = parseMatchSpec(spec)
    expect(parsed.name).toBe(spec.includes("python_abi") ? "python_abi" : "hello")
    expect(specMatches(parsed, { version, build })).toBe(expected)
  })

  it("refuses specs it cannot read, saying what is wrong", () => {
    expect(() => parseMatchSpec("hello[version='>=1']")).toThrow("match spec \"hello[version='>=1']\" uses [key=value] brackets, which are not supported")
    expect(() => parseMatchSpec("hello >=1 build extra")).toThrow("invalid match spec \"hello >=1 build extra\"")
  })
})

describe("resolving dependencies (pure)", () => {
  const record = (name: string, version: string, depends: ReadonlyArray<string> = [], extra: Record<string, unknown> = {}) =>
    [`${name}-${version}-h0_0.tar.bz2`, { name, version, build: "h0_0", build_number: 0, depends, ...extra }] as const
  const index = (records: ReadonlyArray<readonly [string, Record<string, unknown>]>) =>
    condaIndex([{ subdir: "linux-64", baseUrl: "http://channel/linux-64/", repodata: { packages: Object.fromEntries(records), "packages.conda": {}, removed: [] } }])
  const solved = (records: ReadonlyArray<readonly [string, Record<string, unknown>]>, root: string) => {
    const result = condaSolve(index(records), parseMatchSpec(root), [{ name: "__unix", version: "0", build: "0" }], "the channel")
    return result.ok ? result.packages.map((c) => `${c.record.name} ${c.record.version}`) : `${result.failure.chain.join(" → ")}: ${result.failure.reason}`
  }
  const diamond = [
    record("r", "1.0", ["a", "c"]),
    record("a", "2.0", ["b >=2"]),
    record("a", "1.0", ["b <2"]),
    record("c", "1.0", ["b 1.*"]),
    record("b", "1.5"),
    record("b", "2.5")
  ]

  it("backtracks from the newest build when a later requirement conflicts, dependencies first", () => {
    expect(solved(diamond, "r")).toEqual(["b 1.5", "a 1.0", "c 1.0", "r 1.0"])
    // The same answer whatever order the channel lists its packages in.
    expect(solved([...diamond].reverse(), "r")).toEqual(["b 1.5", "a 1.0", "c 1.0", "r 1.0"])
  })

  it("honours constrains (run_constrained) without installing what they name", () => {
    const records = [record("r", "1.0", ["b", "e"]), record("e", "1.0", [], { constrains: ["b <2", "zz >=9"] }), record("b", "1.5"), record("b", "2.5")]
    expect(solved(records, "r")).toEqual(["b 1.5", "e 1.0", "r 1.0"])
  })

  it("reports the deepest dead end, and needs __unix-like virtual packages from the system", () => {
    expect(solved([record("r", "1.0", ["__unix", "__osx >=11"])], "r")).toBe("r 1.0 (h0_0) → __osx >=11: the virtual package __osx is not available on this system")
    expect(solved([record("r", "1.0", ["x"]), record("x", "1.0", ["y >=2"]), record("y", "1.0")], "r")).toBe(
      "r 1.0 (h0_0) → x 1.0 (h0_0) → y >=2: no build of y matches (the channel has 1.0)"
    )
  })
})

describe("prefix replacement", () => {
  it("replaces every placeholder in a text file", () => {
    const out = condaReplacePrefix(Buffer.from(`a ${PLACEHOLDER}\nb ${PLACEHOLDER}/lib\n`), PLACEHOLDER, "/opt/x", "text")
    expect(out.toString()).toBe("a /opt/x\nb /opt/x/lib\n")
  })

  it("pads binary strings with NULs and keeps the file's length", () => {
    const data = Buffer.from(`\u0000head\u0000${PLACEHOLDER}/lib:${PLACEHOLDER}/x\u0000after\u0000`)
    const out = condaReplacePrefix(data, PLACEHOLDER, "/opt/x", "binary")
    expect(out.length).toBe(data.length)
    const fields = out.toString("latin1").split("\u0000")
    expect(fields.slice(0, 3)).toEqual(["", "head", "/opt/x/lib:/opt/x/x"])
    expect(out.toString("latin1")).toContain("\u0000after\u0000")
  })

  it("refuses a binary replacement longer than the placeholder", () => {
    expect(() => condaReplacePrefix(Buffer.from("/short\u0000"), "/short", "/much/longer/prefix", "binary")).toThrow(
      "the install path /much/longer/prefix (19 bytes) is longer than the package's build prefix (6 bytes), so binary files cannot be patched; use a shorter data dir"
    )
  })

  it("shortens a #! line that the prefix made too long, through env", () => {
    const long = `/${"d".repeat(130)}`
    const out = condaReplacePrefix(Buffer.from(`#!${PLACEHOLDER}/bin/python3 -u\nprint(1)\n`), PLACEHOLDER, long, "text")
    expect(out.toString()).toBe("#!/usr/bin/env python3 -u\nprint(1)\n")
  })
})

describe("conda channels", () => {
  it("takes the channel from the option, else conda.channel / MISE_CONDA_CHANNEL, else conda-forge", () => {
    const base = testContext(root)
    expect(condaChannelUrl(request("x"), base).url).toBe("https://conda.anaconda.org/conda-forge/")
    expect(condaChannelUrl(request("x"), { ...base, settings: { "conda.channel": "bioconda" } }).url).toBe("https://conda.anaconda.org/bioconda/")
    expect(condaChannelUrl(request("x"), { ...base, settings: { "conda.channel": "bioconda" }, env: { MISE_CONDA_CHANNEL: "nvidia" } }).url)
      .toBe("https://conda.anaconda.org/nvidia/")
    expect(condaChannelUrl(request("x", "latest", { channel: "http://127.0.0.1:1/ch" }), base).url).toBe("http://127.0.0.1:1/ch/")
  })

  it("lists a package's versions from the platform's subdir and noarch, in conda's order", async () => {
    expect(await listVersions("hello-conda")).toEqual(["1.0.0", "1.1.0", "2.0.0rc1"])
    expect(await listVersions("hello-data")).toEqual(["1.0.0"])
    expect(server.hits("/channel/linux-64/repodata.json")).toBeGreaterThan(0)
    expect(server.hits("/channel/noarch/repodata.json")).toBeGreaterThan(0)
  })

  it("reads repodata.json.zst when the channel has it, and falls back to repodata.json", async () => {
    const context = testContext(root, { settings: { "conda.channel": `${server.url}/zchannel` } })
    expect(await runtime.runPromise(backend.listVersions(request("hello-conda"), context))).toEqual(["1.0.0", "1.1.0", "2.0.0rc1"])
    expect(server.hits("/zchannel/linux-64/repodata.json.zst")).toBe(1)
    expect(server.hits("/zchannel/linux-64/repodata.json")).toBe(0)
    expect(server.hits("/zchannel/noarch/repodata.json")).toBe(1)
    const broken = testContext(root, { settings: { "conda.channel": `${server.url}/badzst` } })
    const e = await runtime.runPromise(Effect.flip(backend.listVersions(request("x"), broken)))
    expect(e.message).toMatch(new RegExp(`^conda:x@latest: ${server.url}/badzst/linux-64/repodata\\.json\\.zst cannot be read: .*cannot extract: `))
  })

  it("resolves latest to the newest stable version", async () => {
    expect(await Effect.runPromise(resolveFromList("latest", await listVersions("hello-conda")))).toBe("1.1.0")
    expect(await Effect.runPromise(resolveFromList("1.0", await listVersions("hello-conda")))).toBe("1.0.0")
  })

  it("names the channel and subdirs for an unknown package", async () => {
    const e = await runtime.runPromise(Effect.flip(backend.listVersions(request("nope"), ctx())))
    expect(e.message).toBe(`conda:nope@latest: conda package nope was not found in channel ${server.url}/channel/ (linux-64, noarch)`)
    const { e: installing } = await installError("nope", "1.0.0")
    expect(installing.message).toBe(`conda:nope@1.0.0: conda package nope was not found in channel ${server.url}/channel/ (linux-64, noarch)`)
  })

  it("says when the URL is not a channel", async () => {
    const context = testContext(root, { settings: { "conda.channel": `${server.url}/nothing` } })
    const e = await runtime.runPromise(Effect.flip(backend.listVersions(request("x"), context)))
    expect(e.message).toBe(
      `conda:x@latest: ${server.url}/nothing/ is not a conda channel: neither linux-64/repodata.json nor noarch/repodata.json exists there ` +
        "(the channel is set by conda.channel (MISE_CONDA_CHANNEL), default conda-forge)"
    )
  })
})

describe("conda virtual packages", () => {
  it("describes the build machine, with conda's CONDA_OVERRIDE_* variables", () => {
    const names = (env: Record<string, string>) =>
      condaVirtualPackages(testContext(root, { env })).map((v) => `${v.name} ${v.version} ${v.build}`)
    const detected = names({})
    expect(detected[0]).toBe("__unix 0 0")
    expect(detected.find((v) => v.startsWith("__glibc "))).toMatch(/^__glibc \d+\.\d+ 0$/)
    expect(detected.some((v) => v.startsWith("__cuda"))).toBe(false)
    const overridden = names({ CONDA_OVERRIDE_GLIBC: "", CONDA_OVERRIDE_CUDA: "12.4", CONDA_OVERRIDE_ARCHSPEC: "haswell", CONDA_OVERRIDE_LINUX: "5.10" })
    expect(overridden).toEqual(["__unix 0 0", "__linux 5.10 0", "__archspec 1 haswell", "__cuda 12.4 0"])
  })
})

describe("conda install", () => {
  let dir: string
  beforeAll(async () => {
    dir = (await install("hello-conda", "1.1.0")).dir
  })

  it("installs the package and its run dependencies into one prefix, newest fitting builds, .conda over .tar.bz2", () => {
    expect(fs.readdirSync(path.join(dir, "bin")).sort()).toEqual(["hc", "hello-conda", "hello-dep"])
    expect(fs.readlinkSync(path.join(dir, "bin", "hc"))).toBe("hello-conda")
    expect(fs.readFileSync(path.join(dir, "share/hello-data/data.txt"), "utf8")).toBe(`data for ${dir}\n`)
    expect(fs.existsSync(path.join(dir, "info"))).toBe(false)
    // The prefix as rattler (and so mise) makes it: conda-meta/history marks a conda environment.
    expect(fs.readdirSync(dir).sort()).toEqual([".mise-bins", "CACHEDIR.TAG", "bin", "conda-meta", "etc", "lib", "share"])
    expect(fs.readFileSync(path.join(dir, "conda-meta", "history"), "utf8")).toBe("")
    expect(fs.readFileSync(path.join(dir, "CACHEDIR.TAG"), "utf8")).toMatch(/^Signature: 8a477f597d28d172789f06886806bc55\n/)
    const hello = fileNameOf(packages.find((p) => p.name === "hello-conda" && p.version === "1.1.0" && p.format === "conda")!)
    expect(server.hits(`/channel/linux-64/${hello}`)).toBe(1)
    expect(server.hits("/channel/linux-64/hello-conda-1.1.0-h0_0.tar.bz2")).toBe(0)
    // hello-dep >=2,<3: 2.1.0 (3.0.0 is too new), and of its two builds the higher build number.
    expect(execFileSync(path.join(dir, "bin", "hello-dep"), { encoding: "utf8" })).toBe("hello-dep 2.1.0 h1_1\n")
  })

  it("replaces the build prefix in text and binary files with the install dir", () => {
    expect(fs.readFileSync(path.join(dir, "share/hello-conda/config.txt"), "utf8")).toBe(`installed at ${dir}\nlibs in ${dir}/lib\n`)
    const lib = fs.readFileSync(path.join(dir, "lib/libhello.so"))
    expect(lib.length).toBe(Buffer.byteLength(`\u007fELF\u0002\u0001\u0000RPATH=${PLACEHOLDER}/lib:${PLACEHOLDER}/lib64\u0000tail\u0000`))
    expect(lib.toString("latin1").split("\u0000")[1]).toBe(`RPATH=${dir}/lib:${dir}/lib64`)
    expect(lib.toString("latin1")).not.toContain(LEGACY_PLACEHOLDER)
  })

  it("puts only the package's own commands on PATH, as launchers that activate the prefix", async () => {
    expect(fs.readdirSync(path.join(dir, ".mise-bins")).sort()).toEqual(["hc", "hello-conda"])
    expect(await runtime.runPromise(backend.binPaths(resolved("hello-conda", "1.1.0"), dir, ctx()))).toEqual([path.join(dir, ".mise-bins")])
    expect(await runtime.runPromise(backend.execEnv(resolved("hello-conda", "1.1.0"), dir, ctx()))).toEqual([])
    const out = execFileSync(path.join(dir, ".mise-bins", "hello-conda"), { encoding: "utf8", env: { PATH: "/usr/bin:/bin" }, timeout: 30_000 })
    expect(out).toBe(
      `hello-conda 1.1.0\nCONDA_PREFIX=${fs.realpathSync(dir)} activated=yes\ninstalled at ${dir}\nlibs in ${dir}/lib\nhello-dep 2.1.0 h1_1\n`
    )
  })

  it("writes a launcher that finds its prefix from where it is", () => {
    expect(condaLauncherScript("x")).toContain("exec \"$CONDA_PREFIX/bin/\"'x' \"$@\"")
    const moved = path.join(root, `moved-${n++}`)
    fs.cpSync(dir, moved, { recursive: true, verbatimSymlinks: true })
    const out = execFileSync(path.join(moved, ".mise-bins", "hc"), { encoding: "utf8", env: { PATH: "/usr/bin:/bin" }, timeout: 30_000 })
    expect(out.split("\n")[1]).toBe(`CONDA_PREFIX=${fs.realpathSync(moved)} activated=yes`)
  })
})

describe("conda install failures", () => {
  it("names the chain of packages down to an unsatisfiable dependency", async () => {
    const { e } = await installError("chain-tool", "1.0.0")
    expect(e.message).toBe(
      `conda:chain-tool@1.0.0: cannot install its dependencies from channel ${server.url}/channel/ (linux-64, noarch): ` +
        `chain-tool 1.0.0 (h0_0) → middle 1.0.0 (h0_0) → hello-dep >=9: no build of hello-dep matches (channel ${server.url}/channel/ ` +
        "(linux-64, noarch) has 2.0.0, 2.1.0, 3.0.0)"
    )
  })

  it("names a dependency the channel does not have", async () => {
    const { e } = await installError("missing-dep-tool", "1.0.0")
    expect(e.message).toBe(
      `conda:missing-dep-tool@1.0.0: cannot install its dependencies from channel ${server.url}/channel/ (linux-64, noarch): ` +
        `missing-dep-tool 1.0.0 (h0_0) → nothere >=1: no package named nothere in channel ${server.url}/channel/ (linux-64, noarch)`
    )
  })

  it("checks virtual packages against the system, with CONDA_OVERRIDE_GLIBC honoured", async () => {
    const { e } = await installError("glibc-tool", "1.0.0", { CONDA_OVERRIDE_GLIBC: "2.17" })
    expect(e.message).toBe(
      `conda:glibc-tool@1.0.0: cannot install its dependencies from channel ${server.url}/channel/ (linux-64, noarch): ` +
        "glibc-tool 1.0.0 (h0_0) → __glibc >=2.28: this system has __glibc 2.17"
    )
    const { dir } = await install("glibc-tool", "1.0.0", { CONDA_OVERRIDE_GLIBC: "2.39" })
    expect(fs.existsSync(path.join(dir, ".mise-bins", "glibc-tool"))).toBe(true)
  })

  it("refuses a package whose sha256 does not match the repodata", async () => {
    const { e, dir } = await installError("bad-sum", "1.0.0")
    expect(e.message).toMatch(
      new RegExp(`^conda:bad-sum@1\\.0\\.0: checksum mismatch for ${server.url}/channel/linux-64/bad-sum-1\\.0\\.0-h0_0\\.conda: expected sha256:[0-9a-f]{64}, got sha256:[0-9a-f]{64}$`)
    )
    expect(fs.readdirSync(dir)).toEqual([])
  })

})

describe("noarch: python packages", () => {
  it("go into the python's site-packages, with their entry points as scripts on PATH", async () => {
    const { dir } = await install("py-tool", "1.0.0")
    expect(fs.existsSync(path.join(dir, "lib/python3.11/site-packages/py_tool/cli.py"))).toBe(true)
    expect(fs.existsSync(path.join(dir, "site-packages"))).toBe(false)
    const script = fs.readFileSync(path.join(dir, "bin", "py-tool"), "utf8")
    expect(script.split("\n").slice(0, 6)).toEqual([`#!${dir}/bin/python3.11`, "# -*- coding: utf-8 -*-", "import re", "import sys", "", "from py_tool.cli import main"])
    expect(fs.readdirSync(path.join(dir, ".mise-bins"))).toEqual(["py-tool"])
    const out = execFileSync(path.join(dir, ".mise-bins", "py-tool"), { encoding: "utf8", env: { PATH: "/usr/bin:/bin" }, timeout: 30_000 })
    expect(out).toBe("py-tool says hi\n")
  })
})
