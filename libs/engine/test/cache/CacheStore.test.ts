import { Effect } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { type ActionRecord, CacheError, type CacheStore, type Digest, openCacheStore, trustRememberedDocuments } from "../../src/cache/CacheStore"

const digestOf = (data: string | Uint8Array): Digest => `sha256:${createHash("sha256").update(data).digest("hex")}`
const keyOf = (s: string) => createHash("sha256").update(s).digest("hex")
const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)
const fail = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(Effect.flip(effect))

let dir: string
let store: CacheStore
beforeEach(async () => {
  dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "engine-cache-")))
  store = await run(openCacheStore(path.join(dir, "cache")))
})
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }))

const record = (name: string, blobs: ReadonlyArray<{ digest: Digest; size: number }>): ActionRecord => ({
  key: keyOf(name),
  taskId: `img#${name}`,
  kind: "tool-layer",
  output: { name, digests: blobs.map((b) => b.digest) },
  blobs,
  durationMs: 1234,
  createdAt: "2026-01-01T00:00:00.000Z"
})

const tempFile = (content: string | Uint8Array) => {
  const p = path.join(dir, `temp-${Math.random().toString(16).slice(2)}`)
  fs.writeFileSync(p, content)
  return p
}

const listAll = (root: string): Array<string> =>
  fs.readdirSync(root, { recursive: true, encoding: "utf8" }).filter((p) => fs.lstatSync(path.join(root, p)).isFile()).sort()

describe("blobs", () => {
  it("stores bytes under blobs/sha256/<hex>, read-only, and reads them back verified", async () => {
    const ref = await run(store.putBlob(new TextEncoder().encode("hello")))
    expect(ref).toEqual({ digest: digestOf("hello"), size: 5 })
    const file = path.join(store.root, "blobs", "sha256", ref.digest.slice(7))
    expect(fs.readFileSync(file, "utf8")).toBe("hello")
    expect(fs.statSync(file).mode & 0o777).toBe(0o444)
    expect(new TextDecoder().decode(await run(store.readBlob(ref.digest, { verify: true })))).toBe("hello")
    expect(await run(store.checkBlob(ref, { verify: true }))).toEqual({ _tag: "Ok" })
    expect(await run(store.putBlob(new TextEncoder().encode("hello")))).toEqual(ref)
  })

  it("moves a temp file in by rename, checking its size (and digest with verify)", async () => {
    const content = "layer bytes"
    const temp = tempFile(content)
    const wrongSize = await fail(store.putBlobFromFile(temp, digestOf(content), content.length + 1))
    expect(wrongSize).toMatchObject({ _tag: "CacheError", reason: "SizeMismatch" })
    const wrongDigest = await fail(store.putBlobFromFile(temp, digestOf("other"), content.length, { verify: true }))
    expect(wrongDigest).toMatchObject({ _tag: "CacheError", reason: "DigestMismatch" })
    expect(fs.existsSync(temp)).toBe(true)
    const ref = await run(store.putBlobFromFile(temp, digestOf(content), content.length, { verify: true }))
    expect(fs.existsSync(temp)).toBe(false)
    expect(fs.readFileSync(store.blobPath(ref.digest), "utf8")).toBe(content)
  })

  it("repairs a damaged blob when the same content is put again", async () => {
    const content = "x".repeat(100)
    const ref = await run(store.putBlob(new TextEncoder().encode(content)))
    fs.chmodSync(store.blobPath(ref.digest), 0o644)
    fs.writeFileSync(store.blobPath(ref.digest), "y".repeat(100))
    expect((await run(store.checkBlob(ref, { verify: true })))._tag).toBe("Damaged")
    expect((await run(store.checkBlob(ref)))._tag).toBe("Ok")
    await run(store.putBlobFromFile(tempFile(content), ref.digest, 100))
    expect(await run(store.checkBlob(ref, { verify: true }))).toEqual({ _tag: "Ok" })
  })

  it("links a blob into an output dir: same inode, replaces what was there, no temp left", async () => {
    const ref = await run(store.putBlob(new TextEncoder().encode("blob")))
    const out = path.join(dir, "out", "blobs", "sha256")
    const dest = path.join(out, ref.digest.slice(7))
    fs.mkdirSync(out, { recursive: true })
    fs.writeFileSync(dest, "stale content")
    expect(await run(store.linkBlob(ref.digest, dest))).toBe("hardlink")
    expect(fs.statSync(dest).ino).toBe(fs.statSync(store.blobPath(ref.digest)).ino)
    expect(fs.readFileSync(dest, "utf8")).toBe("blob")
    expect(await run(store.linkBlob(ref.digest, dest))).toBe("unchanged")
    expect(fs.readdirSync(out)).toEqual([ref.digest.slice(7)])
  })

  const otherFs = ["/dev/shm", "/run"].find((d) => {
    try {
      fs.accessSync(d, fs.constants.W_OK)
      return fs.statSync(d).dev !== fs.statSync(os.tmpdir()).dev
    } catch {
      return false
    }
  })
  it.skipIf(otherFs === undefined)("falls back to a copy across filesystems", async () => {
    const ref = await run(store.putBlob(new TextEncoder().encode("far away")))
    const out = fs.mkdtempSync(path.join(otherFs ?? "", "engine-link-"))
    try {
      const dest = path.join(out, "blob")
      expect(await run(store.linkBlob(ref.digest, dest))).toBe("copy")
      expect(fs.readFileSync(dest, "utf8")).toBe("far away")
      expect(fs.readdirSync(out)).toEqual(["blob"])
    } finally {
      fs.rmSync(out, { recursive: true, force: true })
    }
  })

  it("fails with an actionable error for a blob that is not there", async () => {
    const error = await fail(store.linkBlob(digestOf("nope"), path.join(dir, "x")))
    expect(error).toBeInstanceOf(CacheError)
    expect(error).toMatchObject({ reason: "BlobMissing" })
    expect(error.message).toContain("--force")
    expect(await fail(store.linkBlob("sha256:../../etc/passwd" as Digest, path.join(dir, "x")))).toMatchObject({
      reason: "InvalidName"
    })
  })
})

