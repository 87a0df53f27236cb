import { NodeContext } from "@effect/platform-node"
import { CommandExecutor } from "@effect/platform"
import { type Backend, Downloader, encodeModulePath, layerDownloader, makeGoModuleBackend, matchesGoPatterns, modulePathCandidates, parseGoproxy } from "@engine/backends"
import { Effect, Layer, ManagedRuntime } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { tempDir, testContext, tree, toolsOf } from "./support/Context"
import { zipBytes } from "./support/Fixtures"
import { startServer, type TestServer } from "./support/Server"

let server: TestServer
let root: string
let runtime: ManagedRuntime.ManagedRuntime<Downloader | CommandExecutor.CommandExecutor, never>
let n = 0

const MODULE = "example.com/hello"

/** A real module: `hello` at the root, `cmd/hi` below it, which shouts when built with `-tags loud`. */
const moduleFiles = (version: string): Record<string, string> => ({
  "go.mod": `module ${MODULE}\n\ngo 1.19\n`,
  "main.go": `package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello from ${MODULE} ${version}") }\n`,
  "cmd/hi/main.go": `package main\n\nimport "fmt"\n\nvar greeting = "hi from ${version}"\n\nfunc main() { fmt.Println(greeting) }\n`,
  "cmd/hi/loud.go": `//go:build loud\n\npackage main\n\nfunc init() { greeting = "HI FROM ${version}" }\n`
})

/** The GOPROXY protocol's files for one version: `.info`, `.mod`, and the zip with every path under `<module>@<version>/`. */
const proxyFiles = (version: string): Record<string, Buffer | string> => {
  const files = moduleFiles(version)
  return {
    [`${version}.info`]: JSON.stringify({ Version: version, Time: "2024-01-01T00:00:00Z" }),
    [`${version}.mod`]: files["go.mod"]!,
    [`${version}.zip`]: zipBytes(Object.entries(files).map(([name, content]) => ({ name: `${MODULE}@${version}/${name}`, content })))
  }
}

let fileProxy: string

beforeAll(async () => {
  server = await startServer()
  root = tempDir("go")
  runtime = ManagedRuntime.make(Layer.merge(layerDownloader({ retries: 0 }), NodeContext.layer))
  fileProxy = path.join(root, "file-proxy")
  const versions = ["v1.0.0", "v1.1.0"]
  fs.mkdirSync(path.join(fileProxy, MODULE, "@v"), { recursive: true })
  server.route(`/proxy/${MODULE}/@v/list`, `${versions.join("\n")}\nnot-a-version\n`)
  fs.writeFileSync(path.join(fileProxy, MODULE, "@v", "list"), `${versions.join("\n")}\n`)
  for (const v of versions) {
    for (const [name, body] of Object.entries(proxyFiles(v))) {
      server.route(`/proxy/${MODULE}/@v/${name}`, body)
      fs.writeFileSync(path.join(fileProxy, MODULE, "@v", name), body)
    }
  }
  server.route("/proxy/example.com/!upper/!tool/@v/list", "v0.1.0\n")
  server.route("/proxy/example.com/pseudo/@v/list", "")
  server.route("/proxy/example.com/pseudo/@latest", JSON.stringify({ Version: "v0.0.0-20240101000000-abcdef123456" }))
  server.route("/broken/example.com/hello/@v/list", (_req, res) => res.writeHead(500).end("boom"))
})
afterAll(async () => {
  await runtime.dispose()
  await server.close()
  fs.rmSync(root, { recursive: true, force: true })
})

const backend = (): Promise<Backend> =>
  runtime.runPromise(Effect.zipWith(Downloader, CommandExecutor.CommandExecutor, makeGoModuleBackend))

const { request, resolved } = toolsOf("go")

/** go with its caches in the temp dir and checksums off (the loopback proxy is not in sum.golang.org). */
const goContext = (env: Record<string, string | undefined> = {}) =>
  testContext(root, {
    env: {
      ...process.env,
      GOPROXY: `${server.url}/proxy`,
      GOSUMDB: "off",
      GOFLAGS: "-mod=mod -modcacherw",
      GOCACHE: path.join(root, "gocache"),
      GOPATH: path.join(root, "gopath"),
      GOPRIVATE: undefined,
      GONOPROXY: undefined,
      ...env
    }
  })

const freshDir = () => {
  const dir = path.join(root, `install-${n++}`)
  fs.mkdirSync(dir)
  return dir
}

