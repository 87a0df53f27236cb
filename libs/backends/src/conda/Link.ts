import { Effect, ParseResult, Schema } from "effect"
import * as fsp from "node:fs/promises"
import * as NodePath from "node:path"
import { type ArchiveError, extractArchive } from "../Archive"

/** `info/paths.json`: every file a package puts in the prefix, and how its build prefix is written in it. */
const PathsJson = Schema.Struct({
  paths: Schema.Array(
    Schema.Struct({
      _path: Schema.String,
      path_type: Schema.optionalWith(Schema.Literal("hardlink", "softlink", "directory"), { default: () => "hardlink" as const }),
      prefix_placeholder: Schema.optional(Schema.String),
      file_mode: Schema.optional(Schema.Literal("text", "binary"))
    })
  )
})

/** `info/link.json` of a `noarch: python` package: the console scripts to write. */
const LinkJson = Schema.Struct({
  noarch: Schema.optional(
    Schema.Struct({ type: Schema.String, entry_points: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] }) })
  )
})

/** The python a `noarch: python` package is linked for: `3.11` from the solved python package. */
export interface PythonTarget {
  readonly shortVersion: string
}

export interface PathEntry {
  readonly path: string
  readonly type: "hardlink" | "softlink" | "directory"
  readonly placeholder?: { readonly prefix: string; readonly mode: "text" | "binary" }
}

export class LinkError extends Error {}

/** conda-build's placeholder for `info/has_prefix` lines that name only a path. */
const LEGACY_PLACEHOLDER = "/opt/anaconda1anaconda2anaconda3"

/** Unpack a `.tar.bz2` or `.conda` (a zip of `info-*.tar.zst` and `pkg-*.tar.zst`) into `dir`. */
export const unpackPackage = (archive: string, dir: string): Effect.Effect<void, ArchiveError | LinkError> =>
  Effect.gen(function*() {
    if (archive.endsWith(".tar.bz2")) {
      yield* extractArchive(archive, dir, { format: "tar.bz2", stripComponents: 0 })
      return
    }
    const parts = `${dir}.parts`
    yield* extractArchive(archive, parts, { format: "zip", stripComponents: 0 })
    const names = yield* Effect.promise(() => fsp.readdir(parts))
    const inner = names.filter((n) => /^(info|pkg)-.+\.tar\.zst$/.test(n)).sort()
    if (!inner.some((n) => n.startsWith("pkg-")) || !inner.some((n) => n.startsWith("info-"))) {
      return yield* Effect.fail(
        new LinkError(`${NodePath.basename(archive)} is not a .conda package: it holds ${names.join(", ") || "nothing"}, not info-*.tar.zst and pkg-*.tar.zst`)
      )
    }
    for (const name of inner) yield* extractArchive(NodePath.join(parts, name), dir, { format: "tar.zst", stripComponents: 0 })
    yield* Effect.promise(() => fsp.rm(parts, { recursive: true, force: true }))
  })

const exists = (file: string) => fsp.access(file).then(() => true, () => false)

/** A `has_prefix` line: `<placeholder> <text|binary> <path>` or just `<path>`, each field maybe quoted. */
const hasPrefixLine = (line: string): readonly [string, PathEntry["placeholder"]] | undefined => {
  const fields = line.match(/"[^"]*"|'[^']*'|\S+/g)?.map((f) => f.replace(/^(["'])(.*)\1$/, "$2")) ?? []
  if (fields.length === 1) return [fields[0]!, { prefix: LEGACY_PLACEHOLDER, mode: "text" }]
  if (fields.length === 3 && (fields[1] === "text" || fields[1] === "binary")) return [fields[2]!, { prefix: fields[0]!, mode: fields[1] }]
  return undefined
}

