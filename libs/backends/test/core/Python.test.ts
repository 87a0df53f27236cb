import { execFileSync } from "node:child_process"
import * as path from "node:path"
import * as zlib from "node:zlib"
import { beforeAll, describe, expect, it } from "vitest"
import { pythonBuilds } from "../../src/core"
import { type Member, tarGz } from "../support/Fixtures"
import { sha256Hex, useHarness } from "./Harness"

const h = useHarness("python")

// python-build-standalone's install_only layout under one `python/` directory; python3.X is a script that prints
// the version, python3 links to it as upstream ships it.
const pythonTree = (version: string): ReadonlyArray<Member> => {
  const minor = version.split(".").slice(0, 2).join(".")
  return [
    { name: "python/", type: "directory" },
    { name: "python/bin/", type: "directory" },
    { name: `python/bin/python${minor}`, content: `#!/bin/sh\necho "Python ${version}"\n`, mode: 0o755 },
    { name: "python/bin/python3", type: "symlink", linkname: `python${minor}` },
    { name: "python/bin/pip3", content: "#!/bin/sh\n", mode: 0o755 },
    { name: `python/lib/python${minor}/os.py`, content: "# os\n" }
  ]
}

const file = (version: string, tag: string, rest: string) => `cpython-${version}+${tag}-x86_64-unknown-linux-gnu-${rest}`

// mise-versions' python-precompiled-x86_64-unknown-linux-gnu.gz: one python-build-standalone file name a line.
const listing = [
  file("3.11.9", "20240726", "install_only.tar.gz"),
  file("3.12.3", "20240415", "install_only.tar.gz"),
  file("3.12.4", "20240713", "install_only.tar.gz"),
  file("3.12.4", "20240713", "install_only_stripped.tar.gz"),
  file("3.12.4", "20240713", "debug-full.tar.zst"),
  file("3.12.4", "20240415", "install_only_stripped.tar.gz"),
  file("3.13.0rc2", "20240909", "install_only_stripped.tar.gz"),
  file("3.14.0a5", "20250212", "install_only_stripped.tar.gz"),
  file("3.13.0", "20241016", "freethreaded+pgo+lto-full.tar.zst"),
  "cpython-3.12.4+20240713-aarch64-unknown-linux-gnu-install_only_stripped.tar.gz"
]

let index = ""
let mirror = ""

beforeAll(async () => {
  const server = h.server()
  const stripped = await tarGz(pythonTree("3.12.4"))
  const full = await tarGz([...pythonTree("3.12.4"), { name: "python/lib/python3.12/debug.py", content: "# not stripped\n" }])
  const py3119 = await tarGz(pythonTree("3.11.9"))
  const py3123 = await tarGz(pythonTree("3.12.3"))
  const pre = await tarGz(pythonTree("3.14.0a5"))
  server.route("/versions/python-precompiled-x86_64-unknown-linux-gnu.gz", zlib.gzipSync(`${listing.join("\n")}\n`))
  server.route(`/pbs/20240713/${file("3.12.4", "20240713", "install_only_stripped.tar.gz")}`, stripped)
  server.route(`/pbs/20240713/${file("3.12.4", "20240713", "install_only.tar.gz")}`, full)
  server.route(
    "/pbs/20240713/SHA256SUMS",
    `${sha256Hex(stripped)}  ${file("3.12.4", "20240713", "install_only_stripped.tar.gz")}\n` +
      `${sha256Hex(full)}  ${file("3.12.4", "20240713", "install_only.tar.gz")}\n`
  )
  // 3.11.9's release publishes a sum that does not match; 3.12.3's publishes none; 3.14.0a5 only a `.sha256` file.
  server.route(`/pbs/20240726/${file("3.11.9", "20240726", "install_only.tar.gz")}`, py3119)
  server.route("/pbs/20240726/SHA256SUMS", `${"0".repeat(64)}  ${file("3.11.9", "20240726", "install_only.tar.gz")}\n`)
  server.route(`/pbs/20240415/${file("3.12.3", "20240415", "install_only.tar.gz")}`, py3123)
  server.route(`/pbs/20250212/${file("3.14.0a5", "20250212", "install_only_stripped.tar.gz")}`, pre)
  server.route(`/pbs/20250212/${file("3.14.0a5", "20250212", "install_only_stripped.tar.gz")}.sha256`, `${sha256Hex(pre)}\n`)
  index = `${server.url}/versions/python-precompiled-{arch}-{os}.gz`
  mirror = `${server.url}/pbs/`
})

const settings = (more: Record<string, unknown> = {}) => ({ "python.index_url": index, "python.download_mirror": mirror, ...more })

