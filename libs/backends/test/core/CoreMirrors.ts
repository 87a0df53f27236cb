import { execFile, execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { promisify } from "node:util"
import * as zlib from "node:zlib"
import { tarGz, tarXz, zipBytes } from "../support/Fixtures"
import type { TestServer } from "../support/Server"
import { sha256Hex } from "./Harness"

// Upstreams for go, python, java, deno, bun and zig in their real formats, one release each for the host's platform,
// served from one loopback server so a single image can hold every core tool. go and python are this machine's own
// (Debian's go, the system python), packed as dl.google.com and python-build-standalone pack them; java, deno, bun
// and zig are scripts printing what the real tool prints.

const x64 = process.arch === "x64"

/** Debian's go (golang-go): its GOROOT and the version it reports (`go1.19.8`). */
const hostGo = () => {
  const [goroot, goversion] = execFileSync("go", ["env", "GOROOT", "GOVERSION"], { encoding: "utf8" }).trim().split("\n")
  return { goroot: goroot!, version: goversion!.replace(/^go/, "") }
}

/** The system python (`/usr/bin/python3`, which pipx needs too), by its real file and version. */
const hostPython = () => {
  const binary = fs.realpathSync("/usr/bin/python3")
  const version = execFileSync(binary, ["-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"], { encoding: "utf8" }).trim()
  return { binary, version }
}

/** `tar czf` of a staged tree (fast gzip: the binaries are megabytes and the level does not matter here). */
const packDir = async (stage: string, top: string, out: string): Promise<Buffer> => {
  await promisify(execFile)("tar", ["-I", "gzip -1", "-cf", out, "-C", stage, top])
  const bytes = fs.readFileSync(out)
  fs.rmSync(out)
  return bytes
}

export interface CoreUpstreams {
  /** `[settings]` lines pointing every core tool at the server. */
  readonly settings: string
  readonly versions: { readonly go: string; readonly python: string; readonly java: string; readonly deno: string; readonly bun: string; readonly zig: string }
}

export const serveCoreUpstreams = async (server: TestServer, work: string): Promise<CoreUpstreams> => {
  const stage = path.join(work, "core-stage")
  fs.mkdirSync(stage, { recursive: true })

  // go: go.dev/dl/?mode=json's shape and `go/` tarball; bin/go is Debian's, pkg/tool makes the dir a GOROOT to it.
  const go = hostGo()
  const goArch = x64 ? "amd64" : "arm64"
  fs.mkdirSync(path.join(stage, "go", "bin"), { recursive: true })
  fs.mkdirSync(path.join(stage, "go", "pkg", "tool", `linux_${goArch}`), { recursive: true })
  fs.copyFileSync(path.join(go.goroot, "bin", "go"), path.join(stage, "go", "bin", "go"))
  fs.chmodSync(path.join(stage, "go", "bin", "go"), 0o755)
  fs.writeFileSync(path.join(stage, "go", "VERSION"), `go${go.version}\n`)
  const goFile = `go${go.version}.linux-${goArch}.tar.gz`
  const goTgz = await packDir(stage, "go", path.join(work, goFile))
  server.route("/go/dl/", JSON.stringify([{
    version: `go${go.version}`,
    stable: true,
    files: [{ filename: goFile, os: "linux", arch: goArch, version: `go${go.version}`, sha256: sha256Hex(goTgz), size: goTgz.length, kind: "archive" }]
  }]))
  server.route(`/go/files/${goFile}`, goTgz)

  // python: mise-versions' precompiled list and python-build-standalone's install_only_stripped layout.
  const py = hostPython()
  const minor = py.version.split(".").slice(0, 2).join(".")
  const triple = `${x64 ? "x86_64" : "aarch64"}-unknown-linux-gnu`
  const pyFile = `cpython-${py.version}+20240713-${triple}-install_only_stripped.tar.gz`
  fs.mkdirSync(path.join(stage, "python", "bin"), { recursive: true })
  fs.copyFileSync(py.binary, path.join(stage, "python", "bin", `python${minor}`))
  fs.symlinkSync(`python${minor}`, path.join(stage, "python", "bin", "python3"))
  const pyTgz = await packDir(stage, "python", path.join(work, pyFile))
  server.route(`/python/versions/python-precompiled-${triple}.gz`, zlib.gzipSync(`${pyFile}\n`))
  server.route(`/python/pbs/20240713/${pyFile}`, pyTgz)
  server.route("/python/pbs/20240713/SHA256SUMS", `${sha256Hex(pyTgz)}  ${pyFile}\n`)
  fs.rmSync(stage, { recursive: true, force: true })

  // java: the Adoptium API (available_releases, feature_releases paged) and a Temurin tarball.
  const javaArch = x64 ? "x64" : "aarch64"
  const jdk = await tarGz([
    { name: "jdk-21.0.4+7/", type: "directory" },
    { name: "jdk-21.0.4+7/release", content: "JAVA_VERSION=\"21.0.4\"\n" },
    { name: "jdk-21.0.4+7/bin/java", content: "#!/bin/sh\necho 'openjdk version \"21.0.4\" 2024-07-16 LTS' >&2\n", mode: 0o755 }
  ])
  const jdkFile = `OpenJDK21U-jdk_${javaArch}_linux_hotspot_21.0.4_7.tar.gz`
  server.route("/adoptium/v3/info/available_releases", JSON.stringify({
    available_lts_releases: [21],
    available_releases: [21],
    most_recent_feature_release: 21,
    most_recent_feature_version: 22,
    most_recent_lts: 21,
    tip_version: 22
  }))
  server.route("/adoptium/v3/assets/feature_releases/21/ga", (req, res) => {
    const page = Number(new URL(req.url ?? "/", "http://x").searchParams.get("page") ?? "0")
    if (page > 0) return void res.writeHead(404).end("Page not available")
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify([{
      release_name: "jdk-21.0.4+7",
      release_type: "ga",
      vendor: "eclipse",
      version_data: { semver: "21.0.4+7.0.LTS", openjdk_version: "21.0.4+7-LTS", major: 21 },
      binaries: [{
        os: "linux",
        architecture: javaArch,
        image_type: "jdk",
        jvm_impl: "hotspot",
        heap_size: "normal",
        project: "jdk",
        package: { name: jdkFile, link: `${server.url}/temurin/${jdkFile}`, checksum: sha256Hex(jdk), size: jdk.length }
      }]
    }]))
  })
  server.route(`/temurin/${jdkFile}`, jdk)

  // deno: deno.com's versions.json and dl.deno.land's zip with its .sha256sum.
  const denoFile = `deno-${triple}.zip`
  const denoZip = zipBytes([{ name: "deno", content: `#!/bin/sh\necho "deno 2.1.4 (stable, release, ${triple})"\n`, mode: 0o755 }])
  server.route("/deno/versions.json", JSON.stringify({ cli: ["v2.1.4", "v2.0.6"], std: [] }))
  server.route(`/deno/release/v2.1.4/${denoFile}`, denoZip)
  server.route(`/deno/release/v2.1.4/${denoFile}.sha256sum`, `${sha256Hex(denoZip)}  ${denoFile}\n`)

  // bun: GitHub's releases API for oven-sh/bun and the release's zips (the AVX2 build and the baseline one).
  server.route("/bun/releases", (_req, res) => {
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify([
      { tag_name: "bun-v1.1.38", draft: false, prerelease: false, assets: [] },
      { tag_name: "bun-v1.1.0", draft: false, prerelease: false, assets: [] }
    ]))
  })
  const bunTops = x64 ? ["bun-linux-x64", "bun-linux-x64-baseline"] : ["bun-linux-aarch64"]
  const sums: Array<string> = []
  for (const top of bunTops) {
    const zip = zipBytes([{ name: `${top}/`, type: "directory" }, { name: `${top}/bun`, content: "#!/bin/sh\necho 1.1.38\n", mode: 0o755 }])
    server.route(`/bun/download/bun-v1.1.38/${top}.zip`, zip)
    sums.push(`${sha256Hex(zip)}  ${top}.zip`)
  }
  server.route("/bun/download/bun-v1.1.38/SHASUMS256.txt", `${sums.join("\n")}\n`)

  // zig: ziglang.org's index.json and a tar.xz with `zig` at the top of its one directory.
  const zigPlatform = `${x64 ? "x86_64" : "aarch64"}-linux`
  const zigTop = `zig-linux-${x64 ? "x86_64" : "aarch64"}-0.13.0`
  const zig = await tarXz([
    { name: `${zigTop}/`, type: "directory" },
    { name: `${zigTop}/zig`, content: "#!/bin/sh\necho 0.13.0\n", mode: 0o755 },
    { name: `${zigTop}/lib/std/std.zig`, content: "// std\n" }
  ])
  server.route("/zig/index.json", JSON.stringify({
    master: { version: "0.14.0-dev.1+abc", date: "2025-01-05" },
    "0.13.0": { date: "2024-06-07", [zigPlatform]: { tarball: `${server.url}/zig/download/${zigTop}.tar.xz`, shasum: sha256Hex(zig), size: String(zig.length) } }
  }))
  server.route(`/zig/download/${zigTop}.tar.xz`, zig)

  const u = server.url
  return {
    settings: [
      `go.index_url = "${u}/go/dl/?mode=json&include=all"`,
      `go.download_mirror = "${u}/go/files"`,
      `python.index_url = "${u}/python/versions/python-precompiled-{arch}-{os}.gz"`,
      `python.download_mirror = "${u}/python/pbs/"`,
      `java.adoptium_api_url = "${u}/adoptium"`,
      `deno.index_url = "${u}/deno/versions.json"`,
      `deno.download_mirror = "${u}/deno/release"`,
      `bun.index_url = "${u}/bun/releases"`,
      `bun.download_mirror = "${u}/bun/download"`,
      `zig.index_url = "${u}/zig/index.json"`
    ].join("\n"),
    versions: { go: go.version, python: py.version, java: "21.0.4+7.0.LTS", deno: "2.1.4", bun: "1.1.38", zig: "0.13.0" }
  }
}