/** What the package installs: `info/paths.json`, else conda's older `info/files` with `info/has_prefix`. */
export const readPathEntries = async (dir: string, packageName: string): Promise<ReadonlyArray<PathEntry>> => {
  const pathsJson = NodePath.join(dir, "info", "paths.json")
  if (await exists(pathsJson)) {
    const decoded = Schema.decodeUnknownEither(Schema.parseJson(PathsJson))(await fsp.readFile(pathsJson, "utf8"))
    if (decoded._tag === "Left") {
      const problem = ParseResult.TreeFormatter.formatErrorSync(decoded.left).split("\n").slice(0, 4).join(" ")
      throw new LinkError(`${packageName}: info/paths.json is malformed: ${problem}`)
    }
    return decoded.right.paths.map((p) => ({
      path: p._path,
      type: p.path_type,
      ...(p.prefix_placeholder !== undefined ? { placeholder: { prefix: p.prefix_placeholder, mode: p.file_mode ?? "text" } } : {})
    }))
  }
  const filesList = NodePath.join(dir, "info", "files")
  if (!(await exists(filesList))) throw new LinkError(`${packageName}: the package has neither info/paths.json nor info/files`)
  const hasPrefix = new Map<string, PathEntry["placeholder"]>()
  const hasPrefixFile = NodePath.join(dir, "info", "has_prefix")
  if (await exists(hasPrefixFile)) {
    for (const line of (await fsp.readFile(hasPrefixFile, "utf8")).split("\n")) {
      const parsed = line.trim() === "" ? undefined : hasPrefixLine(line.trim())
      if (parsed !== undefined) hasPrefix.set(parsed[0], parsed[1])
    }
  }
  const entries: Array<PathEntry> = []
  for (const line of (await fsp.readFile(filesList, "utf8")).split("\n")) {
    const path = line.trim()
    if (path === "") continue
    const type = (await fsp.lstat(NodePath.join(dir, path))).isSymbolicLink() ? "softlink" : "hardlink"
    const placeholder = hasPrefix.get(path)
    entries.push({ path, type, ...(placeholder !== undefined ? { placeholder } : {}) })
  }
  return entries
}

/** A path from package metadata, refused if it could leave the prefix. */
const safeRelative = (packageName: string, path: string): string => {
  const parts = path.split("/").filter((p) => p !== "" && p !== ".")
  if (path.startsWith("/") || parts.includes("..") || parts.length === 0) {
    throw new LinkError(`${packageName}: info/paths.json names ${path}, which is outside the prefix`)
  }
  return parts.join("/")
}

const replaceAll = (data: Buffer, from: Buffer, to: Buffer): Buffer => {
  const pieces: Array<Buffer> = []
  let start = 0
  for (let at = data.indexOf(from); at >= 0; at = data.indexOf(from, start)) {
    pieces.push(data.subarray(start, at), to)
    start = at + from.length
  }
  if (start === 0) return data
  pieces.push(data.subarray(start))
  return Buffer.concat(pieces)
}

/** Linux reads at most this much of a `#!` line (before 5.1 it cut there); longer ones go through `env`, as conda does. */
const SHEBANG_MAX = 127

const shortenShebang = (data: Buffer, prefix: string): Buffer => {
  if (data[0] !== 0x23 || data[1] !== 0x21) return data
  const end = data.indexOf(0x0a)
  const line = data.subarray(0, end < 0 ? data.length : end).toString("utf8")
  if (line.length <= SHEBANG_MAX || !line.includes(prefix)) return data
  const [interpreter = "", ...args] = line.slice(2).trim().split(/\s+/)
  const shorter = `#!/usr/bin/env ${[NodePath.posix.basename(interpreter), ...args].join(" ")}`
  return Buffer.concat([Buffer.from(shorter), end < 0 ? Buffer.alloc(0) : data.subarray(end)])
}

/**
 * conda's prefix replacement. Text files: every placeholder becomes the prefix (a `#!` line made too long is
 * shortened through `/usr/bin/env`). Binary files: in each NUL-terminated string holding the placeholder, the
 * placeholder becomes the prefix and the string is padded with NULs, so offsets and the file size stay the same.
 */
export const replacePrefix = (data: Buffer, placeholder: string, prefix: string, mode: "text" | "binary"): Buffer => {
  const from = Buffer.from(placeholder)
  const to = Buffer.from(prefix)
  if (mode === "text") return shortenShebang(replaceAll(data, from, to), prefix)
  if (to.length > from.length) {
    throw new LinkError(`the install path ${prefix} (${to.length} bytes) is longer than the package's build prefix (${from.length} bytes), so binary files cannot be patched; use a shorter data dir`)
  }
  const out = Buffer.from(data)
  for (let at = out.indexOf(from); at >= 0;) {
    const nul = out.indexOf(0, at)
    if (nul < 0) break
    const original = out.subarray(at, nul)
    const replaced = replaceAll(Buffer.from(original), from, to)
    out.fill(0, at, nul)
    replaced.copy(out, at)
    at = out.indexOf(from, nul)
  }
  return out
}