describe("core python: versions from the precompiled list mise resolves against", () => {
  it("one entry per version for this platform; free-threaded builds left out", async () => {
    expect(await h.versions("python", h.ctx(settings()))).toEqual(["3.11.9", "3.12.3", "3.12.4", "3.13.0rc2", "3.14.0a5"])
  })

  it("per version: the newest release, then install_only_stripped over install_only (mise's ranking)", () => {
    expect(pythonBuilds(listing, "x86_64-unknown-linux-gnu", undefined).find((b) => b.version === "3.12.4")).toEqual({
      version: "3.12.4",
      tag: "20240713",
      file: file("3.12.4", "20240713", "install_only_stripped.tar.gz")
    })
    expect(pythonBuilds(listing, "x86_64-unknown-linux-gnu-install_only", "install_only").map((b) => b.file)).toEqual([
      file("3.11.9", "20240726", "install_only.tar.gz"),
      file("3.12.3", "20240415", "install_only.tar.gz"),
      file("3.12.4", "20240713", "install_only.tar.gz"),
      // mise matches the platform as a substring, so `install_only` also admits the stripped files, ranked after.
      file("3.13.0rc2", "20240909", "install_only_stripped.tar.gz"),
      file("3.14.0a5", "20250212", "install_only_stripped.tar.gz")
    ])
  })

  it("prefixes and latest skip pre-releases (3.14.0a5, 3.13.0rc2); an exact pre-release still resolves", async () => {
    const ctx = h.ctx(settings())
    expect(await h.resolve("python", "3", ctx)).toBe("3.12.4")
    expect(await h.resolve("python", "latest", ctx)).toBe("3.12.4")
    expect(await h.resolve("python", "3.11", ctx)).toBe("3.11.9")
    expect(await h.resolve("python", "3.14.0a5", ctx)).toBe("3.14.0a5")
    expect((await h.resolveError("python", "3.14", ctx)).message).toBe("python@3.14: no version matches (available: 3.11.9, 3.12.3, 3.12.4)")
  })

  it("python.precompiled_os / _arch pick another list; env MISE_PYTHON_INDEX_URL beats the setting", async () => {
    h.server().route("/versions/python-precompiled-aarch64-unknown-linux-gnu.gz", zlib.gzipSync(`${listing.join("\n")}\n`))
    const arm = h.ctx({ "python.precompiled_arch": "aarch64" }, { MISE_PYTHON_INDEX_URL: index })
    expect(await h.versions("python", arm)).toEqual(["3.12.4"])
  })
})

describe("core python: install", () => {
  it("installs python-build-standalone's archive from the mirror, verified with SHA256SUMS, and adds bin/python", async () => {
    const out = await h.install("python", "3.12.4", h.ctx(settings()))
    expect(out.tree).toEqual([
      "d bin",
      "f bin/pip3 755",
      "l bin/python -> python3",
      "l bin/python3 -> python3.12",
      "f bin/python3.12 755",
      "d lib",
      "d lib/python3.12",
      "f lib/python3.12/os.py 644"
    ])
    expect(execFileSync(path.join(out.dir, "bin", "python"), ["--version"], { encoding: "utf8" })).toBe("Python 3.12.4\n")
    expect(out.bins).toEqual(["bin"])
    expect(out.env).toEqual([])
  })

  it("python.precompiled_flavor = install_only takes that archive", async () => {
    const out = await h.install("python", "3.12.4", h.ctx(settings({ "python.precompiled_flavor": "install_only" })))
    expect(out.tree).toContain("f lib/python3.12/debug.py 644")
  })

  it("falls back to the file's own .sha256; with no sum published at all it warns and installs", async () => {
    const pre = await h.install("python", "3.14.0a5", h.ctx(settings()))
    expect(execFileSync(path.join(pre.dir, "bin", "python"), ["--version"], { encoding: "utf8" })).toBe("Python 3.14.0a5\n")
    expect(pre.ctx.warnings).toEqual([])
    const unverified = await h.install("python", "3.12.3", h.ctx(settings()))
    expect(unverified.ctx.warnings).toEqual([
      `python@3.12.3: no sha256 published at ${mirror}20240415/SHA256SUMS or ${mirror}20240415/${
        file("3.12.3", "20240415", "install_only.tar.gz")
      }.sha256; installing without checksum verification`
    ])
  })
})

describe("core python: errors a user can act on", () => {
  it("an archive whose sha256 is not the one in SHA256SUMS", async () => {
    const e = await h.installError("python", "3.11.9", h.ctx(settings()))
    expect(e.message).toMatch(
      new RegExp(`^python@3\\.11\\.9: checksum mismatch for ${mirror}20240726/cpython-3\\.11\\.9\\+20240726-x86_64-unknown-linux-gnu-install_only\\.tar\\.gz: expected sha256:0{64}, got sha256:[0-9a-f]{64}$`)
    )
  })

  it("an archive missing from the mirror", async () => {
    const e = await h.installError("python", "3.13.0rc2", h.ctx(settings()))
    expect(e.message).toMatch(/^python@3\.13\.0rc2: download of .*\/pbs\/20240909\/cpython-3\.13\.0rc2\+20240909-x86_64-unknown-linux-gnu-install_only_stripped\.tar\.gz failed: HTTP 404 Not Found \(the mirror is set by python\.download_mirror \(MISE_PYTHON_DOWNLOAD_MIRROR\)\)$/)
  })

  it("no precompiled build for this platform", async () => {
    h.server().route("/versions/python-precompiled-riscv64-unknown-linux-gnu.gz", zlib.gzipSync(`${listing.join("\n")}\n`))
    const ctx = h.ctx(settings(), {}, { os: "linux", arch: "riscv64" })
    expect((await h.resolveError("python", "3.12", ctx)).message).toBe("python@3.12: no version matches (no versions available)")
    expect((await h.installError("python", "3.12.4", ctx)).message).toBe(
      `python@3.12.4: no precompiled python 3.12.4 for riscv64-unknown-linux-gnu in ${h.server().url}/versions/python-precompiled-riscv64-unknown-linux-gnu.gz`
    )
  })

  it("an unreachable list names the setting", async () => {
    const e = await h.resolveError("python", "3.12", h.ctx({ "python.index_url": `${h.server().url}/nowhere.gz` }))
    expect(e.message).toBe(
      `python@3.12: download of ${h.server().url}/nowhere.gz failed: HTTP 404 Not Found (the list is set by python.index_url (MISE_PYTHON_INDEX_URL))`
    )
  })
})
