import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { type Member, tarBytes } from "./Fixtures"
import type { TestServer } from "./Server"

// Conda packages in the real formats, built by the test: `.tar.bz2` (a bzip2'd tar holding info/ and the files) and
// `.conda` (a zip of metadata.json, info-<stem>.tar.zst and pkg-<stem>.tar.zst), compressed with Debian's bzip2 and
// zstd and zipped with zip, and a channel of `<subdir>/repodata.json` listings over them.

/** conda-build's placeholder: a long build prefix, so any install path fits in binary files. */
export const PLACEHOLDER = `/home/conda/feedstock_root/build_artifacts/hello_1700000000000/_h_env_${"placehold_".repeat(20)}`.slice(0, 255)
export const LEGACY_PLACEHOLDER = "/opt/anaconda1anaconda2anaconda3"

export interface CondaFile {
  readonly path: string
  readonly content?: string
  readonly mode?: number
  readonly symlink?: string
  readonly placeholder?: "text" | "binary"
}

export interface CondaPackage {
  readonly name: string
  readonly version: string
  readonly build?: string
  readonly buildNumber?: number
  readonly depends?: ReadonlyArray<string>
  readonly subdir: string
  readonly format: "conda" | "tar.bz2"
  readonly noarch?: "generic" | "python"
  readonly files: ReadonlyArray<CondaFile>
  /** Old metadata: `info/files` and `info/has_prefix` (legacy placeholder) instead of `info/paths.json`. */
  readonly legacy?: boolean
  /** `noarch: python` console scripts (`name = module:function`), written to `info/link.json`. */
  readonly entryPoints?: ReadonlyArray<string>
  /** A sha256 for repodata other than the file's, to test verification. */
  readonly wrongSha256?: boolean
}

const sha256 = (data: Buffer | string) => createHash("sha256").update(data).digest("hex")
const run = (cmd: string, args: ReadonlyArray<string>, input?: Buffer, cwd?: string) =>
  execFileSync(cmd, args, { ...(input !== undefined ? { input } : {}), ...(cwd !== undefined ? { cwd } : {}), maxBuffer: 64 << 20 })

const buildOf = (p: CondaPackage) => p.build ?? "h0_0"
export const fileNameOf = (p: CondaPackage) => `${p.name}-${p.version}-${buildOf(p)}.${p.format}`

const indexJson = (p: CondaPackage) => ({
  name: p.name,
  version: p.version,
  build: buildOf(p),
  build_number: p.buildNumber ?? 0,
  depends: p.depends ?? [],
  subdir: p.subdir,
  ...(p.noarch !== undefined ? { noarch: p.noarch } : {}),
  license: "MIT",
  timestamp: 1700000000000
})

const infoMembers = (p: CondaPackage): ReadonlyArray<Member> => {
  const files = p.files.map((f) => f.path)
  const info: Array<Member> = [{ name: "info/index.json", content: JSON.stringify(indexJson(p), null, 2) }]
  if (p.entryPoints !== undefined) {
    const link = { noarch: { type: "python", entry_points: p.entryPoints }, package_metadata_version: 1 }
    info.push({ name: "info/link.json", content: JSON.stringify(link, null, 2) })
  }
  if (p.legacy === true) {
    info.push({ name: "info/files", content: `${files.join("\n")}\n` })
    const prefixed = p.files.filter((f) => f.placeholder !== undefined)
    if (prefixed.length > 0) info.push({ name: "info/has_prefix", content: `${prefixed.map((f) => f.path).join("\n")}\n` })
  } else {
    const paths = p.files.map((f) => ({
      _path: f.path,
      path_type: f.symlink !== undefined ? "softlink" : "hardlink",
      ...(f.placeholder !== undefined ? { prefix_placeholder: PLACEHOLDER, file_mode: f.placeholder } : {}),
      sha256: sha256(f.content ?? f.symlink ?? ""),
      size_in_bytes: Buffer.byteLength(f.content ?? "")
    }))
    info.push({ name: "info/paths.json", content: JSON.stringify({ paths, paths_version: 1 }, null, 2) })
  }
  return info
}