describe("go backend: GOPROXY, module paths, patterns", () => {
  it("parses GOPROXY as mise does: default, comma and pipe lists, direct skipped, off ends the list", () => {
    expect(parseGoproxy(undefined)).toEqual([{ url: "https://proxy.golang.org", onAnyError: false }])
    expect(parseGoproxy("")).toEqual([{ url: "https://proxy.golang.org", onAnyError: false }])
    expect(parseGoproxy("https://a.example/,https://b.example|https://c.example,direct")).toEqual([
      { url: "https://a.example", onAnyError: false },
      { url: "https://b.example", onAnyError: true },
      { url: "https://c.example", onAnyError: false }
    ])
    expect(parseGoproxy("https://a.example,off,https://b.example")).toEqual([{ url: "https://a.example", onAnyError: false }])
    expect(parseGoproxy("off")).toEqual([])
    expect(parseGoproxy("direct")).toEqual([])
  })

  it("case-escapes module paths and tries a package path's prefixes", () => {
    expect(encodeModulePath("github.com/BurntSushi/toml")).toBe("github.com/!burnt!sushi/toml")
    expect(modulePathCandidates("golang.org/x/tools/cmd/goimports")).toEqual([
      "golang.org/x/tools/cmd/goimports",
      "golang.org/x/tools/cmd",
      "golang.org/x/tools",
      "golang.org/x",
      "golang.org"
    ])
  })

  it("matches GOPRIVATE/GONOPROXY globs against leading path elements", () => {
    const patterns = "*.corp.example.com,rsc.io/private,example.com"
    expect(matchesGoPatterns(patterns, "git.corp.example.com/team/tool")).toBe(true)
    expect(matchesGoPatterns(patterns, "rsc.io/private/quote")).toBe(true)
    expect(matchesGoPatterns(patterns, "example.com/hello")).toBe(true)
    expect(matchesGoPatterns(patterns, "corp.example.com/x")).toBe(false)
    expect(matchesGoPatterns(patterns, "rsc.io/public")).toBe(false)
    expect(matchesGoPatterns(undefined, "example.com/hello")).toBe(false)
  })
})

describe("go backend: versions from a GOPROXY (loopback and file://)", () => {
  it("lists @v/list without the v, ascending, ignoring lines that are not versions", async () => {
    const b = await backend()
    expect(await runtime.runPromise(b.listVersions(request(MODULE), goContext()))).toEqual(["1.0.0", "1.1.0"])
    expect(await runtime.runPromise(b.resolveVersion!(request(MODULE, "1"), goContext()))).toBe("1.1.0")
    expect(await runtime.runPromise(b.resolveVersion!(request(MODULE, "v1.0.0"), goContext()))).toBe("1.0.0")
  })

  it("finds the module of a package path, escapes upper case, and falls back to @latest for pseudo-versions", async () => {
    const b = await backend()
    const before = server.hits(`/proxy/${MODULE}/cmd/hi/@v/list`)
    expect(await runtime.runPromise(b.listVersions(request(`${MODULE}/cmd/hi`), goContext()))).toEqual(["1.0.0", "1.1.0"])
    expect(server.hits(`/proxy/${MODULE}/cmd/hi/@v/list`)).toBe(before + 1)
    expect(await runtime.runPromise(b.listVersions(request("example.com/Upper/Tool"), goContext()))).toEqual(["0.1.0"])
    expect(await runtime.runPromise(b.listVersions(request("example.com/pseudo"), goContext()))).toEqual(["0.0.0-20240101000000-abcdef123456"])
  })

  it("follows GOPROXY's separators: | moves on after any failure, a 404 moves on after a comma", async () => {
    const b = await backend()
    const piped = goContext({ GOPROXY: `${server.url}/broken|${server.url}/proxy` })
    expect(await runtime.runPromise(b.listVersions(request(MODULE), piped))).toEqual(["1.0.0", "1.1.0"])
    const afterMissing = goContext({ GOPROXY: `${server.url}/nowhere,${server.url}/proxy` })
    expect(await runtime.runPromise(b.listVersions(request(MODULE), afterMissing))).toEqual(["1.0.0", "1.1.0"])
  })

  it("reads a file:// GOPROXY from disk", async () => {
    const b = await backend()
    expect(await runtime.runPromise(b.listVersions(request(MODULE), goContext({ GOPROXY: `file://${fileProxy}` })))).toEqual(["1.0.0", "1.1.0"])
  })

  it("says which proxies answered 404 for which paths", async () => {
    const b = await backend()
    const e = await runtime.runPromise(Effect.flip(b.listVersions(request("example.com/none/cmd"), goContext())))
    expect(e.message).toBe(
      `go:example.com/none/cmd@latest: module example.com/none/cmd was not found: ${server.url}/proxy answered 404 for ` +
        `example.com/none/cmd/@v/list, example.com/none/@v/list, example.com/@v/list (GOPROXY=${server.url}/proxy)`
    )
  })

  it("never sends a GOPRIVATE module to a proxy: go lists it itself", async () => {
    const b = await backend()
    const hits = server.hits(`/proxy/${MODULE}/@v/list`)
    const noGo = goContext({ GOPRIVATE: "example.com", PATH: path.join(root, "empty-bin") })
    const e = await runtime.runPromise(Effect.flip(b.listVersions(request(MODULE), noGo)))
    expect(e.message).toBe(
      `go:${MODULE}@latest: GOPROXY=${server.url}/proxy, GONOPROXY/GOPRIVATE=example.com leaves no proxy to ask, and listing ` +
        "versions without one needs `go list`, but go was not found on PATH; install Go (`mise use -g go`, https://go.dev/dl/, " +
        "or your system's package, e.g. `apt-get install golang-go`) and make sure `go` is on PATH"
    )
    expect(server.hits(`/proxy/${MODULE}/@v/list`)).toBe(hits)
  })

  it("lists with `go list -m -versions` when GOPROXY leaves no proxy, and passes on go's refusal", async () => {
    const b = await backend()
    const e = await runtime.runPromise(Effect.flip(b.listVersions(request(MODULE), goContext({ GOPROXY: "off" }))))
    expect(e.message).toMatch(new RegExp(`^go:${MODULE}@latest: no versions of ${MODULE} found: .*go list -mod=readonly -m -versions -json example\\.com\\S*\` exited`))
    expect(e.message).toContain("disabled by GOPROXY=off")
  })
})

