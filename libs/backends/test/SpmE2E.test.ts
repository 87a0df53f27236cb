import { execFile, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ensureMise } from "../../../test/support/Mise"
import { buildCli, runEngine, type RunResult } from "./support/Cli"
import { tempDir, tree } from "./support/Context"
import { zipBytes } from "./support/Fixtures"
import { serveGitHub } from "./support/Forges"
import { startServer, type TestServer } from "./support/Server"

// Builds images with the real CLI from a mise.toml naming an spm tool (its release's artifact bundle, served by a
// loopback GitHub API; no swift anywhere) and a dotnet tool (versions from a loopback NuGet feed, installed by a
// stand-in dotnet on PATH), and checks the layout with skopeo and umoci. The CLI runs asynchronously: the fixture
// server lives in this process and must keep answering while the build runs.

const exec = promisify(execFile)

let server: TestServer
let work: string
let standins: string

const bundle = (version: string) =>
  zipBytes([
    {
      name: "hello.artifactbundle/info.json",
      content: JSON.stringify({
        schemaVersion: "1.0",
        artifacts: {
          hello: {
            version,
            type: "executable",
            variants: [
              { path: "macos/hello", supportedTriples: ["arm64-apple-macosx"] },
              { path: "linux/hello", supportedTriples: ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"] }
            ]
          }
        }
      })
    },
    { name: "hello.artifactbundle/macos/hello", content: "#!/bin/sh\necho macos\n", mode: 0o755 },
    { name: "hello.artifactbundle/linux/hello", content: `#!/bin/sh\necho "hello ${version} from the artifact bundle"\n`, mode: 0o755 }
  ])

/**
 * A stand-in `dotnet` that appends its argv to `dotnet-calls` and lays out `--tool-path` as `dotnet tool install`
 * does (a command shim and the `.store`).
 */
const dotnetStandIn = (calls: string) => `#!/bin/sh
echo "$*" >> "${calls}"
tool="$3"; toolpath=""; version=""
while [ $# -gt 0 ]; do
  case "$1" in --tool-path) toolpath="$2"; shift ;; --version) version="$2"; shift ;; esac
  shift
done
lower=$(echo "$tool" | tr 'A-Z' 'a-z')
mkdir -p "$toolpath/.store/$lower/$version"
printf '#!/bin/sh\\necho "%s %s"\\n' "$tool" "$version" > "$toolpath/$(echo "$lower" | tr '.' '-')"
chmod +x "$toolpath/$(echo "$lower" | tr '.' '-')"
`

beforeAll(async () => {
  await buildCli()
  server = await startServer()
  work = tempDir("spm-e2e")
  standins = path.join(work, "standins")
  fs.mkdirSync(standins)
  fs.writeFileSync(path.join(standins, "dotnet"), dotnetStandIn(path.join(work, "dotnet-calls")), { mode: 0o755 })
  serveGitHub(server, {
    base: "/api/v3",
    repo: "acme/hello",
    pageSize: 100,
    releases: [
      { tag: "1.2.0-beta.1", assets: [{ name: "hello.artifactbundle.zip", body: bundle("1.2.0-beta.1"), digest: true }] },
      { tag: "1.1.0", assets: [{ name: "hello.artifactbundle.zip", body: bundle("1.1.0"), digest: true }] },
      { tag: "1.0.0", assets: [] }
    ]
  })
  server.route("/v3/index.json", JSON.stringify({
    version: "3.0.0",
    resources: [
      { "@id": `${server.url}/query`, "@type": "SearchQueryService/3.5.0" },
      { "@id": `${server.url}/flat/`, "@type": "PackageBaseAddress/3.0.0" }
    ]
  }))
  server.route("/query", JSON.stringify({
    totalHits: 1,
    data: [{ id: "GitVersion.Tool", version: "6.0.0", versions: ["5.11.0", "5.12.0", "6.0.0-beta.2"].map((version) => ({ version, downloads: 1 })) }]
  }))
})

afterAll(async () => {
  await server?.close()
  if (work !== undefined) fs.rmSync(work, { recursive: true, force: true })
})

const engine = runEngine

const project = (name: string, tools: string) => {
  const dir = path.join(work, name)
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, "mise.toml"), `[tools]\n${tools.replaceAll("URL", server.url)}`)
  return dir
}

