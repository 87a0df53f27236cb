import { NodeContext } from "@effect/platform-node"
import { CommandExecutor } from "@effect/platform"
import { type Backend, Downloader, indexUrlOfRegistry, isPep440Prerelease, layerDownloader, makePipxBackend, normalizePackageName, pipIndexUrl, pipxRequirement, pipxSource, pypiVersions, simpleIndexVersions, versionFromDistribution } from "@engine/backends"
import { Effect, Layer, ManagedRuntime } from "effect"
import { createHash } from "node:crypto"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { tempDir, testContext, toolsOf } from "./support/Context"
import { wheel } from "./support/Fixtures"
import { startServer, type TestServer } from "./support/Server"

let server: TestServer
let root: string
let runtime: ManagedRuntime.ManagedRuntime<Downloader | CommandExecutor.CommandExecutor, never>
let n = 0

const WHEELS = ["1.0.0", "1.1.0", "1.2.0b1"]

beforeAll(async () => {
  server = await startServer()
  root = tempDir("pipx")
  runtime = ManagedRuntime.make(Layer.merge(layerDownloader({ retries: 0 }), NodeContext.layer))
  const links = WHEELS.map((v) => {
    const bytes = wheel("hellopy", v)
    server.route(`/files/hellopy-${v}-py3-none-any.whl`, bytes)
    return `<a href="/files/hellopy-${v}-py3-none-any.whl#sha256=${createHash("sha256").update(bytes).digest("hex")}">hellopy-${v}-py3-none-any.whl</a>`
  })
  const page = `<!DOCTYPE html><html><body>\n${links.join("<br/>\n")}\n<a href='../../files/HelloPy-0.9.0.tar.gz'>sdist</a></body></html>`
  // pip reads a simple page only when it says it is HTML.
  server.route("/simple/hellopy/", (_req, res) => res.writeHead(200, { "content-type": "text/html" }).end(page))
  server.route(
    "/pypi/hellopy/json",
    JSON.stringify({
      info: { name: "hellopy" },
      releases: {
        "0.9.0": [{ yanked: false }],
        "1.0.0": [{ yanked: false }],
        "1.1.0": [{ yanked: false, upload_time: "2024-01-01T00:00:00" }],
        "1.2.0b1": [{ yanked: false }],
        "1.3.0": [{ yanked: true, yanked_reason: "broken" }],
        "1.4.0": []
      }
    })
  )
  server.route("/pypi/garbage/json", "{\"releases\": 1}")
})
afterAll(async () => {
  await runtime.dispose()
  await server.close()
  fs.rmSync(root, { recursive: true, force: true })
})

const backend = (): Promise<Backend> =>
  runtime.runPromise(Effect.zipWith(Downloader, CommandExecutor.CommandExecutor, makePipxBackend))

const { request, resolved } = toolsOf("pipx")

/** No pip config of the user's, a temp HOME; the registry setting points at the loopback JSON API. */
const pipxContext = (settings: Record<string, unknown> = {}, env: Record<string, string | undefined> = {}) =>
  testContext(root, {
    settings: { "pipx.registry_url": `${server.url}/pypi/{}/json`, ...settings },
    env: { ...process.env, HOME: path.join(root, "home"), PIP_CONFIG_FILE: "/dev/null", PIP_INDEX_URL: undefined, ...env }
  })

const freshDir = () => {
  const dir = path.join(root, `install-${n++}`)
  fs.mkdirSync(dir)
  return dir
}