describe("action records", () => {
  it("round-trip through a checksummed JSON file", async () => {
    const r = record("node", [])
    await run(store.writeRecord(r))
    expect(await run(store.readRecord(r.key))).toMatchObject({ _tag: "Found", value: r })
    expect(await run(store.readRecord(keyOf("absent")))).toMatchObject({ _tag: "Absent" })
  })

  it("detect damage: edited content, truncation, or a record filed under another key", async () => {
    const r = record("node", [])
    await run(store.writeRecord(r))
    const file = path.join(store.root, "ac", `${r.key}.json`)
    const text = fs.readFileSync(file, "utf8")
    fs.writeFileSync(file, text.replace('"durationMs":1234', '"durationMs":1'))
    const edited = await run(store.readRecord(r.key))
    expect(edited._tag === "Corrupt" && edited.detail).toContain("checksum mismatch")
    fs.writeFileSync(file, text.slice(0, text.length - 10))
    expect((await run(store.readRecord(r.key)))._tag).toBe("Corrupt")
    fs.writeFileSync(path.join(store.root, "ac", `${keyOf("other")}.json`), text)
    const misfiled = await run(store.readRecord(keyOf("other")))
    expect(misfiled._tag === "Corrupt" && misfiled.detail).toContain(`holds the record of key ${r.key}`)
  })
})