const envFor = (name: string, pathVar: string) => ({
  PATH: pathVar,
  HOME: path.join(work, "home"),
  ENGINE_DATA_DIR: path.join(work, `data-${name}`),
  ENGINE_CACHE_DIR: path.join(work, `cache-${name}`),
  MISE_DOTNET_REGISTRY_URL: `${server.url}/v3/index.json`,
  SOURCE_DATE_EPOCH: "1700000000"
})

const TOOLS = `"spm:acme/hello" = { version = "1.1", api_url = "URL/api/v3" }\n"dotnet:GitVersion.Tool" = "5"\n`

describe("engine build with an spm artifact bundle and a dotnet tool", () => {
  let out = ""
  let result: RunResult

  beforeAll(async () => {
    const dir = project("build", TOOLS)
    out = path.join(dir, "out")
    // No swift on this PATH: the artifact bundle needs none.
    result = await engine(["build", "--from", "scratch", "--no-mise", "-o", out, "-t", "e2e"], dir, envFor("build", `${standins}:/usr/bin:/bin`))
  })

  it("resolves each tool from its upstream and writes one layer per tool", () => {
    expect(result.code, result.stderr).toBe(0)
    const layers = result.stdout.split("\n").filter((l) => l.startsWith("  "))
    expect(layers.map((l) => l.trim().split(/\s+/)[0]).sort()).toEqual(["dotnet:GitVersion.Tool@5.12.0", "spm:acme/hello@1.1.0"])
  })

  it("is a layout skopeo reads, with both tools' bin dirs on PATH", async () => {
    const inspected = JSON.parse((await exec("skopeo", ["inspect", "--config", `oci:${out}:e2e`])).stdout) as { config: { Env: Array<string> } }
    const pathVar = inspected.config.Env.find((e) => e.startsWith("PATH="))
    expect(pathVar).toContain("/mise/installs/spm-acme-hello/1.1.0/bin")
    expect(pathVar).toContain("/mise/installs/dotnet-git-version-tool/5.12.0/bin")
  })

  it("unpacks with umoci to a rootfs whose tools run, the bundle's absolute link made relative as mise does", async () => {
    const bundleDir = path.join(work, "bundle")
    await exec("umoci", ["unpack", "--image", `${out}:e2e`, bundleDir])
    const installs = path.join(bundleDir, "rootfs", "mise", "installs")
    const link = path.join(installs, "spm-acme-hello", "1.1.0", "bin", "hello")
    expect(fs.readlinkSync(link)).toBe("../artifactbundle/bin/hello")
    expect((await exec(link)).stdout).toBe("hello 1.1.0 from the artifact bundle\n")
    const gitversion = path.join(installs, "dotnet-git-version-tool", "5.12.0", "bin", "gitversion-tool")
    expect((await exec(gitversion)).stdout).toBe("GitVersion.Tool 5.12.0\n")
    expect(fs.existsSync(path.join(installs, "dotnet-git-version-tool", "5.12.0", "bin", ".store", "gitversion.tool", "5.12.0"))).toBe(true)
  })
})