const fileMembers = (p: CondaPackage): ReadonlyArray<Member> =>
  p.files.map((f) =>
    f.symlink !== undefined
      ? { name: f.path, type: "symlink" as const, linkname: f.symlink }
      : { name: f.path, content: f.content ?? "", mode: f.mode ?? 0o644 }
  )

/** The package file's bytes, in its format. */
export const packageBytes = async (p: CondaPackage, work: string): Promise<Buffer> => {
  if (p.format === "tar.bz2") return run("bzip2", ["-c", "-9"], await tarBytes([...infoMembers(p), ...fileMembers(p)]))
  const stem = fileNameOf(p).replace(/\.conda$/, "")
  const dir = fs.mkdtempSync(path.join(work, "conda-"))
  fs.writeFileSync(path.join(dir, "metadata.json"), JSON.stringify({ conda_pkg_format_version: 2 }))
  fs.writeFileSync(path.join(dir, `info-${stem}.tar.zst`), run("zstd", ["-q", "-c"], await tarBytes(infoMembers(p))))
  fs.writeFileSync(path.join(dir, `pkg-${stem}.tar.zst`), run("zstd", ["-q", "-c"], await tarBytes(fileMembers(p))))
  const names = ["metadata.json", `info-${stem}.tar.zst`, `pkg-${stem}.tar.zst`]
  for (const name of names) fs.utimesSync(path.join(dir, name), 1700000000, 1700000000)
  run("zip", ["-q", "-X", "-0", "out.zip", ...names], undefined, dir)
  const bytes = fs.readFileSync(path.join(dir, "out.zip"))
  fs.rmSync(dir, { recursive: true, force: true })
  return bytes
}

/** Writes `<dir>/<subdir>/<file>` and each subdir's repodata.json; returns the files by name. */
export const writeChannel = async (dir: string, packages: ReadonlyArray<CondaPackage>, work: string): Promise<void> => {
  const listings = new Map<string, { packages: Record<string, unknown>; "packages.conda": Record<string, unknown> }>()
  for (const subdir of ["noarch", ...packages.map((p) => p.subdir)]) listings.set(subdir, { packages: {}, "packages.conda": {} })
  for (const p of packages) {
    const bytes = await packageBytes(p, work)
    const fileName = fileNameOf(p)
    fs.mkdirSync(path.join(dir, p.subdir), { recursive: true })
    fs.writeFileSync(path.join(dir, p.subdir, fileName), bytes)
    const listing = listings.get(p.subdir)!
    listing[p.format === "conda" ? "packages.conda" : "packages"][fileName] = {
      ...indexJson(p),
      md5: createHash("md5").update(bytes).digest("hex"),
      sha256: p.wrongSha256 === true ? sha256("something else") : sha256(bytes),
      size: bytes.length
    }
  }
  for (const [subdir, listing] of listings) {
    fs.mkdirSync(path.join(dir, subdir), { recursive: true })
    fs.writeFileSync(path.join(dir, subdir, "repodata.json"), JSON.stringify({ info: { subdir }, ...listing, removed: [], repodata_version: 1 }))
  }
}

/** Every file under `dir` served under `prefix` on the loopback server. */
export const serveChannel = (server: TestServer, prefix: string, dir: string): void => {
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue
    const file = path.join(entry.parentPath, entry.name)
    server.route(`${prefix}/${path.relative(dir, file)}`, fs.readFileSync(file))
  }
}

/** The tool script: what it prints shows the prefix, the placeholder replaced, and a dependency's command on PATH. */
export const helloScript = (version: string) =>
  [
    "#!/bin/sh",
    `echo "hello-conda ${version}"`,
    "echo \"CONDA_PREFIX=$CONDA_PREFIX activated=$HELLO_ACTIVATED\"",
    "cat \"$CONDA_PREFIX/share/hello-conda/config.txt\"",
    "hello-dep",
    ""
  ].join("\n")

/** A shared object stand-in: the prefix inside a NUL-terminated string, then more bytes after it. */
export const binaryWithPrefix = (prefix: string) => `\u007fELF\u0002\u0001\u0000RPATH=${prefix}/lib:${prefix}/lib64\u0000tail\u0000`

