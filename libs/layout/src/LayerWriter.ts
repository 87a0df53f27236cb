import { Effect } from "effect"
import { createHash, randomUUID } from "node:crypto"
import { open, rm } from "node:fs/promises"
import { join } from "node:path"
import type { Digest } from "./Digest"
import { asLayoutError, type LayoutError } from "./Errors"
import { GZIP_MEMBER_SIZE, gzipMembers, takeBuffer } from "./Gzip"
import type { LayerEntry, Owner } from "./LayerEntry"
import { Progress, type ProgressShape } from "./Progress"
import { tarChunks } from "./Tar"

/** A finished layer: `path` is a temp file holding the gzip bytes, ready for `Layout.adoptBlob`. */
export interface LayerBlob {
  /** sha256 of the gzip bytes (the manifest's layer digest). */
  readonly digest: Digest
  /** sha256 of the uncompressed tar (the config's rootfs.diff_ids entry). */
  readonly diffId: Digest
  readonly size: number
  readonly uncompressedSize: number
  readonly path: string
}

export interface WriteLayerOptions {
  /** Owner of every entry except GNU long-name records (always 0:0) and entries carrying their own owner. */
  readonly owner: Owner
  readonly tempDir: string
}

async function* counted(
  source: AsyncIterable<Buffer>,
  hash: ReturnType<typeof createHash>,
  count: { n: number },
  progress?: ProgressShape
) {
  for await (const chunk of source) {
    hash.update(chunk)
    count.n += chunk.length
    progress?.advance(chunk.length)
    yield chunk
  }
}

const produce = async (entries: Iterable<LayerEntry>, opts: WriteLayerOptions, path: string, signal: AbortSignal, progress: ProgressShape) => {
  const diff = createHash("sha256")
  const comp = createHash("sha256")
  const tarSize = { n: 0 }
  let gzSize = 0
  // Progress counts tar bytes going into gzip: what a user knows the size of (the tool), at the compressor's pace.
  // The tar is cut straight into pooled gzip members: no byte of it is copied or lands in fresh memory.
  const tar = counted(tarChunks(entries, opts.owner, () => takeBuffer(GZIP_MEMBER_SIZE)), diff, tarSize, progress)
  const file = await open(path, "wx")
  try {
    for await (const member of gzipMembers(tar)) {
      signal.throwIfAborted()
      comp.update(member)
      gzSize += member.length
      for (let offset = 0; offset < member.length;) offset += (await file.write(member, offset)).bytesWritten
    }
  } finally {
    await file.close()
  }
  const blob: LayerBlob = {
    digest: `sha256:${comp.digest("hex")}`,
    diffId: `sha256:${diff.digest("hex")}`,
    size: gzSize,
    uncompressedSize: tarSize.n,
    path
  }
  return blob
}

/**
 * Tars and gzips `entries` into a temp file in one streaming pass, hashing both sides on the way: nothing holds a
 * whole layer in memory.
 */
export const writeLayer = (
  entries: Iterable<LayerEntry>,
  opts: WriteLayerOptions
): Effect.Effect<LayerBlob, LayoutError> =>
  Effect.flatMap(Progress, (progress) => {
    const path = join(opts.tempDir, `layer-${randomUUID()}.tar.gz`)
    return Effect.tryPromise({
      try: (signal) => produce(entries, opts, path, signal, progress),
      catch: asLayoutError(`writing layer ${path}`)
    }).pipe(
      Effect.onError(() =>
        // The partial temp file is garbage either way; a failure to delete it must not hide the real error.
        Effect.promise(() => rm(path, { force: true }).catch(() => undefined))
      )
    )
  })