describe("pipx backend: names, indexes, requirements", () => {
  it("reads the name as mise does: PyPI, owner/repo on GitHub, git+<url>.git", () => {
    expect(pipxSource("black")).toEqual({ kind: "pypi", pkg: "black" })
    expect(pipxSource("psf/black")).toEqual({ kind: "git", url: "https://github.com/psf/black" })
    expect(pipxSource("git+https://gitlab.com/a/b.git")).toEqual({ kind: "git", url: "https://gitlab.com/a/b" })
  })

  it("reads versions out of wheel and sdist names and simple pages; PEP 440 pre-releases are marked", () => {
    expect(normalizePackageName("Hello_Py.Tool")).toBe("hello-py-tool")
    expect(versionFromDistribution("hello-py", "hello_py-1.0.0-py3-none-any.whl")).toBe("1.0.0")
    expect(versionFromDistribution("hello-py", "Hello.Py-2.0.tar.gz")).toBe("2.0")
    expect(versionFromDistribution("hello-py", "other-1.0.0-py3-none-any.whl")).toBeUndefined()
    expect(simpleIndexVersions("hellopy", "<a href=\"x/hellopy-1.10.0-py3-none-any.whl#sha256=a\">a</a><a HREF='hellopy-1.2.0.tar.gz'>b</a>"))
      .toEqual(["1.2.0", "1.10.0"])
    expect(["3.12.0a1", "1.0rc2", "2.0b1", "1.0.dev0"].map(isPep440Prerelease)).toEqual([true, true, true, true])
    expect(["1.0.0", "24.3.0", "1.0.post1"].map(isPep440Prerelease)).toEqual([false, false, false])
  })

  it("keeps releases with a file that is not yanked", () => {
    expect(pypiVersions({ releases: { "1.0": [{ yanked: false }], "1.1": [{ yanked: "bad" }], "1.2": [], "1.3": [{ yanked: true }, { yanked: null }] } }))
      .toEqual(["1.0", "1.3"])
  })

  it("derives the install index from the registry URL as mise does", () => {
    expect(indexUrlOfRegistry("https://pypi.org/pypi/{}/json")).toBe("https://pypi.org/simple")
    expect(indexUrlOfRegistry("https://pypi.org/simple/{}/")).toBe("https://pypi.org/simple")
    expect(indexUrlOfRegistry("https://corp.example/pypi/{}/json")).toBe("https://corp.example/simple")
    expect(indexUrlOfRegistry("https://corp.example/api/{}/json")).toBe("https://corp.example/api/simple")
    expect(indexUrlOfRegistry("https://corp.example/repo/{}")).toBe("https://corp.example/repo/simple")
  })

  it("reads pip's index-url: PIP_INDEX_URL, then config files with [install] over [global]", async () => {
    const conf = path.join(root, "pip.conf")
    fs.writeFileSync(conf, "[global]\nindex-url = https://global.example/simple\n[install]\nindex_url=https://install.example/simple\n")
    const home = path.join(root, "pip-home")
    expect(await Effect.runPromise(pipIndexUrl({ HOME: home, PIP_CONFIG_FILE: conf }))).toBe("https://install.example/simple")
    expect(await Effect.runPromise(pipIndexUrl({ HOME: home, PIP_CONFIG_FILE: conf, PIP_INDEX_URL: "https://env.example/simple" })))
      .toBe("https://env.example/simple")
    fs.mkdirSync(path.join(home, ".config", "pip"), { recursive: true })
    fs.writeFileSync(path.join(home, ".config", "pip", "pip.conf"), "[global]\nindex-url: https://user.example/simple\n")
    expect(await Effect.runPromise(pipIndexUrl({ HOME: home }))).toBe("https://user.example/simple")
    expect(await Effect.runPromise(pipIndexUrl({ HOME: home, PIP_CONFIG_FILE: "/dev/null" }))).toBeUndefined()
  })

  it("writes the requirement as mise does for uv and pipx, with extras", () => {
    expect(pipxRequirement(request("black"), "24.3.0", "pipx")).toBe("black==24.3.0")
    expect(pipxRequirement(request("black", "latest", { extras: ["jupyter", "d"] }), "latest", "uv")).toBe("black[jupyter,d]")
    expect(pipxRequirement(request("psf/black"), "24.3.0", "pipx")).toBe("git+https://github.com/psf/black.git@24.3.0")
    const extras = request("owner/repository", "v1", { extras: "feature", package_name: "distribution" })
    expect(pipxRequirement(extras, "v1", "uv")).toBe("distribution[feature] @ git+https://github.com/owner/repository.git@v1")
    expect(pipxRequirement(extras, "v1", "pipx")).toBe("git+https://github.com/owner/repository.git@v1#egg=distribution[feature]")
  })
})