describe("ls, stats, prune, clear", () => {
  const at = (seconds: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, seconds))
  const setup = async () => {
    const blob = async (content: string) => run(store.putBlob(new TextEncoder().encode(content)))
    const shared = await blob("s".repeat(1000))
    const a = await blob("a".repeat(2000))
    const b = await blob("b".repeat(3000))
    const c = await blob("c".repeat(4000))
    const orphan = await blob("o".repeat(500))
    const records = [record("a", [a, shared]), record("b", [b, shared]), record("c", [c])]
    for (const [i, r] of records.entries()) {
      await run(store.writeRecord(r))
      fs.utimesSync(path.join(store.root, "ac", `${r.key}.json`), at(i), at(i))
    }
    for (const ref of [shared, a, b, c, orphan]) fs.utimesSync(store.blobPath(ref.digest), at(0), at(0))
    return { records, shared, a, b, c, orphan }
  }

  it("lists entries, most recently used first, with their sizes", async () => {
    const { records } = await setup()
    const entries = await run(store.ls)
    expect(entries.map((e) => e.taskId)).toEqual(["img#c", "img#b", "img#a"])
    const recordBytes = (name: string) => fs.statSync(path.join(store.root, "ac", `${keyOf(name)}.json`)).size
    expect(entries[2]).toMatchObject({ key: records[0]?.key, status: "ok", durationMs: 1234, bytes: recordBytes("a") + 3000 })
    const stats = await run(store.stats)
    expect(stats).toMatchObject({ records: 3, blobs: 5, blobBytes: 10_500 })
  })

  it("prune evicts least recently used records and the blobs only they used, keeps recent files", async () => {
    const { shared, a, b, c, orphan } = await setup()
    fs.writeFileSync(path.join(store.root, "blobs", "sha256", ".x.tmp-old"), "partial")
    fs.utimesSync(path.join(store.root, "blobs", "sha256", ".x.tmp-old"), at(0), at(0))
    fs.writeFileSync(path.join(store.root, "blobs", "sha256", ".y.tmp-new"), "in flight")
    const result = await run(store.prune({ maxSize: 9500, graceMs: 60_000, now: at(3600).getTime() }))
    const present = (d: Digest) => fs.existsSync(store.blobPath(d))
    expect([present(orphan.digest), present(a.digest), present(shared.digest), present(b.digest), present(c.digest)]).toEqual([
      false,
      false,
      true,
      true,
      true
    ])
    expect(result).toMatchObject({ removedRecords: 1, removedBlobs: 2, removedTemps: 1 })
    expect(result.remainingBytes).toBeLessThanOrEqual(9500)
    expect(fs.existsSync(path.join(store.root, "blobs", "sha256", ".y.tmp-new"))).toBe(true)
    expect((await run(store.ls)).map((e) => e.taskId)).toEqual(["img#c", "img#b"])
  })

  it("prune keeps records used within the grace period even above the size target", async () => {
    await setup()
    const result = await run(store.prune({ maxSize: 0, graceMs: 60_000, now: at(30).getTime() }))
    expect(result.removedRecords).toBe(0)
    expect((await run(store.ls)).length).toBe(3)
  })

  it("clear removes only what the store owns", async () => {
    await setup()
    fs.mkdirSync(path.join(store.root, "downloads"), { recursive: true })
    fs.writeFileSync(path.join(store.root, "downloads", "node.tar.gz"), "keep me")
    const generation = fs.readFileSync(path.join(store.root, "generation"), "utf8")
    await run(store.clear)
    // The generation file stays, renewed: other processes forget what they remembered of this cache.
    expect(listAll(store.root)).toEqual(["downloads/node.tar.gz", "generation"])
    expect(fs.readFileSync(path.join(store.root, "generation"), "utf8")).not.toBe(generation)
    expect(await run(store.stats)).toEqual({ records: 0, blobs: 0, bytes: 0, blobBytes: 0 })
    expect(await run(store.putBlob(new Uint8Array([1])))).toMatchObject({ size: 1 })
  })
})

