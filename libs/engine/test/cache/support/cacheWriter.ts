/**
 * One of several processes hammering a shared cache (bundled and spawned by ActionCache.test.ts).
 * argv: <cache root> <worker id> <rounds>. Prints a JSON report; exits 1 if it ever saw a damaged entry.
 */
import { Effect, Either, Schema } from "effect"
import { createHash } from "node:crypto"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { makeActionCache } from "../../../src/cache/ActionCache"
import { type Digest, openCacheStore } from "../../../src/cache/CacheStore"
import { runGraphs } from "../../../src/graph/Scheduler"
import { task, taskGraph } from "../../../src/graph/TaskGraph"

const [root = "", worker = "0", roundsArg = "20"] = process.argv.slice(2)
const rounds = Number(roundsArg)

/** Deterministic content per index, identical in every worker; some blobs are large enough to take a while. */
const contentOf = (i: number, size: number) => {
  const seed = createHash("sha256").update(`blob-${i}`).digest()
  const bytes = Buffer.alloc(size)
  for (let o = 0; o < size; o += seed.length) seed.copy(bytes, o)
  return bytes
}
const keyOf = (i: number) => createHash("sha256").update(`record-${i}`).digest("hex")
const digestOf = (b: Uint8Array): Digest => `sha256:${createHash("sha256").update(b).digest("hex")}`

const Blob = Schema.Struct({ digest: Schema.TemplateLiteral("sha256:", Schema.String), size: Schema.Number })

const program = Effect.gen(function*() {
  const startedAt = Date.now()
  const store = yield* openCacheStore(root)
  let damaged = 0
  for (let i = 0; i < rounds; i++) {
    const small = yield* store.putBlob(contentOf(i, 1000 + i))
    const bigBytes = contentOf(i + 100_000, 256 * 1024 + i)
    const temp = join(root, `worker-${worker}-${i}.partial`)
    writeFileSync(temp, bigBytes)
    const big = yield* store.putBlobFromFile(temp, digestOf(bigBytes), bigBytes.length)
    yield* store.writeRecord({
      key: keyOf(i),
      taskId: `img#record-${i}`,
      kind: "test",
      output: { worker, i },
      blobs: [small, big],
      durationMs: i,
      createdAt: new Date().toISOString()
    })
    for (let j = 0; j <= i; j++) {
      const read = yield* store.readRecord(keyOf(j))
      if (read._tag === "Corrupt" || read._tag === "Unreadable") damaged++
    }
  }
  const cache = makeActionCache(store)
  const tasks = Array.from({ length: 10 }, (_, n) =>
    task({
      id: `layer-${n}`,
      kind: "test-layer",
      resource: "cpu",
      cacheable: true,
      output: Blob,
      blobs: (b) => [b],
      inputs: () => ({ n }),
      run: () => store.putBlob(contentOf(n + 1_000_000, 64 * 1024))
    }))
  const graph = yield* Either.match(taskGraph("img", tasks), { onLeft: Effect.fail, onRight: Effect.succeed })
  const summary = yield* runGraphs([graph], { cache, cpu: 2 })
  return { worker, damaged, ran: summary.ran, cached: summary.cached, startedAt, endedAt: Date.now() }
})

Effect.runPromise(Effect.either(program)).then((result) => {
  if (Either.isLeft(result)) {
    process.stdout.write(JSON.stringify({ worker, error: String(result.left) }) + "\n")
    process.exit(1)
  }
  process.stdout.write(JSON.stringify(result.right) + "\n")
  process.exit(result.right.damaged === 0 ? 0 : 1)
})