describe("pipx backend: versions (loopback JSON API and simple index)", () => {
  it("lists the JSON API without yanked or file-less releases; latest is the newest stable", async () => {
    const b = await backend()
    const ctx = pipxContext()
    expect(await runtime.runPromise(b.listVersions(request("hellopy"), ctx))).toEqual(["0.9.0", "1.0.0", "1.1.0", "1.2.0b1"])
    expect(await runtime.runPromise(b.resolveVersion!(request("hellopy", "latest"), ctx))).toBe("1.1.0")
    expect(await runtime.runPromise(b.resolveVersion!(request("hellopy", "1.2.0b1"), ctx))).toBe("1.2.0b1")
    expect(await runtime.runPromise(b.resolveVersion!(request("hellopy", "0"), ctx))).toBe("0.9.0")
    const e = await runtime.runPromise(Effect.flip(b.resolveVersion!(request("hellopy", "3"), ctx)))
    expect(e.message).toBe("pipx:hellopy@3: no version matches (available: 0.9.0, 1.0.0, 1.1.0)")
  })

  it("lists a simple index from the setting, the tool's registry_url, or pip's index-url", async () => {
    const b = await backend()
    const simple = ["0.9.0", "1.0.0", "1.1.0", "1.2.0b1"]
    expect(await runtime.runPromise(b.listVersions(request("HelloPy"), pipxContext({ "pipx.registry_url": `${server.url}/simple/{}/` })))).toEqual(simple)
    const option = request("hellopy", "latest", { registry_url: `${server.url}/simple/{}/` })
    expect(await runtime.runPromise(b.listVersions(option, pipxContext({ "pipx.registry_url": "https://unused.example/{}" })))).toEqual(simple)
    const hits = server.hits("/simple/hellopy/")
    const fromPip = pipxContext({ "pipx.registry_url": undefined }, { PIP_INDEX_URL: `${server.url}/simple/` })
    expect(await runtime.runPromise((await backend()).listVersions(request("hellopy"), fromPip))).toEqual(simple)
    expect(server.hits("/simple/hellopy/")).toBe(hits + 1)
  })

  it("refuses a registry URL without {} and says when a package is missing or the answer is not a project", async () => {
    const b = await backend()
    const bad = await runtime.runPromise(Effect.flip(b.resolveVersion!(request("hellopy", "1.0.0"), pipxContext({ "pipx.registry_url": "https://pypi.example/simple" }))))
    expect(bad.message).toBe(
      "pipx:hellopy@1.0.0: registry URL https://pypi.example/simple must be an http(s) URL with a {} placeholder for the package name " +
        "(the URL is set by pipx.registry_url)"
    )
    const missing = await runtime.runPromise(Effect.flip(b.listVersions(request("nope"), pipxContext())))
    expect(missing.message).toBe(`pipx:nope@latest: package nope was not found in the index (${server.url}/pypi/nope/json: HTTP 404)`)
    const garbage = await runtime.runPromise(Effect.flip(b.listVersions(request("garbage"), pipxContext())))
    expect(garbage.message).toMatch(new RegExp(`^pipx:garbage@latest: ${server.url}/pypi/garbage/json is not a PyPI JSON project document`))
  })

  it("takes a git source's version as written", async () => {
    const b = await backend()
    expect(await runtime.runPromise(b.listVersions(request("psf/black"), pipxContext()))).toEqual([])
    expect(await runtime.runPromise(b.resolveVersion!(request("psf/black", "24.3.0"), pipxContext()))).toBe("24.3.0")
  })
})