describe("temp dirs", () => {
  it("a task's temp dir lives under tmp/ on the cache's filesystem and is gone when its scope closes, even on failure", async () => {
    const seen: Array<string> = []
    const use = Effect.scoped(
      Effect.gen(function*() {
        const temp = yield* store.tempDir
        seen.push(temp)
        fs.writeFileSync(path.join(temp, "layer.tar.gz"), "partial")
        return yield* Effect.fail("interrupted mid-layer")
      })
    )
    expect(await run(Effect.flip(use))).toBe("interrupted mid-layer")
    expect(path.dirname(seen[0]!)).toBe(path.join(store.root, "tmp"))
    expect(fs.existsSync(seen[0]!)).toBe(false)
  })

  it("prune removes temp dirs left by a killed build once they are older than the grace period", async () => {
    const stale = path.join(store.root, "tmp", "12345-abc")
    fs.mkdirSync(stale, { recursive: true })
    fs.writeFileSync(path.join(stale, "layer.tar.gz"), "left behind")
    const recent = await run(store.prune({ maxSize: Number.POSITIVE_INFINITY }))
    expect(recent.removedTemps).toBe(0)
    expect(fs.existsSync(stale)).toBe(true)
    const later = await run(store.prune({ maxSize: Number.POSITIVE_INFINITY, now: Date.now() + 2 * 60 * 60 * 1000 }))
    expect(later.removedTemps).toBe(1)
    expect(fs.existsSync(stale)).toBe(false)
  })
})

describe("documents read again in one process", () => {
  it("a record changed in place, even to the same size and mtime, is read afresh, never the remembered one", async () => {
    const r = record("same-size", [])
    await run(store.writeRecord(r))
    expect(await run(store.readRecord(r.key))).toMatchObject({ _tag: "Found", value: { durationMs: 1234 } })
    const file = path.join(store.root, "ac", `${r.key}.json`)
    const text = fs.readFileSync(file, "utf8")
    const changed = text.replace("1234", "4321")
    expect(changed).not.toBe(text)
    expect(changed.length).toBe(text.length)
    const { atime, mtime } = fs.statSync(file)
    fs.writeFileSync(file, changed)
    fs.utimesSync(file, atime, mtime) // its old mtime back: the ctime still moved
    // Read again, the edit fails the record's integrity check; the remembered record would have been served as Found.
    expect((await run(store.readRecord(r.key)))._tag).toBe("Corrupt")
    await run(store.writeRecord({ ...r, durationMs: 4321 }))
    expect(await run(store.readRecord(r.key))).toMatchObject({ _tag: "Found", value: { durationMs: 4321 } })
    fs.rmSync(file)
    expect((await run(store.readRecord(r.key)))._tag).toBe("Absent")
  })

  it("a record this process wrote is known without a read, until another file is renamed over it", async () => {
    const r = record("written", [])
    await run(store.writeRecord(r))
    expect(await run(store.readRecord(r.key))).toMatchObject({ _tag: "Found", value: { durationMs: 1234 } })
    // Another process writes the same entry (same size): its file, renamed over ours, is what a read returns.
    const other = await run(openCacheStore(path.join(dir, "other-cache")))
    await run(other.writeRecord({ ...r, durationMs: 4321 }))
    const file = path.join(store.root, "ac", `${r.key}.json`)
    const theirs = path.join(other.root, "ac", `${r.key}.json`)
    expect(fs.statSync(theirs).size).toBe(fs.statSync(file).size)
    fs.renameSync(theirs, file)
    expect(await run(store.readRecord(r.key))).toMatchObject({ _tag: "Found", value: { durationMs: 4321 } })
  })

  it("a hit marks its record used at most once an hour", async () => {
    const r = record("touched", [])
    await run(store.writeRecord(r))
    const file = path.join(store.root, "ac", `${r.key}.json`)
    const recent = new Date(Date.now() - 10 * 60 * 1000)
    fs.utimesSync(file, recent, recent)
    await run(store.touchRecord(r.key))
    expect(Math.abs(fs.statSync(file).mtimeMs - recent.getTime())).toBeLessThan(1)
    const old = new Date(Date.now() - 2 * 60 * 60 * 1000)
    fs.utimesSync(file, old, old)
    await run(store.touchRecord(r.key))
    expect(Date.now() - fs.statSync(file).mtimeMs).toBeLessThan(60_000)
  })
})

