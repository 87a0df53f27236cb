/** uid/gid written into tar headers. */
export interface Owner {
  readonly uid: number
  readonly gid: number
}

/** What lstat said when the tree was walked; callers use it to fingerprint a layer without reading it. */
export interface FileStat {
  readonly size: number
  readonly mtimeMs: number
  readonly ctimeMs: number
  readonly ino: number
  readonly dev: number
}

/**
 * Where a file's bytes come from. A `path` source is read in chunks while the tar is produced; `replaceHead`
 * swaps its first bytes (a relocated `#!` line) without loading the rest of the file.
 */
export type FileSource =
  | { readonly type: "bytes"; readonly data: Uint8Array }
  | {
    readonly type: "path"
    readonly path: Buffer
    readonly replaceHead?: { readonly original: Uint8Array; readonly data: Uint8Array }
  }

/**
 * One tar entry. `path` is the exact name written to the tar (raw bytes, never re-encoded); directories end in `/`.
 * `owner` overrides the layer's owner for this entry only.
 */
export type LayerEntry =
  | { readonly kind: "dir"; readonly path: Buffer; readonly mode: number; readonly owner?: Owner }
  | {
    readonly kind: "file"
    readonly path: Buffer
    readonly mode: number
    /** Size in the tar; undefined for a path source whose size is taken when the file is opened. */
    readonly size?: number
    readonly source: FileSource
    readonly stat?: FileStat
    readonly owner?: Owner
  }
  | { readonly kind: "symlink"; readonly path: Buffer; readonly target: Buffer; readonly owner?: Owner }

/** A synthetic file: in-memory bytes or a host file read at write time (e.g. the mise binary). */
export type FileInput =
  & { readonly path: string; readonly mode: number; readonly owner?: Owner }
  & ({ readonly data: Uint8Array } | { readonly source: string })

const SLASH = 0x2f

const trimSlashes = (p: string): string => p.replace(/^\/+/, "").replace(/\/+$/, "")

const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b))

/**
 * In-memory layers, in mise's order (`build_layer_from_files_and_dirs`): dirs sorted by byte string, each preceded
 * by its missing parents; then files sorted by byte string, missing parents emitted just before each file.
 * Generated parents are 0755; explicit modes are kept as given (mise 0755, config.toml 0644).
 */
export const fileEntries = (
  files: ReadonlyArray<FileInput>,
  dirs: ReadonlyArray<string> = []
): ReadonlyArray<LayerEntry> => {
  const out: Array<LayerEntry> = []
  const emitted = new Set<string>()
  const emitDir = (dir: string) => {
    if (emitted.has(dir)) return
    emitted.add(dir)
    out.push({ kind: "dir", path: Buffer.from(`${dir}/`), mode: 0o755 })
  }
  const emitParents = (path: string) => {
    const parts = path.split("/")
    for (let i = 1; i < parts.length; i++) emitDir(parts.slice(0, i).join("/"))
  }
  for (const dir of dirs.map(trimSlashes).filter((d) => d.length > 0).sort(byteOrder)) {
    emitParents(dir)
    emitDir(dir)
  }
  const sorted = files.map((f) => ({ ...f, path: trimSlashes(f.path) })).sort((a, b) => byteOrder(a.path, b.path))
  for (const file of sorted) {
    emitParents(file.path)
    const owner = file.owner !== undefined ? { owner: file.owner } : {}
    out.push(
      "data" in file
        ? {
          kind: "file",
          path: Buffer.from(file.path),
          mode: file.mode,
          size: file.data.length,
          source: { type: "bytes", data: file.data },
          ...owner
        }
        : { kind: "file", path: Buffer.from(file.path), mode: file.mode, source: { type: "path", path: Buffer.from(file.source) }, ...owner }
    )
  }
  return out
}

/** The tar name of an entry: directories always carry their trailing slash. */
export const tarName = (entry: LayerEntry): Buffer =>
  entry.kind === "dir" && entry.path[entry.path.length - 1] !== SLASH ? Buffer.concat([entry.path, Buffer.from("/")]) : entry.path
