import { Effect, Logger } from "effect"
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { type CacheStore, openCacheStore } from "../../src/cache/CacheStore"
import { fingerprintFile, fingerprintTree, fingerprintTreeNow, hashTreeFile, racyWindowFor, type TreeFingerprintOptions } from "../../src/cache/TreeFingerprint"

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)

let dir: string
let tree: string
let store: CacheStore
/** A file name that is not valid UTF-8. */
const latin1Name = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2e, 0x74, 0x78, 0x74])

const makeTree = (root: string) => {
  fs.mkdirSync(path.join(root, "bin"), { recursive: true })
  fs.mkdirSync(path.join(root, "lib", "node_modules", "npm"), { recursive: true })
  fs.writeFileSync(path.join(root, "bin", "node"), "#!/bin/sh\necho node\n", { mode: 0o755 })
  fs.symlinkSync("node", path.join(root, "bin", "nodejs"))
  fs.writeFileSync(path.join(root, "lib", "node_modules", "npm", "index.js"), "module.exports = 1\n")
  fs.writeFileSync(path.join(root, "README"), "hello\n")
  fs.writeFileSync(Buffer.concat([Buffer.from(`${root}/`), latin1Name]), "accent\n")
  execFileSync("mkfifo", [path.join(root, "lib", "pipe")])
}
const REGULAR_FILES = 4

beforeEach(async () => {
  dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "engine-tree-")))
  tree = path.join(dir, "installs", "node", "20.11.1")
  makeTree(tree)
  store = await run(openCacheStore(path.join(dir, "cache")))
})
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }))

/** A file hash that records which files it read (relative paths, latin1 so any byte survives). */
const counting = () => {
  const reads: Array<string> = []
  const hashFile = (p: Buffer) =>
    hashTreeFile(p).pipe(
      Effect.tap(() => Effect.sync(() => void reads.push(p.subarray(Buffer.byteLength(tree) + 1).toString("latin1"))))
    )
  return { reads, hashFile }
}

const fingerprint = (root: string, options: TreeFingerprintOptions) => run(fingerprintTree(store, root, options))

/** Rewrites a file's bytes keeping its size, with an mtime clearly different from before. */
const rewriteSameSize = (file: string, content: string) => {
  const before = fs.statSync(file)
  expect(Buffer.byteLength(content)).toBe(before.size)
  fs.writeFileSync(file, content)
  const later = new Date(before.mtimeMs + 5000)
  fs.utimesSync(file, later, later)
}