describe("documents remembered by a process that trusts them (the daemon)", () => {
  beforeEach(() => trustRememberedDocuments(true))
  afterEach(() => trustRememberedDocuments(false))

  const damage = (file: string) => fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace("1234", "4321"))

  it("a remembered record is served without reading its file again, even damaged or deleted behind its back", async () => {
    const r = record("trusted", [])
    await run(store.writeRecord(r))
    const file = path.join(store.root, "ac", `${r.key}.json`)
    damage(file)
    expect(await run(store.readRecord(r.key))).toMatchObject({ _tag: "Found", value: { durationMs: 1234 } })
    fs.rmSync(file)
    expect(await run(store.readRecord(r.key))).toMatchObject({ _tag: "Found", value: { durationMs: 1234 } })
    // A record never remembered is read from disk as ever.
    expect((await run(store.readRecord(keyOf("never-written"))))._tag).toBe("Absent")
  })

  it("a clear or prune in another process (a new generation file) is seen when the cache is opened next: nothing remembered of it is kept", async () => {
    const r = record("generations", [])
    await run(store.writeRecord(r))
    const file = path.join(store.root, "ac", `${r.key}.json`)
    damage(file)
    // Opening again with the same generation keeps what is remembered.
    const same = await run(openCacheStore(store.root))
    expect(await run(same.readRecord(r.key))).toMatchObject({ _tag: "Found", value: { durationMs: 1234 } })
    // Another process's clear or prune renames a new generation file in.
    const next = path.join(store.root, ".generation-next")
    fs.writeFileSync(next, "another generation\n")
    fs.renameSync(next, path.join(store.root, "generation"))
    const reopened = await run(openCacheStore(store.root))
    expect((await run(reopened.readRecord(r.key)))._tag).toBe("Corrupt")
  })

  it("a cache dir deleted and made again is a new generation; clear, prune and removeRecord in this process forget at once", async () => {
    const r = record("deleted", [])
    await run(store.writeRecord(r))
    expect((await run(store.readRecord(r.key)))._tag).toBe("Found")
    fs.rmSync(store.root, { recursive: true, force: true })
    const remade = await run(openCacheStore(store.root))
    expect((await run(remade.readRecord(r.key)))._tag).toBe("Absent")

    await run(remade.writeRecord(r))
    await run(remade.removeRecord(r.key))
    expect((await run(remade.readRecord(r.key)))._tag).toBe("Absent")

    await run(remade.writeRecord(r))
    await run(remade.clear)
    expect((await run(remade.readRecord(r.key)))._tag).toBe("Absent")

    // A prune that removes nothing keeps the generation; one that evicts the record is a new one.
    await run(remade.writeRecord(r))
    const generation = () => fs.readFileSync(path.join(remade.root, "generation"), "utf8")
    const before = generation()
    await run(remade.prune({ maxSize: Number.MAX_SAFE_INTEGER }))
    expect(generation()).toBe(before)
    const old = new Date(Date.now() - 2 * 60 * 60 * 1000)
    fs.utimesSync(path.join(remade.root, "ac", `${r.key}.json`), old, old)
    const pruned = await run(remade.prune({ maxSize: 0, graceMs: 60_000 }))
    expect(pruned.removedRecords).toBe(1)
    expect(generation()).not.toBe(before)
    expect((await run(remade.readRecord(r.key)))._tag).toBe("Absent")
  })

  it("a remembered record marked used (its mtime over an hour old) is read afresh once", async () => {
    const r = record("aged", [])
    await run(store.writeRecord(r))
    const file = path.join(store.root, "ac", `${r.key}.json`)
    const old = new Date(Date.now() - 2 * 60 * 60 * 1000)
    fs.utimesSync(file, old, old)
    await run(store.touchRecord(r.key, old.getTime()))
    expect(Date.now() - fs.statSync(file).mtimeMs).toBeLessThan(60_000)
    damage(file)
    // Forgotten at the touch (what was remembered held the old mtime): the damage is found on the next read.
    expect((await run(store.readRecord(r.key)))._tag).toBe("Corrupt")
  })
})