describe("pipx backend: installs", () => {
  it("pipx installs the wheel from the loopback index into its own venv; the console script runs from <install>/bin", async () => {
    const b = await backend()
    const ctx = pipxContext({ "pipx.uvx": false })
    const dir = freshDir()
    const tool = resolved("hellopy", "1.0.0", { pipx_args: "--pip-args=--no-cache-dir" })
    await runtime.runPromise(b.install(tool, dir, ctx))
    expect(execFileSync(path.join(dir, "bin", "hellopy"), { encoding: "utf8", env: { PATH: "/usr/bin:/bin" } })).toBe("hello from hellopy 1.0.0\n")
    expect(await runtime.runPromise(b.binPaths(tool, dir, ctx))).toEqual([path.join(dir, "bin")])
    expect(await runtime.runPromise(b.execEnv(tool, dir, ctx))).toEqual([])
    // What the image layer has to relocate: links and paths that name the host install dir or the host python.
    const venv = path.join(dir, "venvs", "hellopy")
    expect(fs.readlinkSync(path.join(dir, "bin", "hellopy"))).toBe(path.join(venv, "bin", "hellopy"))
    expect(fs.readFileSync(path.join(venv, "bin", "hellopy"), "utf8").split("\n")[0]).toBe(`#!${venv}/bin/python`)
    expect(path.isAbsolute(fs.readlinkSync(path.join(venv, "bin", "python3")))).toBe(true)
    expect(fs.readFileSync(path.join(venv, "pyvenv.cfg"), "utf8")).toMatch(/^home = \/\S+\n[\s\S]*command = \S+ -m venv .*\S*venvs\/hellopy\n$/)
    expect(fs.readFileSync(path.join(venv, "lib", fs.readdirSync(path.join(venv, "lib"))[0]!, "site-packages", "pipx_shared.pth"), "utf8"))
      .toContain(path.join(dir, "shared"))
  })

  it("runs `uv tool install` when uv is on PATH, with the tool dir, bin dir and index (a stand-in uv records them)", async () => {
    const fakeBin = path.join(root, "fake-uv")
    fs.mkdirSync(fakeBin, { recursive: true })
    fs.writeFileSync(
      path.join(fakeBin, "uv"),
      "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$UV_TOOL_DIR/args\"\nenv | grep '^UV_' | sort > \"$UV_TOOL_DIR/env\"\n" +
        "mkdir -p \"$UV_TOOL_BIN_DIR\" && printf '#!/bin/sh\\necho stand-in\\n' > \"$UV_TOOL_BIN_DIR/hellopy\" && chmod +x \"$UV_TOOL_BIN_DIR/hellopy\"\n",
      { mode: 0o755 }
    )
    const b = await backend()
    const dir = freshDir()
    const ctx = pipxContext({}, { PATH: `${fakeBin}:${process.env.PATH}` })
    await runtime.runPromise(b.install(resolved("hellopy", "1.0.0", { extras: "cli", uvx_args: "--with 'rich>=13'" }), dir, ctx))
    expect(fs.readFileSync(path.join(dir, "args"), "utf8")).toBe("tool\ninstall\nhellopy[cli]==1.0.0\n--with\nrich>=13\n")
    expect(fs.readFileSync(path.join(dir, "env"), "utf8")).toBe(
      `UV_DEFAULT_INDEX=${server.url}/simple\nUV_TOOL_BIN_DIR=${dir}/bin\nUV_TOOL_DIR=${dir}\n`
    )
    const e = await runtime.runPromise(Effect.flip(b.install(resolved("hellopy", "1.0.0", { uvx: "false" }), freshDir(), pipxContext({}, { PATH: fakeBin }))))
    expect(e.message).toBe(
      "pipx:hellopy@1.0.0: pipx was not found on PATH, and uv may not be used for this tool (`uvx = false` or the pipx.uvx setting). " +
        "The pipx backend installs with the real tools: install pipx (`apt-get install pipx`, `pip install --user pipx` or `mise use -g pipx`), " +
        "and make sure it is on PATH."
    )
  })

  it("fails with pipx's own words when the version does not exist", async () => {
    const b = await backend()
    const e = await runtime.runPromise(Effect.flip(b.install(resolved("hellopy", "9.9.9"), freshDir(), pipxContext({ "pipx.uvx": false }))))
    expect(e.message).toMatch(/^pipx:hellopy@9\.9\.9: pipx install failed: `\S*pipx install hellopy==9\.9\.9` exited with code 1:\n/)
    expect(e.message).toContain("hellopy==9.9.9")
  })

  it("explains when neither uv nor pipx is there", async () => {
    const b = await backend()
    const e = await runtime.runPromise(Effect.flip(b.install(resolved("black", "24.3.0"), freshDir(), pipxContext({}, { PATH: path.join(root, "empty-bin") }))))
    expect(e.message).toBe(
      "pipx:black@24.3.0: neither uv nor pipx was found on PATH. The pipx backend installs with the real tools: install pipx " +
        "(`apt-get install pipx`, `pip install --user pipx` or `mise use -g pipx`) or uv (`mise use -g uv`, then `uv tool install` is used), " +
        "and make sure it is on PATH."
    )
  })
})