describe("fingerprintTree", () => {
  it("hashes every regular file once, then answers from the stat snapshot without reading any file", async () => {
    const { reads, hashFile } = counting()
    const first = await fingerprint(tree, { hashFile, racyWindowMs: 0 })
    expect(first).toMatchObject({ source: "hashed", hashedFiles: REGULAR_FILES, entries: 10 })
    expect(first.digest).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(reads.sort()).toEqual(["README", "bin/node", latin1Name.toString("latin1"), "lib/node_modules/npm/index.js"].sort())
    reads.length = 0
    const second = await fingerprint(tree, { hashFile, racyWindowMs: 0 })
    expect(second).toEqual({ ...first, source: "snapshot", hashedFiles: 0 })
    expect(reads).toEqual([])
  })

  it("re-hashes a file rewritten with the same size and a new mtime, and only that file", async () => {
    const { reads, hashFile } = counting()
    const first = await fingerprint(tree, { hashFile, racyWindowMs: 0 })
    reads.length = 0
    rewriteSameSize(path.join(tree, "README"), "howdy\n")
    const second = await fingerprint(tree, { hashFile, racyWindowMs: 0 })
    expect(reads).toEqual(["README"])
    expect(second.source).toBe("hashed")
    expect(second.digest).not.toBe(first.digest)
    reads.length = 0
    rewriteSameSize(path.join(tree, "README"), "hello\n")
    const third = await fingerprint(tree, { hashFile, racyWindowMs: 0 })
    expect(reads).toEqual(["README"])
    expect(third.digest).toBe(first.digest)
  })

  it("hashes only an added file; a removed file changes the digest without reading anything", async () => {
    const { reads, hashFile } = counting()
    const first = await fingerprint(tree, { hashFile, racyWindowMs: 0 })
    reads.length = 0
    fs.writeFileSync(path.join(tree, "bin", "npx"), "#!/bin/sh\n")
    const added = await fingerprint(tree, { hashFile, racyWindowMs: 0 })
    expect(reads).toEqual(["bin/npx"])
    expect(added.digest).not.toBe(first.digest)
    reads.length = 0
    fs.rmSync(path.join(tree, "bin", "npx"))
    const removed = await fingerprint(tree, { hashFile, racyWindowMs: 0 })
    expect(reads).toEqual([])
    expect(removed).toMatchObject({ source: "hashed", digest: first.digest })
  })

  it("verify: true reads every file again", async () => {
    const { reads, hashFile } = counting()
    const first = await fingerprint(tree, { hashFile, racyWindowMs: 0 })
    reads.length = 0
    const verified = await fingerprint(tree, { hashFile, racyWindowMs: 0, verify: true })
    expect(reads).toHaveLength(REGULAR_FILES)
    expect(verified).toEqual({ ...first, source: "hashed" })
  })

  it("re-hashes entries changed within the racy window before the snapshot", async () => {
    const { reads, hashFile } = counting()
    await fingerprint(tree, { hashFile, racyWindowMs: 60_000 })
    reads.length = 0
    const second = await fingerprint(tree, { hashFile, racyWindowMs: 60_000 })
    expect(second.source).toBe("hashed")
    expect(reads).toHaveLength(REGULAR_FILES)
  })

  it("by default, a tree on a filesystem with fine timestamps is settled a few clock ticks after it was written", async () => {
    expect(racyWindowFor([1_700_000_000_000, 1_700_000_002_000])).toBe(2000)
    expect(racyWindowFor([1_700_000_000_000, 1_700_000_001_234.5678])).toBe(100)
    await new Promise((r) => setTimeout(r, 300))
    const { reads, hashFile } = counting()
    await fingerprint(tree, { hashFile })
    reads.length = 0
    expect((await fingerprint(tree, { hashFile })).source).toBe("snapshot")
    expect(reads).toEqual([])
  })

  it("depends on content, modes and link targets, not on where the tree is", async () => {
    const first = await fingerprint(tree, {})
    const copy = path.join(dir, "elsewhere")
    makeTree(copy)
    expect((await fingerprint(copy, {})).digest).toBe(first.digest)
    fs.chmodSync(path.join(copy, "README"), 0o600)
    const chmodded = await fingerprint(copy, {})
    expect(chmodded.digest).not.toBe(first.digest)
    fs.rmSync(path.join(copy, "bin", "nodejs"))
    fs.symlinkSync("../README", path.join(copy, "bin", "nodejs"))
    expect((await fingerprint(copy, {})).digest).not.toBe(chmodded.digest)
  })

  it("ignores a damaged snapshot and hashes again", async () => {
    const { reads, hashFile } = counting()
    const first = await fingerprint(tree, { hashFile, racyWindowMs: 0 })
    // The full snapshot and its summary (what a warm build reads): both damaged.
    const snapshots = fs.readdirSync(path.join(store.root, "trees"))
    expect(snapshots).toHaveLength(2)
    for (const name of snapshots) {
      const file = path.join(store.root, "trees", name)
      fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace(first.digest.slice(7, 15), "00000000"))
    }
    reads.length = 0
    expect(await fingerprint(tree, { hashFile, racyWindowMs: 0 })).toEqual(first)
    expect(reads).toHaveLength(REGULAR_FILES)
  })

  it("fails with a TreeError naming a root that is not a directory", async () => {
    const file = path.join(tree, "README")
    const error = await run(Effect.flip(fingerprintTree(store, file)))
    expect(error).toMatchObject({ _tag: "TreeError", root: file, message: `${file} is not a directory; cannot fingerprint it as a tree` })
  })
})

describe("a snapshot that cannot be saved", () => {
  it("is a logged warning: the fingerprint stands, nothing half-written is left, and the next call hashes again", async () => {
    // `trees` is a file, not a folder: the snapshot's temp file cannot be created in it.
    const trees = path.join(store.root, "trees")
    fs.rmSync(trees, { recursive: true, force: true })
    fs.writeFileSync(trees, "not a folder")
    const warnings: Array<string> = []
    const logger = Logger.make(({ message }) => void warnings.push(String(message)))
    const withLogs = <A, E>(effect: Effect.Effect<A, E>) => run(Effect.provide(effect, Logger.replace(Logger.defaultLogger, logger)))
    const { reads, hashFile } = counting()
    const first = await withLogs(fingerprintTree(store, tree, { hashFile, racyWindowMs: 0 }))
    expect(first).toMatchObject({ source: "hashed", hashedFiles: REGULAR_FILES })
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(new RegExp(`^tree fingerprint of ${tree} not saved: cache: cannot write ${trees}/[0-9a-f]{64}\\.json: `))
    expect(fs.readFileSync(trees, "utf8")).toBe("not a folder")
    expect(fs.readdirSync(store.root).filter((name) => name.includes(".tmp-"))).toEqual([])
    reads.length = 0
    const second = await withLogs(fingerprintTree(store, tree, { hashFile, racyWindowMs: 0 }))
    expect(second).toEqual(first)
    expect(reads).toHaveLength(REGULAR_FILES)
    expect(fingerprintTreeNow(store, tree, { racyWindowMs: 0 })).toBeUndefined()
  })
})

