import { Effect } from "effect"
import { createHash, randomUUID } from "node:crypto"
import { createReadStream } from "node:fs"
import { copyFile, mkdir, open, readdir, readFile, rename, rm, stat } from "node:fs/promises"
import { basename, dirname, join } from "node:path"
import { type Digest, digestHex, digestOf, isDigest } from "./Digest"
import { ioError, LayoutError } from "./Errors"
import {
  decodeImageConfig,
  decodeIndex,
  decodeManifest,
  type Descriptor,
  encodeIndex,
  type ImageConfig,
  type ImageIndex,
  isIndexMediaType,
  type Manifest,
  OCI_LAYOUT_FILE
} from "./Model"

/** An OCI image layout directory being written. Every write is temp file + rename, so readers never see half a file. */
export interface Layout {
  readonly dir: string
  readonly blobPath: (digest: Digest) => string
  /** Stores `bytes` as a blob; an existing blob is kept only if its content still hashes to its name. */
  readonly putBlob: (bytes: Uint8Array, mediaType?: string) => Effect.Effect<Descriptor, LayoutError>
  /** Moves a finished temp file (e.g. a `LayerBlob`) into `blobs/sha256/`. */
  readonly adoptBlob: (tempPath: string, digest: Digest, size: number) => Effect.Effect<void, LayoutError>
  /** Reads a blob and checks its digest. */
  readonly readBlob: (digest: Digest) => Effect.Effect<Uint8Array, LayoutError>
  readonly writeIndex: (index: ImageIndex) => Effect.Effect<void, LayoutError>
  /** Deletes every blob (and stray temp file) not in `keep`; returns the removed file names. */
  readonly prune: (keep: ReadonlySet<Digest>) => Effect.Effect<ReadonlyArray<string>, LayoutError>
}

const attempt = <A>(action: string, path: string, f: () => Promise<A>): Effect.Effect<A, LayoutError> =>
  Effect.tryPromise({ try: f, catch: ioError(action, path) })

const isMissing = (cause: unknown): boolean =>
  typeof cause === "object" && cause !== null && "code" in cause && cause.code === "ENOENT"

const tempName = (path: string): string => join(dirname(path), `.${basename(path)}.tmp-${randomUUID()}`)

/**
 * Temp file in the destination's directory (`tempPath`, by default `.<name>.tmp-<uuid>`), fsynced, then renamed over
 * the destination: readers never see half a file, and a killed writer leaves only a temp file behind.
 */
export const writeFileAtomic = async (
  path: string,
  data: Uint8Array | string,
  options: { readonly mode?: number; readonly tempPath?: string; readonly inode?: boolean } = {}
): Promise<{ readonly ino?: number }> => {
  const temp = options.tempPath ?? tempName(path)
  try {
    const fh = await open(temp, "wx", options.mode ?? 0o644)
    let ino: number | undefined
    try {
      await fh.writeFile(data)
      await fh.sync()
      // `inode`: the inode written, so a caller that stats `path` afterwards can tell its file from one renamed over it.
      if (options.inode === true) ino = (await fh.stat()).ino
    } finally {
      await fh.close()
    }
    await rename(temp, path)
    return ino === undefined ? {} : { ino }
  } catch (cause) {
    await rm(temp, { force: true })
    throw cause
  }
}

/** sha256 of a file, streamed; undefined when it does not exist. */
const hashFile = (path: string): Promise<Digest | undefined> =>
  new Promise((resolve, reject) => {
    const hash = createHash("sha256")
    createReadStream(path)
      .on("data", (chunk) => hash.update(chunk))
      .on("end", () => resolve(`sha256:${hash.digest("hex")}`))
      .on("error", (cause) => (isMissing(cause) ? resolve(undefined) : reject(cause)))
  })