/**
 * The channel the conda tests use, for `subdir` (the platform's): hello-conda (.conda) needs hello-dep >=2,<3
 * (.tar.bz2; 3.0.0 exists too, and 2.1.0 in two builds) and hello-data (noarch, old-style metadata); the rest are
 * broken on purpose.
 */
export const typicalPackages = (subdir: string): ReadonlyArray<CondaPackage> => {
  const hello = (version: string, format: "conda" | "tar.bz2"): CondaPackage => ({
    name: "hello-conda",
    version,
    subdir,
    format,
    depends: ["hello-dep >=2,<3", "hello-data 1.*", "__glibc >=2.17", "__unix"],
    files: [
      { path: "bin/hello-conda", content: helloScript(version), mode: 0o755 },
      { path: "bin/hc", symlink: "hello-conda" },
      { path: "share/hello-conda/config.txt", content: `installed at ${PLACEHOLDER}\nlibs in ${PLACEHOLDER}/lib\n`, placeholder: "text" },
      { path: "lib/libhello.so", content: binaryWithPrefix(PLACEHOLDER), placeholder: "binary" },
      { path: "etc/conda/activate.d/hello.sh", content: "export HELLO_ACTIVATED=yes\n" }
    ]
  })
  const dep = (version: string, build: string, buildNumber: number): CondaPackage => ({
    name: "hello-dep",
    version,
    build,
    buildNumber,
    subdir,
    format: "tar.bz2",
    files: [{ path: "bin/hello-dep", content: `#!/bin/sh\necho "hello-dep ${version} ${build}"\n`, mode: 0o755 }]
  })
  const tool = (name: string, depends: ReadonlyArray<string>, extra: Partial<CondaPackage> = {}): CondaPackage => ({
    name,
    version: "1.0.0",
    subdir,
    format: "conda",
    depends,
    files: [{ path: `bin/${name}`, content: `#!/bin/sh\necho ${name}\n`, mode: 0o755 }],
    ...extra
  })
  return [
    hello("1.0.0", "conda"),
    hello("1.1.0", "conda"),
    // The same build as .tar.bz2 too: conda takes the .conda.
    hello("1.1.0", "tar.bz2"),
    hello("2.0.0rc1", "conda"),
    dep("2.0.0", "h0_0", 0),
    dep("2.1.0", "h0_0", 0),
    dep("2.1.0", "h1_1", 1),
    dep("3.0.0", "h0_0", 0),
    {
      name: "hello-data",
      version: "1.0.0",
      subdir: "noarch",
      format: "tar.bz2",
      noarch: "generic",
      legacy: true,
      files: [{ path: "share/hello-data/data.txt", content: `data for ${LEGACY_PLACEHOLDER}\n`, placeholder: "text" }]
    },
    tool("chain-tool", ["middle >=1"]),
    { ...tool("middle", ["hello-dep >=9"]), format: "tar.bz2" },
    tool("glibc-tool", ["__glibc >=2.28"]),
    tool("missing-dep-tool", ["nothere >=1"]),
    tool("bad-sum", [], { wrongSha256: true }),
    // A stand-in python: the host's /usr/bin/python3 (by absolute path: the prefix's bin comes first on PATH) with
    // the prefix's site-packages on its path.
    {
      name: "python",
      version: "3.11.4",
      subdir,
      format: "tar.bz2",
      files: [
        { path: "bin/python3.11", content: "#!/bin/sh\nPYTHONPATH=\"$(dirname \"$0\")/../lib/python3.11/site-packages\" exec /usr/bin/python3 \"$@\"\n", mode: 0o755 },
        { path: "bin/python3", symlink: "python3.11" }
      ]
    },
    {
      name: "py-tool",
      version: "1.0.0",
      subdir: "noarch",
      format: "conda",
      noarch: "python",
      depends: ["python >=3.8"],
      entryPoints: ["py-tool = py_tool.cli:main"],
      files: [
        { path: "site-packages/py_tool/__init__.py", content: "" },
        { path: "site-packages/py_tool/cli.py", content: "def main():\n    print(\"py-tool says hi\")\n    return 0\n" }
      ]
    }
  ]
}
