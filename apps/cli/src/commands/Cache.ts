import { Command, Options } from "@effect/cli"
import { cacheClear, cacheLs, cachePrune, cacheRoot, cacheStats } from "@engine/engine"
import { Console, Effect, Option } from "effect"
import { json } from "../Shared"

const UNITS: Readonly<Record<string, number>> = { "": 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }

/** `500M`, `2G`, `1.5GiB`, `4096`: binary units, case-insensitive. */
export const parseSize = (text: string): number | undefined => {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(text)
  if (m === null) return undefined
  const unit = UNITS[(m[2] ?? "").toLowerCase()]
  return unit === undefined ? undefined : Math.floor(Number(m[1]) * unit)
}

export const formatSize = (bytes: number): string => {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"]
  let value = bytes
  let i = 0
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024
    i++
  }
  return i === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[i]}`
}

const ls = Command.make("ls", { json }, (o) =>
  Effect.gen(function*() {
    const entries = yield* cacheLs
    if (o.json) return yield* Console.log(JSON.stringify(entries, null, 2))
    for (const e of entries) {
      const used = new Date(e.lastUsedMs).toISOString()
      const what = e.status === "ok" ? `${e.kind ?? "?"}  ${e.taskId ?? ""}` : "damaged (prune removes it)"
      yield* Console.log(`${e.key.slice(0, 16)}  ${used}  ${formatSize(e.bytes).padStart(10)}  ${what}`)
    }
    yield* Console.log(`${entries.length} entries`)
  })).pipe(Command.withDescription("List cache entries (task results), most recently used first"))

const stats = Command.make("stats", { json }, (o) =>
  Effect.gen(function*() {
    const s = yield* cacheStats
    const root = yield* cacheRoot
    if (o.json) return yield* Console.log(JSON.stringify({ root, ...s }, null, 2))
    yield* Console.log(
      [`cache:   ${root}`, `entries: ${s.records}`, `blobs:   ${s.blobs} (${formatSize(s.blobBytes)})`, `total:   ${formatSize(s.bytes)}`].join("\n")
    )
  })).pipe(Command.withDescription("Show the cache's location, entry count and size"))

const maxSize = Options.text("max-size").pipe(
  Options.withDescription("Evict least recently used entries until the cache fits in SIZE (e.g. 500M, 10G)"),
  Options.optional
)

const prune = Command.make("prune", { maxSize, json }, (o) =>
  Effect.gen(function*() {
    const limit = Option.getOrUndefined(o.maxSize)
    const bytes = limit === undefined ? undefined : parseSize(limit)
    if (limit !== undefined && bytes === undefined) {
      process.exitCode = 2
      return yield* Console.error(`error: --max-size ${limit}: expected a size such as 500M, 10G or 1048576`)
    }
    const r = yield* cachePrune(bytes)
    if (o.json) return yield* Console.log(JSON.stringify(r, null, 2))
    yield* Console.log(
      `removed ${r.removedRecords} entries, ${r.removedBlobs} blobs and ${r.removedTemps} temp files (${formatSize(r.freedBytes)}); ${formatSize(r.remainingBytes)} left`
    )
  })).pipe(
    Command.withDescription(
      "Remove damaged entries, unreferenced blobs and stale temp files, and with --max-size the least recently used entries (anything used in the last hour stays)"
    )
  )

const clear = Command.make("clear", {}, () =>
  Effect.gen(function*() {
    yield* cacheClear
    yield* Console.log(`cleared ${yield* cacheRoot}`)
  })).pipe(Command.withDescription("Remove every cache entry, blob and tree fingerprint (installs and downloads stay)"))

export const cacheCommand = Command.make("cache").pipe(
  Command.withDescription("Inspect and trim the local build cache (ENGINE_CACHE_DIR)"),
  Command.withSubcommands([ls, stats, prune, clear])
)