/** Where a `noarch: python` file goes: `site-packages/` into the python's, `python-scripts/` into `bin/`. */
const noarchPythonPath = (path: string, python: PythonTarget): string =>
  path.startsWith("site-packages/")
    ? `lib/python${python.shortVersion}/${path}`
    : path.startsWith("python-scripts/")
    ? `bin/${path.slice("python-scripts/".length)}`
    : path

/** A console script as conda writes one for an entry point `name = module:function`. */
export const entryPointScript = (prefix: string, python: PythonTarget, module: string, func: string): string => {
  const head = func.split(".")[0]!
  return [
    `#!${prefix}/bin/python${python.shortVersion}`,
    "# -*- coding: utf-8 -*-",
    "import re",
    "import sys",
    "",
    `from ${module} import ${head}`,
    "",
    "if __name__ == '__main__':",
    "    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])",
    `    sys.exit(${func}())`,
    ""
  ].join("\n")
}

const writeEntryPoints = async (
  unpacked: string,
  prefix: string,
  packageName: string,
  python: PythonTarget
): Promise<ReadonlyArray<PathEntry>> => {
  const file = NodePath.join(unpacked, "info", "link.json")
  if (!(await exists(file))) return []
  const decoded = Schema.decodeUnknownEither(Schema.parseJson(LinkJson))(await fsp.readFile(file, "utf8"))
  if (decoded._tag === "Left") throw new LinkError(`${packageName}: info/link.json is malformed: ${decoded.left.message.split("\n")[0]}`)
  const entries: Array<PathEntry> = []
  for (const line of decoded.right.noarch?.entry_points ?? []) {
    const m = /^\s*([^=\s]+)\s*=\s*([\w.]+)\s*:\s*([\w.]+)\s*$/.exec(line)
    if (m === null) throw new LinkError(`${packageName}: cannot read the entry point "${line}" in info/link.json`)
    const script = shortenShebang(Buffer.from(entryPointScript(prefix, python, m[2]!, m[3]!)), prefix)
    const relative = safeRelative(packageName, `bin/${m[1]!}`)
    await fsp.mkdir(NodePath.join(prefix, "bin"), { recursive: true })
    await fsp.rm(NodePath.join(prefix, relative), { force: true })
    await fsp.writeFile(NodePath.join(prefix, relative), script, { mode: 0o755 })
    entries.push({ path: relative, type: "hardlink" })
  }
  return entries
}

/**
 * Move an unpacked package's files into the prefix as conda links them: only what its metadata lists, symlinks kept,
 * prefix placeholders replaced. A file another package already put there is replaced (the later package wins).
 * A `noarch: python` package (`python` given) goes into that python's site-packages, with its entry points as scripts.
 */
export const linkPackage = async (
  unpacked: string,
  prefix: string,
  packageName: string,
  python?: PythonTarget
): Promise<ReadonlyArray<PathEntry>> => {
  const listed = await readPathEntries(unpacked, packageName)
  const entries = python === undefined ? listed : listed.map((e) => ({ ...e, path: noarchPythonPath(e.path, python) }))
  for (const [i, entry] of entries.entries()) {
    const relative = safeRelative(packageName, entry.path)
    const source = NodePath.join(unpacked, safeRelative(packageName, listed[i]!.path))
    const target = NodePath.join(prefix, relative)
    if (entry.type === "directory") {
      await fsp.mkdir(target, { recursive: true })
      continue
    }
    await fsp.mkdir(NodePath.dirname(target), { recursive: true })
    await fsp.rm(target, { force: true })
    const info = await fsp.lstat(source).catch(() => undefined)
    if (info === undefined) throw new LinkError(`${packageName}: ${relative} is listed in its metadata but not in the package`)
    if (info.isSymbolicLink()) {
      await fsp.symlink(await fsp.readlink(source), target)
    } else if (entry.placeholder !== undefined) {
      const patched = replacePrefix(await fsp.readFile(source), entry.placeholder.prefix, prefix, entry.placeholder.mode)
      await fsp.writeFile(target, patched, { mode: info.mode & 0o777 })
      await fsp.chmod(target, info.mode & 0o777)
    } else {
      await fsp.rename(source, target).catch(() => fsp.copyFile(source, target))
    }
  }
  return python === undefined ? entries : [...entries, ...(await writeEntryPoints(unpacked, prefix, packageName, python))]
}