describe("fingerprintTreeNow (the warm build's synchronous check)", () => {
  it("answers the snapshot's digest while every entry keeps its stats, and nothing once one moved", async () => {
    expect(fingerprintTreeNow(store, tree, { racyWindowMs: 0 })).toBeUndefined()
    const first = await fingerprint(tree, { racyWindowMs: 0 })
    expect(fingerprintTreeNow(store, tree, { racyWindowMs: 0 })).toBe(first.digest)
    const readme = path.join(tree, "README")
    const earlier = new Date(fs.statSync(readme).mtimeMs - 5000)
    fs.writeFileSync(readme, "howdy\n")
    fs.utimesSync(readme, earlier, earlier)
    expect(fingerprintTreeNow(store, tree, { racyWindowMs: 0 })).toBeUndefined()
    await new Promise((r) => setTimeout(r, 5))
    const second = await fingerprint(tree, { racyWindowMs: 0 })
    expect(second.digest).not.toBe(first.digest)
    expect(fingerprintTreeNow(store, tree, { racyWindowMs: 0 })).toBe(second.digest)
    fs.writeFileSync(path.join(tree, "lib", "added"), "")
    expect(fingerprintTreeNow(store, tree, { racyWindowMs: 0 })).toBeUndefined()
  })

  it("lists a settled directory once per process, and again as soon as an entry is added, removed or renamed", async () => {
    // Directories changed within the last two seconds are listed every time: wait until this tree's have settled.
    await new Promise((r) => setTimeout(r, 2100))
    const first = await fingerprint(tree, { racyWindowMs: 0 })
    expect(fingerprintTreeNow(store, tree, { racyWindowMs: 0 })).toBe(first.digest)
    expect(fingerprintTreeNow(store, tree, { racyWindowMs: 0 })).toBe(first.digest)
    const npm = path.join(tree, "lib", "node_modules", "npm")
    for (const change of [
      () => fs.writeFileSync(path.join(tree, "NEWS"), ""),
      () => fs.writeFileSync(path.join(npm, "new.js"), ""),
      () => fs.rmSync(path.join(npm, "new.js")),
      () => fs.renameSync(path.join(npm, "index.js"), path.join(npm, "main.js"))
    ]) {
      change()
      expect(fingerprintTreeNow(store, tree, { racyWindowMs: 0 })).toBeUndefined()
      await new Promise((r) => setTimeout(r, 5))
      const after = await fingerprint(tree, { racyWindowMs: 0 })
      expect(fingerprintTreeNow(store, tree, { racyWindowMs: 0 })).toBe(after.digest)
    }
    expect((await fingerprint(tree, { racyWindowMs: 0 })).digest).not.toBe(first.digest)
  })

  it("gives way to fingerprintTree for verify, a racy snapshot, a missing root and a big tree", async () => {
    const first = await fingerprint(tree, { racyWindowMs: 0 })
    expect(fingerprintTreeNow(store, tree, { racyWindowMs: 0, verify: true })).toBeUndefined()
    expect(fingerprintTreeNow(store, tree, { racyWindowMs: 60_000 })).toBeUndefined()
    expect(fingerprintTreeNow(store, path.join(dir, "nowhere"), { racyWindowMs: 0 })).toBeUndefined()
    const big = path.join(dir, "big")
    fs.mkdirSync(big)
    for (let i = 0; i < 2100; i++) fs.writeFileSync(path.join(big, `f${i}`), "")
    const bigFirst = await fingerprint(big, { racyWindowMs: 0 })
    expect(bigFirst.entries).toBe(2100)
    expect(fingerprintTreeNow(store, big, { racyWindowMs: 0 })).toBeUndefined()
    expect((await fingerprint(big, { racyWindowMs: 0 })).source).toBe("snapshot")
    expect(fingerprintTreeNow(store, tree, { racyWindowMs: 0 })).toBe(first.digest)
  })
})

describe("fingerprintFile", () => {
  const binary = () => path.join(tree, "bin", "node")

  it("hashes a file once, then answers from its stat snapshot; a same-size rewrite is hashed again", async () => {
    const first = counting()
    const a = await run(fingerprintFile(store, binary(), { hashFile: first.hashFile, racyWindowMs: 0 }))
    expect(a).toMatchObject({ source: "hashed", hashedFiles: 1, entries: 1 })
    expect(a.digest).toBe(`sha256:${createHash("sha256").update(fs.readFileSync(binary())).digest("hex")}`)
    const second = counting()
    const b = await run(fingerprintFile(store, binary(), { hashFile: second.hashFile, racyWindowMs: 0 }))
    expect(b).toMatchObject({ source: "snapshot", hashedFiles: 0, digest: a.digest })
    expect(second.reads).toEqual([])
    rewriteSameSize(binary(), "#!/bin/sh\necho NODE\n")
    const c = await run(fingerprintFile(store, binary(), { racyWindowMs: 0 }))
    expect(c.source).toBe("hashed")
    expect(c.digest).not.toBe(a.digest)
  })

  it("follows a symlink to the file's content, and refuses a directory", async () => {
    const viaLink = await run(fingerprintFile(store, path.join(tree, "bin", "nodejs")))
    const direct = await run(fingerprintFile(store, binary(), { verify: true }))
    expect(viaLink.digest).toBe(direct.digest)
    const error = await Effect.runPromise(Effect.flip(fingerprintFile(store, tree)))
    expect(error.message).toContain("is not a regular file")
  })
})
