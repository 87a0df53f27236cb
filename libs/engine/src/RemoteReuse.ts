import type { Digest } from "@engine/layout"
import type { RemoteImage } from "@engine/registry"

/**
 * A tool layer of a previously pushed image that a build may reference instead of rebuilding: mise's reuse key
 * is (short, version, prefix, owner, relocation, plugin), read from the layer's `dev.mise.*` annotations.
 */
export interface RemoteLayer {
  readonly short: string
  readonly version: string
  readonly prefix: string
  readonly owner: string
  readonly relocation: string
  readonly digest: Digest
  readonly diffId: Digest
  readonly size: number
  /** The image's PATH entries inside this layer (`/mise/installs/x/1.0.0/bin`): the tool's bin dirs, known without installing it. */
  readonly binPaths: ReadonlyArray<string>
}

/** PATH of an image config, split. */
const imagePath = (image: RemoteImage): ReadonlyArray<string> =>
  (image.config.config?.Env ?? []).flatMap((e) => (e.startsWith("PATH=") ? e.slice(5).split(":") : []))

/** Reusable tool layers of a remote image: layers missing any key annotation, or from a plugin, are not. */
export const remoteReuseIndex = (image: RemoteImage): ReadonlyArray<RemoteLayer> =>
  image.manifest.layers.flatMap((layer, i) => {
    const a = layer.annotations ?? {}
    const short = a["dev.mise.tool.short"]
    const version = a["dev.mise.tool.version"]
    const prefix = a["dev.mise.layer.prefix"]
    const owner = a["dev.mise.layer.owner"]
    const relocation = a["dev.mise.layer.relocation"]
    const diffId = image.config.rootfs.diff_ids[i]
    if (
      short === undefined || version === undefined || prefix === undefined || owner === undefined ||
      relocation === undefined || diffId === undefined || a["dev.mise.tool.plugin"] !== undefined
    ) return []
    const root = `/${prefix}`
    const binPaths = imagePath(image).filter((p) => p === root || p.startsWith(`${root}/`))
    return [{ short, version, prefix, owner, relocation, digest: layer.digest, diffId, size: layer.size, binPaths }]
  })

/** The remote layer with exactly this key (engine tools have no plugin), if any. */
export const findReusable = (
  index: ReadonlyArray<RemoteLayer>,
  key: { readonly short: string; readonly version: string; readonly prefix: string; readonly owner: string; readonly relocation: string }
): RemoteLayer | undefined =>
  index.find((l) =>
    l.short === key.short && l.version === key.version && l.prefix === key.prefix && l.owner === key.owner &&
    l.relocation === key.relocation
  )
