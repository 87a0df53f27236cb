import { spawn, spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { wheel } from "../libs/backends/test/support/Fixtures"
import { engine, readLayout } from "./support/Cli"
import { makeHelloTool, put } from "./support/Fixtures"
import { type FixtureServer, startFixtureServer } from "./support/FixtureServer"
import { ensureMise } from "./support/Mise"
import { skopeoInspect, umociUnpack } from "./support/Validate"

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

/** A PEP 503 index on loopback (pip reads a simple page only when it says it is HTML) with one wheel. */
const startIndex = async (bytes: Buffer) => {
  const server = http.createServer((req, res) => {
    if (req.url === "/simple/hellopy/") {
      res.writeHead(200, { "content-type": "text/html" }).end(
        `<a href="/files/hellopy-1.0.0-py3-none-any.whl#sha256=${createHash("sha256").update(bytes).digest("hex")}">hellopy-1.0.0-py3-none-any.whl</a>`
      )
    } else if (req.url === "/files/hellopy-1.0.0-py3-none-any.whl") {
      res.writeHead(200, { "content-type": "application/octet-stream" }).end(bytes)
    } else {
      res.writeHead(404).end()
    }
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise<void>((r) => server.close(() => r())) }
}

const run = (cmd: string, args: ReadonlyArray<string>, opts: { cwd: string; env: Record<string, string> }) =>
  new Promise<{ code: number; stderr: string }>((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ["ignore", "ignore", "pipe"] })
    let stderr = ""
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d))
    child.on("error", reject)
    child.on("close", (code) => resolve({ code: code ?? -1, stderr }))
  })

/**
 * Runs `command` at its image path: the rootfs's /mise bind-mounted over a root made of the host's system dirs (the
 * python in these images is a copy of the host's, which finds its stdlib in /usr), in a private mount namespace.
 */