describe("engine build without the .NET SDK or Swift", () => {
  it("names dotnet and swift, the specs needing them and how to get them, and installs nothing", async () => {
    const dir = project("missing", `"spm:acme/hello" = { version = "1.1", api_url = "URL/api/v3" }\n"spm:acme/tool" = "rev:abc"\n"dotnet:GitVersion.Tool" = "5.12.0"\n`)
    const r = await engine(["build", "--from", "scratch", "--no-mise", "-o", path.join(dir, "out")], dir, envFor("missing", "/usr/bin:/bin"))
    expect(r.code, r.stderr).toBe(4)
    expect(r.stderr).toContain("cannot install spm:acme/tool, dotnet:GitVersion.Tool: programs they need are not on PATH; nothing was installed.")
    expect(r.stderr).toContain("`swift` (needed by spm:acme/tool): install Swift on the build machine (https://swift.org/install")
    expect(r.stderr).toContain("`dotnet` (needed by dotnet:GitVersion.Tool): install the .NET SDK on the build machine (https://dotnet.microsoft.com/download")
    expect(fs.existsSync(path.join(work, "data-missing", "installs"))).toBe(false)
  })
})

describe("the same installs as mise 2026.9.15", () => {
  it("lays out the spm bundle and runs the same dotnet command as `mise install`", async () => {
    const mise = ensureMise()
    const dir = project("parity", `"spm:acme/hello" = { version = "1.1.0", api_url = "URL/api/v3" }\n"dotnet:GitVersion.Tool" = "5.12.0"\n`)
    const calls = path.join(work, "dotnet-calls")
    fs.rmSync(calls, { force: true })
    const { MISE_DOTNET_REGISTRY_URL: _feed, ...env } = envFor("parity-engine", `${standins}:/usr/bin:/bin`)
    const r = await engine(["install"], dir, env)
    expect(r.code, r.stderr).toBe(0)
    const engineCalls = fs.readFileSync(calls, "utf8")
    fs.rmSync(calls)
    // mise asks swift for the host's triples even for a bundle; the engine knows them from the image's platform.
    const swift = path.join(work, "swift-for-mise")
    fs.mkdirSync(swift, { recursive: true })
    const info = { target: { triple: "x86_64-unknown-linux-gnu", unversionedTriple: "x86_64-unknown-linux-gnu", moduleTriple: "x86_64-unknown-linux-gnu" } }
    if (process.arch === "arm64") for (const k of ["triple", "unversionedTriple", "moduleTriple"] as const) info.target[k] = "aarch64-unknown-linux-gnu"
    fs.writeFileSync(path.join(swift, "swift"), `#!/bin/sh\necho '${JSON.stringify(info)}'\n`, { mode: 0o755 })
    const miseData = path.join(work, "data-parity-mise")
    const m = await new Promise<RunResult>((resolve, reject) => {
      const child = spawn(mise, ["install"], {
        cwd: dir,
        env: {
          PATH: `${standins}:${swift}:/usr/bin:/bin`,
          HOME: path.join(work, "home"),
          MISE_EXPERIMENTAL: "1",
          MISE_YES: "1",
          MISE_DATA_DIR: miseData,
          MISE_CACHE_DIR: path.join(work, "mise-cache"),
          MISE_CONFIG_DIR: path.join(work, "mise-config"),
          MISE_STATE_DIR: path.join(work, "mise-state"),
          MISE_TRUSTED_CONFIG_PATHS: dir
        },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let stderr = ""
      child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d))
      child.on("error", reject)
      child.on("close", (code) => resolve({ code: code ?? -1, stdout: "", stderr }))
    })
    expect(m.code, m.stderr).toBe(0)
    const engineData = path.join(work, "data-parity-engine")
    const normalize = (lines: ReadonlyArray<string>, data: string) => lines.map((l) => l.replaceAll(data, "<data>"))
    for (const install of ["spm-acme-hello/1.1.0", "dotnet-git-version-tool/5.12.0"]) {
      expect(normalize(tree(path.join(engineData, "installs", install)), engineData), install)
        .toEqual(normalize(tree(path.join(miseData, "installs", install)), miseData))
    }
    expect(engineCalls.replaceAll(engineData, "<data>")).toBe(fs.readFileSync(calls, "utf8").replaceAll(miseData, "<data>"))
    expect(engineCalls).toBe(`tool install GitVersion.Tool --tool-path ${engineData}/installs/dotnet-git-version-tool/5.12.0/bin --version 5.12.0\n`)
  })
})
