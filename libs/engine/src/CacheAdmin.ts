import { Effect } from "effect"
import { openCacheStore } from "./cache"
import { Paths } from "./Paths"

/** The local cache of this machine (ENGINE_CACHE_DIR, else XDG's), for `engine cache ...`. */
const store = Effect.flatMap(Paths, (paths) => openCacheStore(paths.cacheDir))

export const cacheRoot = Effect.map(Paths, (paths) => paths.cacheDir)

/** Action records, most recently used first. */
export const cacheLs = Effect.flatMap(store, (s) => s.ls)

export const cacheStats = Effect.flatMap(store, (s) => s.stats)

/**
 * Evicts least recently used entries until records and blobs fit in `maxSize` bytes (none: only garbage:
 * damaged records, unreferenced blobs, temp files of killed builds). Anything used in the last hour stays.
 */
export const cachePrune = (maxSize: number | undefined) =>
  Effect.flatMap(store, (s) => s.prune({ maxSize: maxSize ?? Number.POSITIVE_INFINITY }))

export const cacheClear = Effect.flatMap(store, (s) => s.clear)