const runInImage = (rootfs: string, command: string) => {
  const root = fs.mkdtempSync(path.join(work, "chroot-"))
  const binds = ["usr", "lib", "lib64", "bin", "etc"].filter((d) => fs.existsSync(`/${d}`) && !fs.lstatSync(`/${d}`).isSymbolicLink())
  const links = ["lib", "lib64", "bin"].filter((d) => fs.existsSync(`/${d}`) && fs.lstatSync(`/${d}`).isSymbolicLink())
  for (const d of [...binds, "mise"]) fs.mkdirSync(path.join(root, d))
  for (const d of links) fs.symlinkSync(fs.readlinkSync(`/${d}`), path.join(root, d))
  const script = [
    ...binds.map((d) => `mount --bind /${d} ${root}/${d}`),
    `mount --bind ${rootfs}/mise ${root}/mise`,
    `exec chroot ${root} ${command}`
  ].join(" && ")
  return spawnSync("unshare", ["-m", "sh", "-c", script], { encoding: "utf8", env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" } })
}

/** A `python` 3.11.2 install made from the host's interpreter (it finds its stdlib in /usr). */
const hostPythonInstall = (data: string) => {
  const py = path.join(data, "installs", "python", "3.11.2", "bin")
  fs.mkdirSync(py, { recursive: true })
  fs.copyFileSync("/usr/bin/python3.11", path.join(py, "python3.11"))
  fs.chmodSync(path.join(py, "python3.11"), 0o755)
  fs.symlinkSync("python3.11", path.join(py, "python3"))
  fs.symlinkSync("python3.11", path.join(py, "python"))
  return path.join(py, "python3.11")
}

const miseBuild = (proj: string, out: string, env: Record<string, string>) =>
  run(ensureMise(), ["oci", "build", "--from", "scratch", "--no-mise", "--no-cache", "-o", out], {
    cwd: proj,
    env: {
      ...env,
      MISE_EXPERIMENTAL: "1",
      MISE_CACHE_DIR: path.join(out, "..", `${path.basename(out)}-mise-cache`),
      MISE_CONFIG_DIR: path.join(out, "..", `${path.basename(out)}-mise-config`),
      MISE_TRUSTED_CONFIG_PATHS: proj
    }
  })

/** Adds a ref name to the layout's only manifest, so umoci can unpack it by tag. */
const tagged = (out: string, tag: string) => {
  const file = path.join(out, "index.json")
  const index = JSON.parse(fs.readFileSync(file, "utf8")) as { manifests: Array<{ annotations?: Record<string, string> }> }
  index.manifests[0]!.annotations = { ...index.manifests[0]!.annotations, "org.opencontainers.image.ref.name": tag }
  fs.writeFileSync(file, JSON.stringify(index))
  return out
}

describe("pipx venvs relocated into the toolset's python, as mise 2026.9.15 does", () => {
  // A `python` 3.11.2 install made from the host's interpreter (it finds its stdlib in /usr), and a pipx tool installed
  // by the engine with the real pipx into a venv on that python: its links and pyvenv.cfg name host paths.
  let data: string
  let proj: string
  let index: { url: string; close: () => Promise<void> }
  const PIPX = "mise/installs/pipx-hellopy/1.0.0"
  const PYTHON = "/mise/installs/python/3.11.2"

  beforeAll(async () => {
    index = await startIndex(wheel("hellopy", "1.0.0"))
    data = path.join(work, "pipx-data")
    hostPythonInstall(data)
    proj = project("pipx-proj", `[tools]\npython = "3.11.2"\n"pipx:hellopy" = "1.0.0"\n`)
    const r = await engine(["install"], { cwd: proj, env: pipxEnv() })
    if (r.code !== 0) throw new Error(`engine install failed: ${r.stderr}`)
  }, 300_000)

  afterAll(async () => {
    await index?.close()
  })

  const pipxEnv = () => ({
    MISE_DATA_DIR: data,
    ENGINE_CACHE_DIR: path.join(work, "pipx-cache"),
    HOME: path.join(work, "home"),
    SOURCE_DATE_EPOCH: "1700000000",
    PATH: "/usr/bin:/bin",
    MISE_PIPX_REGISTRY_URL: `${index.url}/pypi/{}/json`,
    MISE_PIPX_UVX: "false",
    PIP_CONFIG_FILE: "/dev/null",
    PIPX_DEFAULT_PYTHON: path.join(data, "installs", "python", "3.11.2", "bin", "python3")
  })

  it("the install names host paths: the venv's python links and pyvenv.cfg", () => {
    const venv = path.join(data, "installs", "pipx-hellopy", "1.0.0", "venvs", "hellopy")
    expect(fs.readlinkSync(path.join(venv, "bin", "python3"))).toBe(path.join(data, "installs", "python", "3.11.2", "bin", "python3"))
    expect(fs.readFileSync(path.join(venv, "pyvenv.cfg"), "utf8")).toContain(`home = ${path.join(data, "installs", "python", "3.11.2", "bin")}\n`)
    expect(fs.readFileSync(path.join(venv, "pyvenv.cfg"), "utf8")).toContain(`command = ${path.join(data, "installs", "python", "3.11.2", "bin", "python3")} -m venv`)
  })

  it("engine build and mise oci build give the same diff_ids and the 2:python=<fingerprint> annotation", { timeout: 300_000 }, async () => {
    const mOut = path.join(work, "pipx-mise")
    const eOut = path.join(work, "pipx-engine")
    // Asynchronously: the index answers from this process.
    const m = await miseBuild(proj, mOut, pipxEnv())
    expect(m.code, m.stderr).toBe(0)
    const r = await engine(["build", "--from", "scratch", "--no-mise", "-o", eOut], { cwd: proj, env: pipxEnv() })
    expect(r.code, r.stderr).toBe(0)
    const mise = readLayout(mOut)
    const eng = readLayout(eOut)
    expect(eng.manifest.layers.map((l) => l.annotations)).toEqual(mise.manifest.layers.map((l) => l.annotations))
    const fingerprint = createHash("sha256")
    for (const field of ["3.11.2", path.join(data, "installs", "python", "3.11.2"), PYTHON]) {
      const length = Buffer.alloc(8)
      length.writeBigUInt64LE(BigInt(Buffer.byteLength(field)))
      fingerprint.update(length).update(field)
    }
    expect(eng.manifest.layers[1]!.annotations?.["dev.mise.layer.relocation"]).toBe(`2:python=${fingerprint.digest("hex")}`)
    expect(eng.manifest.layers[0]!.annotations?.["dev.mise.layer.relocation"]).toBe("2")
    expect(eng.config.rootfs.diff_ids.slice(0, 2)).toEqual(mise.config.rootfs.diff_ids.slice(0, 2))
    skopeoInspect(eOut)
  })

  it("the unpacked image has the venvs on the image's python, and the console script runs there", () => {
    const rootfs = umociUnpack(tagged(path.join(work, "pipx-engine"), "t"), "t")
    const at = (p: string) => path.join(rootfs, p)
    expect(fs.readlinkSync(at(`${PIPX}/venvs/hellopy/bin/python3`))).toBe(`${PYTHON}/bin/python3.11`)
    expect(fs.readlinkSync(at(`${PIPX}/shared/bin/python3`))).toBe(`${PYTHON}/bin/python3.11`)
    expect(fs.readlinkSync(at(`${PIPX}/bin/hellopy`))).toBe("../venvs/hellopy/bin/hellopy")
    expect(fs.readFileSync(at(`${PIPX}/venvs/hellopy/bin/hellopy`), "utf8").split("\n")[0]).toBe(`#!/${PIPX}/venvs/hellopy/bin/python`)
    expect(fs.readFileSync(at(`${PIPX}/venvs/hellopy/pyvenv.cfg`), "utf8")).toBe(
      `home = ${PYTHON}/bin\ninclude-system-site-packages = false\nversion = 3.11.2\nexecutable = ${PYTHON}/bin/python\n` +
        `command = ${PYTHON}/bin/python -m venv /${PIPX}/venvs/hellopy\n`
    )
    expect(fs.readFileSync(at(`${PIPX}/shared/pyvenv.cfg`), "utf8")).toContain(`command = ${PYTHON}/bin/python -m venv /${PIPX}/shared\n`)
    const run = runInImage(rootfs, `/${PIPX}/bin/hellopy`)
    expect(run.stderr).toBe("")
    expect(run.stdout).toBe("hello from hellopy 1.0.0\n")
  })
})

describe("install_env reaches the install commands", () => {
  it("a real cargo build sees RUSTFLAGS from install_env, and `false` unsets a variable of the build's env", async () => {
    const crate = path.join(work, "env-proj", "crate")
    put(path.join(crate, "Cargo.toml"), `[package]\nname = "envtool"\nversion = "0.1.0"\nedition = "2021"\n`)
    put(
      path.join(crate, "src", "main.rs"),
      `fn main() {\n    #[cfg(injected)]\n    println!("built with install_env");\n    #[cfg(not(injected))]\n    println!("built without");\n}\n`
    )
    const dir = project(
      "env-proj",
      `[tools]\n"cargo:./crate" = { version = "latest", install_env = { RUSTFLAGS = "--cfg injected", RUSTC_WRAPPER = false } }\n`
    )
    const home = os.homedir()
    const r = await engine(["install"], {
      cwd: dir,
      env: env("install-env", {
        PATH: `${path.join(home, ".cargo", "bin")}:/usr/bin:/bin`,
        RUSTUP_HOME: process.env.RUSTUP_HOME ?? path.join(home, ".rustup"),
        CARGO_HOME: path.join(work, "cargo-home"),
        CARGO_TARGET_DIR: path.join(work, "cargo-target"),
        // Would fail every rustc call if install_env did not unset it.
        RUSTC_WRAPPER: "/nonexistent/wrapper"
      })
    })
    expect(r.code, r.stderr).toBe(0)
    const bin = path.join(work, "data-install-env", "installs", "cargo-crate", "0.1.0", "bin", "envtool")
    expect(spawnSync(bin, { encoding: "utf8" }).stdout).toBe("built with install_env\n")
  }, 300_000)
})

describe("pipx through uv (a stand-in uv: no uv is installable here)", () => {
  // The stand-in records its argv and env and lays the tool out as `uv tool install` does: the venv in
  // $UV_TOOL_DIR/<pkg> (pyvenv.cfg with uv's keys, bin/python -> the interpreter), the console script linked into
  // $UV_TOOL_BIN_DIR.
  let data: string
  let proj: string
  let record: string
  const UV_TOOL = "mise/installs/pipx-hellopy/1.0.0"
  const PYTHON = "/mise/installs/python/3.11.2"
  const uvEnv = () => ({
    MISE_DATA_DIR: data,
    ENGINE_CACHE_DIR: path.join(work, "uv-cache"),
    HOME: path.join(work, "home"),
    SOURCE_DATE_EPOCH: "1700000000",
    PATH: `${path.join(work, "uv-bin")}:/usr/bin:/bin`,
    MISE_PIPX_REGISTRY_URL: "http://127.0.0.1:9/pypi/{}/json",
    UV_RECORD: record,
    STANDIN_PYTHON: path.join(data, "installs", "python", "3.11.2", "bin", "python3.11")
  })

  beforeAll(async () => {
    data = path.join(work, "uv-data")
    record = path.join(work, "uv-record")
    fs.mkdirSync(record)
    hostPythonInstall(data)
    put(
      path.join(work, "uv-bin", "uv"),
      [
        "#!/bin/sh",
        `printf '%s\\n' "$@" > "$UV_RECORD/args"`,
        `env | grep -E '^(UV_|PIP_|PIPX_|FROM_INSTALL_ENV)' | sort > "$UV_RECORD/env"`,
        `venv="$UV_TOOL_DIR/hellopy"`,
        `mkdir -p "$venv/bin" "$venv/lib/python3.11/site-packages/hellopy" "$UV_TOOL_BIN_DIR"`,
        `printf 'home = %s\\nimplementation = CPython\\nuv = 0.5.0\\nversion_info = 3.11.2\\ninclude-system-site-packages = false\\n' "$(dirname "$STANDIN_PYTHON")" > "$venv/pyvenv.cfg"`,
        `ln -s "$STANDIN_PYTHON" "$venv/bin/python" && ln -s python "$venv/bin/python3" && ln -s python "$venv/bin/python3.11"`,
        `printf 'def main():\\n    print("hello from uv")\\n' > "$venv/lib/python3.11/site-packages/hellopy/__init__.py"`,
        `printf '#!%s/bin/python\\nimport sys\\nfrom hellopy import main\\nsys.exit(main())\\n' "$venv" > "$venv/bin/hellopy" && chmod 755 "$venv/bin/hellopy"`,
        `ln -s "$venv/bin/hellopy" "$UV_TOOL_BIN_DIR/hellopy"`,
        `printf '[tool]\\nrequirements = [{ name = "hellopy" }]\\n' > "$venv/uv-receipt.toml"`,
        ""
      ].join("\n"),
      0o755
    )
    proj = project(
      "uv-proj",
      `[tools]\npython = "3.11.2"\n"pipx:hellopy" = { version = "1.0.0", extras = ["cli", "color"], uvx_args = "--with 'rich>=13'", install_env = { FROM_INSTALL_ENV = "yes" } }\n`
    )
    const r = await engine(["install"], { cwd: proj, env: uvEnv() })
    if (r.code !== 0) throw new Error(`engine install failed: ${r.stderr}`)
  }, 120_000)

  it("runs `uv tool install` with the requirement, uvx_args, the tool and bin dirs, the index and install_env", () => {
    const dir = path.join(data, "installs", "pipx-hellopy", "1.0.0")
    expect(fs.readFileSync(path.join(record, "args"), "utf8")).toBe("tool\ninstall\nhellopy[cli,color]==1.0.0\n--with\nrich>=13\n")
    expect(fs.readFileSync(path.join(record, "env"), "utf8")).toBe(
      `FROM_INSTALL_ENV=yes\nUV_DEFAULT_INDEX=http://127.0.0.1:9/simple\nUV_RECORD=${record}\nUV_TOOL_BIN_DIR=${dir}/bin\nUV_TOOL_DIR=${dir}\n`
    )
  })

  it("the uv layout builds to mise's diff_ids, and the console script runs from the unpacked image", { timeout: 300_000 }, async () => {
    const mOut = path.join(work, "uv-mise")
    const eOut = path.join(work, "uv-engine")
    const m = await miseBuild(proj, mOut, uvEnv())
    expect(m.code, m.stderr).toBe(0)
    const r = await engine(["build", "--from", "scratch", "--no-mise", "-o", eOut], { cwd: proj, env: uvEnv() })
    expect(r.code, r.stderr).toBe(0)
    const mise = readLayout(mOut)
    const eng = readLayout(eOut)
    expect(eng.manifest.layers.map((l) => l.annotations)).toEqual(mise.manifest.layers.map((l) => l.annotations))
    expect(eng.config.rootfs.diff_ids.slice(0, 2)).toEqual(mise.config.rootfs.diff_ids.slice(0, 2))
    const rootfs = umociUnpack(tagged(eOut, "t"), "t")
    const at = (p: string) => path.join(rootfs, p)
    expect(fs.readlinkSync(at(`${UV_TOOL}/hellopy/bin/python`))).toBe(`${PYTHON}/bin/python3.11`)
    expect(fs.readlinkSync(at(`${UV_TOOL}/bin/hellopy`))).toBe("../hellopy/bin/hellopy")
    // uv's pyvenv.cfg has version_info and no executable/command lines: only home moves.
    expect(fs.readFileSync(at(`${UV_TOOL}/hellopy/pyvenv.cfg`), "utf8")).toBe(
      `home = ${PYTHON}/bin\nimplementation = CPython\nuv = 0.5.0\nversion_info = 3.11.2\ninclude-system-site-packages = false\n`
    )
    const run = runInImage(rootfs, `/${UV_TOOL}/bin/hellopy`)
    expect(run.stderr).toBe("")
    expect(run.stdout).toBe("hello from uv\n")
  })
})
