import { Effect } from "effect"
import { createReadStream, createWriteStream } from "node:fs"
import { open, readFile } from "node:fs/promises"
import { join } from "node:path"
import { Readable, type Writable } from "node:stream"
import { pipeline } from "node:stream/promises"
import * as zlib from "node:zlib"
import { type Digest, digestHex } from "./Digest"
import { ioError, LayoutError } from "./Errors"
import type { LayerEntry } from "./LayerEntry"
import type { LayoutImage } from "./Layout"
import { tarChunks } from "./Tar"

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b])
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd])

type Compression = "gzip" | "zstd" | "none"

/** Sniffed from the blob's first bytes, as mise does: media types lie more often than magic numbers. */
const sniff = async (path: string): Promise<Compression> => {
  const fh = await open(path, "r")
  try {
    const head = Buffer.alloc(4)
    const { bytesRead } = await fh.read(head, 0, 4, 0)
    if (bytesRead >= 2 && head.subarray(0, 2).equals(GZIP_MAGIC)) return "gzip"
    if (bytesRead >= 4 && head.equals(ZSTD_MAGIC)) return "zstd"
    return "none"
  } finally {
    await fh.close()
  }
}

/** zstd decompression arrived in Node 22.15; older runtimes cannot load zstd layers into docker. */
const zstdDecompressor = (): NodeJS.ReadWriteStream | undefined => {
  const make = (zlib as unknown as { createZstdDecompress?: () => NodeJS.ReadWriteStream }).createZstdDecompress
  return make?.()
}

/** The layer as a plain tar on disk: the blob itself when uncompressed, else decompressed into `tempDir`. */
const plainLayer = async (blob: string, tempDir: string, index: number): Promise<string> => {
  const kind = await sniff(blob)
  if (kind === "none") return blob
  const decompressor = kind === "gzip" ? zlib.createGunzip() : zstdDecompressor()
  if (decompressor === undefined) {
    throw new LayoutError({
      reason: "InvalidLayout",
      message: `layer ${blob} is zstd-compressed, which this Node.js (${process.version}) cannot decompress for docker load; use podman`,
      path: blob
    })
  }
  const out = join(tempDir, `${index}.tar`)
  await pipeline(createReadStream(blob), decompressor, createWriteStream(out, { flags: "wx" }))
  return out
}

const bytesEntry = (path: string, data: Uint8Array): LayerEntry => ({
  kind: "file",
  path: Buffer.from(path),
  mode: 0o644,
  size: data.length,
  source: { type: "bytes", data }
})

/**
 * Streams `image` as a docker-archive (what `docker load` reads) into `out`, in mise's entry order:
 * `<config hex>.json`, then `<i>/layer.tar` per layer (decompressed), then `manifest.json` naming `repoTag`.
 * Every header is GNU, mode 0644, root-owned, mtime 0; no directory entries.
 */
export const writeDockerArchive = (
  image: LayoutImage,
  blobPath: (digest: Digest) => string,
  repoTag: string,
  tempDir: string,
  out: Writable
): Effect.Effect<void, LayoutError> =>
  Effect.tryPromise({
    try: async () => {
      const configName = `${digestHex(image.manifest.config.digest)}.json`
      const config = await readFile(blobPath(image.manifest.config.digest))
      const layers: Array<string> = []
      for (const [i, layer] of image.manifest.layers.entries()) layers.push(await plainLayer(blobPath(layer.digest), tempDir, i))
      const manifest = JSON.stringify([
        { Config: configName, RepoTags: [repoTag], Layers: layers.map((_, i) => `${i}/layer.tar`) }
      ])
      const entries: Array<LayerEntry> = [
        bytesEntry(configName, config),
        ...layers.map((path, i): LayerEntry => ({
          kind: "file",
          path: Buffer.from(`${i}/layer.tar`),
          mode: 0o644,
          source: { type: "path", path: Buffer.from(path) }
        })),
        bytesEntry("manifest.json", Buffer.from(manifest))
      ]
      await pipeline(Readable.from(tarChunks(entries, { uid: 0, gid: 0 })), out)
    },
    catch: ioError("write a docker archive to", "docker load")
  })