const make = (dir: string): Layout => {
  const blobsDir = join(dir, "blobs", "sha256")
  const blobPath = (digest: Digest) => join(blobsDir, digestHex(digest))

  const putBlob = (bytes: Uint8Array, mediaType = "application/octet-stream") => {
    const digest = digestOf(bytes)
    const path = blobPath(digest)
    return attempt("write blob", path, async () => {
      if ((await hashFile(path)) !== digest) await writeFileAtomic(path, bytes)
      const descriptor: Descriptor = { mediaType, size: bytes.length, digest }
      return descriptor
    })
  }

  const adoptBlob = (tempPath: string, digest: Digest, size: number) => {
    const path = blobPath(digest)
    return attempt("store blob", path, async () => {
      const actual = (await stat(tempPath)).size
      if (actual !== size) {
        throw new LayoutError({
          reason: "Digest",
          message: `${tempPath} holds ${actual} bytes but blob ${digest} should have ${size}`,
          path: tempPath,
          digest
        })
      }
      if ((await hashFile(path)) === digest) {
        await rm(tempPath, { force: true })
        return
      }
      await rename(tempPath, path).catch(async (cause: unknown) => {
        // A temp dir on another filesystem cannot be renamed across; copy beside the blob, then rename.
        if (!(typeof cause === "object" && cause !== null && "code" in cause && cause.code === "EXDEV")) throw cause
        const temp = tempName(path)
        await copyFile(tempPath, temp)
        await rename(temp, path)
        await rm(tempPath, { force: true })
      })
    })
  }

  const readBlob = (digest: Digest) => {
    const path = blobPath(digest)
    return attempt("read blob", path, async () => {
      const bytes = await readFile(path)
      const actual = digestOf(bytes)
      if (actual !== digest) {
        throw new LayoutError({
          reason: "Digest",
          message: `blob digest mismatch: got ${actual}, expected ${digest} (${path} is corrupt)`,
          path,
          digest
        })
      }
      return new Uint8Array(bytes)
    })
  }

  const writeIndex = (index: ImageIndex) => {
    const path = join(dir, "index.json")
    return attempt("write", path, () => writeFileAtomic(path, encodeIndex(index)))
  }

  const prune = (keep: ReadonlySet<Digest>) =>
    attempt("prune", blobsDir, async () => {
      const removed: Array<string> = []
      for (const name of await readdir(blobsDir)) {
        const digest = `sha256:${name}`
        if (isDigest(digest) && keep.has(digest)) continue
        await rm(join(blobsDir, name), { force: true, recursive: true })
        removed.push(name)
      }
      return removed.sort()
    })

  return { dir, blobPath, putBlob, adoptBlob, readBlob, writeIndex, prune }
}

/** Creates (or reuses) a layout: `oci-layout` and `blobs/sha256/`. Existing blobs stay until `prune`. */
export const openLayout = (dir: string): Effect.Effect<Layout, LayoutError> =>
  attempt("create OCI layout in", dir, async () => {
    await mkdir(join(dir, "blobs", "sha256"), { recursive: true })
    const marker = join(dir, "oci-layout")
    const current = await readFile(marker, "utf8").catch((cause: unknown) => (isMissing(cause) ? undefined : Promise.reject(cause)))
    if (current !== OCI_LAYOUT_FILE) await writeFileAtomic(marker, new TextEncoder().encode(OCI_LAYOUT_FILE))
    return make(dir)
  })

export interface LayoutImage {
  readonly descriptor: Descriptor
  readonly manifest: Manifest
  readonly config: ImageConfig
}

export interface LayoutContents {
  readonly layout: Layout
  readonly index: ImageIndex
  /** One per image manifest listed in index.json, in index order; nested indexes are not descended. */
  readonly images: ReadonlyArray<LayoutImage>
}

/** Reads index.json → manifests → configs back, verifying every digest and decoding through Schema. */
export const readLayout = (dir: string): Effect.Effect<LayoutContents, LayoutError> =>
  Effect.gen(function*() {
    const indexPath = join(dir, "index.json")
    const indexBytes = yield* attempt("read", indexPath, () =>
      readFile(indexPath).catch((cause: unknown) => {
        if (!isMissing(cause)) throw cause
        throw new LayoutError({
          reason: "InvalidLayout",
          message: `${dir}: does not look like an OCI image layout (missing index.json)`,
          path: dir
        })
      }))
    const index = yield* decodeIndex(indexBytes, indexPath)
    const layout = make(dir)
    const images = yield* Effect.forEach(
      index.manifests.filter((d) => !isIndexMediaType(d.mediaType)),
      (descriptor) =>
        Effect.gen(function*() {
          const manifest = yield* layout.readBlob(descriptor.digest).pipe(
            Effect.flatMap((bytes) => decodeManifest(bytes, layout.blobPath(descriptor.digest)))
          )
          const config = yield* layout.readBlob(manifest.config.digest).pipe(
            Effect.flatMap((bytes) => decodeImageConfig(bytes, layout.blobPath(manifest.config.digest)))
          )
          const image: LayoutImage = { descriptor, manifest, config }
          return image
        })
    )
    const contents: LayoutContents = { layout, index, images }
    return contents
  })