const shellQuote = (value: string) => `'${value.replace(/'/g, "'\\''")}'`

/**
 * mise's `.mise-bins` launcher: it activates the package's prefix (CONDA_PREFIX, its bin on PATH, the
 * `etc/conda/activate.d` scripts) for this one command. The prefix is found from the launcher's own place, so the
 * same file works in the install and at the image's mount point (mise writes the host path in).
 */
export const launcherScript = (command: string): string =>
  [
    "#!/bin/sh",
    "_mise_conda_self=$(readlink -f \"$0\" 2>/dev/null || printf '%s' \"$0\")",
    "CONDA_PREFIX=$(cd \"$(dirname \"$_mise_conda_self\")/..\" && pwd -P) || exit 1",
    "unset _mise_conda_self",
    "export CONDA_PREFIX",
    "export CONDA_DEFAULT_ENV=\"$CONDA_PREFIX\"",
    "export CONDA_SHLVL=1",
    "export PATH=\"$CONDA_PREFIX/bin${PATH:+:$PATH}\"",
    "for _mise_conda_script in \"$CONDA_PREFIX\"/etc/conda/activate.d/*.sh; do",
    "\tif [ -f \"$_mise_conda_script\" ]; then",
    "\t\t. \"$_mise_conda_script\" || exit $?",
    "\tfi",
    "done",
    "unset _mise_conda_script",
    `exec "$CONDA_PREFIX/bin/"${shellQuote(command)} "$@"`,
    ""
  ].join("\n")

/** rattler's cache-directory tag, which mise's installs carry at the prefix root (backup tools skip the prefix). */
const CACHEDIR_TAG = [
  "Signature: 8a477f597d28d172789f06886806bc55",
  "# This file is a cache directory tag created by rattler.",
  "# For information about cache directory tags, see:",
  "#\thttps://bford.info/cachedir/",
  ""
].join("\n")

/** A prefix as rattler creates it: conda tools recognise an environment by its `conda-meta/history`. */
export const createPrefix = async (prefix: string): Promise<void> => {
  await fsp.mkdir(NodePath.join(prefix, "conda-meta"), { recursive: true })
  await fsp.writeFile(NodePath.join(prefix, "conda-meta", "history"), "")
  await fsp.writeFile(NodePath.join(prefix, "CACHEDIR.TAG"), CACHEDIR_TAG)
}

/** The directory of launchers, one per command the main package puts in `bin/`. */
export const LAUNCHER_DIR = ".mise-bins"

export const writeLaunchers = async (prefix: string, mainEntries: ReadonlyArray<PathEntry>): Promise<ReadonlyArray<string>> => {
  const dir = NodePath.join(prefix, LAUNCHER_DIR)
  await fsp.mkdir(dir, { recursive: true })
  const written: Array<string> = []
  for (const entry of mainEntries) {
    const parts = entry.path.split("/")
    if (parts[0] !== "bin" || parts.length !== 2 || entry.type === "directory") continue
    const name = parts[1]!
    if (written.includes(name) || !(await exists(NodePath.join(prefix, "bin", name)))) continue
    await fsp.writeFile(NodePath.join(dir, name), launcherScript(name), { mode: 0o755 })
    written.push(name)
  }
  return written.sort()
}

/** mise makes every file in `bin/` executable after linking (some packages ship scripts without the bit). */
export const makeBinsExecutable = async (prefix: string): Promise<void> => {
  const bin = NodePath.join(prefix, "bin")
  const names = await fsp.readdir(bin).catch(() => [] as Array<string>)
  for (const name of names) {
    const file = NodePath.join(bin, name)
    const info = await fsp.lstat(file)
    if (info.isFile()) await fsp.chmod(file, (info.mode & 0o777) | 0o111)
  }
}