describe("go backend: installs with the real go", () => {
  it("go install builds the module from the loopback proxy into <install>/bin, and it runs", async () => {
    const b = await backend()
    const ctx = goContext()
    const tool = resolved(MODULE, await runtime.runPromise(b.resolveVersion!(request(MODULE, "1.0"), ctx)))
    const dir = freshDir()
    await runtime.runPromise(b.install(tool, dir, ctx))
    expect(tree(dir)).toEqual(["d bin", "f bin/hello 755"])
    expect(await runtime.runPromise(b.binPaths(tool, dir, ctx))).toEqual([path.join(dir, "bin")])
    expect(await runtime.runPromise(b.execEnv(tool, dir, ctx))).toEqual([])
    expect(execFileSync(path.join(dir, "bin", "hello"), { encoding: "utf8", env: {} })).toBe(`hello from ${MODULE} v1.0.0\n`)
  })

  it("installs a package path with build tags from a file:// GOPROXY, checksums skipped by GONOSUMDB", async () => {
    const b = await backend()
    const ctx = goContext({ GOPROXY: `file://${fileProxy}`, GOSUMDB: undefined, GONOSUMDB: "example.com" })
    const dir = freshDir()
    await runtime.runPromise(b.install(resolved(`${MODULE}/cmd/hi`, "1.1.0", { tags: ["loud"] }), dir, ctx))
    expect(execFileSync(path.join(dir, "bin", "hi"), { encoding: "utf8", env: {} })).toBe("HI FROM v1.1.0\n")
  })

  it("fails with go's own words when the version does not exist", async () => {
    const b = await backend()
    const e = await runtime.runPromise(Effect.flip(b.install(resolved(MODULE, "9.9.9"), freshDir(), goContext())))
    expect(e.message).toMatch(new RegExp(`^go:${MODULE}@9\\.9\\.9: go install failed: \`\\S*go install -mod=readonly ${MODULE}@v9\\.9\\.9\` exited with code 1:\\n`))
    expect(e.message).toMatch(/v9\.9\.9.*(not found|404)/)
  })

  it("explains a missing go", async () => {
    const b = await backend()
    const e = await runtime.runPromise(Effect.flip(b.install(resolved(MODULE, "1.0.0"), freshDir(), goContext({ PATH: path.join(root, "empty-bin") }))))
    expect(e.message).toBe(
      `go:${MODULE}@1.0.0: go was not found on PATH. The go backend builds with the real go toolchain; install Go (\`mise use -g go\`, ` +
        "https://go.dev/dl/, or your system's package, e.g. `apt-get install golang-go`) and make sure `go` is on PATH"
    )
  })
})
