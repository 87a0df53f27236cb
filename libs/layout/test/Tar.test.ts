import { Chunk, Effect, Either, Stream } from "effect"
import { execFileSync } from "node:child_process"
import { appendFileSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { encodeHeader, entryHeader, type LayerEntry, type Owner, tarChunks, tarStream, TypeFlag } from "../src/index"

const ROOT: Owner = { uid: 0, gid: 0 }
const scratch = mkdtempSync(join(tmpdir(), "layout-tar-"))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

const collect = async (entries: ReadonlyArray<LayerEntry>, owner: Owner = ROOT): Promise<Buffer> => {
  const parts: Array<Buffer> = []
  for await (const chunk of tarChunks(entries, owner)) parts.push(chunk)
  return Buffer.concat(parts)
}

const dir = (path: string): LayerEntry => ({ kind: "dir", path: Buffer.from(path), mode: 0o755 })
const bytesFile = (path: string, data: string | Buffer, mode = 0o644): LayerEntry => {
  const buf = Buffer.from(data)
  return { kind: "file", path: Buffer.from(path), mode, size: buf.length, source: { type: "bytes", data: buf } }
}
const symlink = (path: string, target: string | Buffer): LayerEntry => ({
  kind: "symlink",
  path: Buffer.from(path),
  target: Buffer.from(target)
})

/** The first 265 bytes of a header in hex; the other 247 bytes must be NUL. */
const headerHex = (block: Buffer) => {
  expect(block.length).toBe(512)
  expect(block.subarray(265).equals(Buffer.alloc(247))).toBe(true)
  return block.subarray(0, 265).toString("hex")
}

// Captured from mise 2026.9.15's appendix tool layer (`mise/` and `…/README`, owner 0:0).
const MISE_DIR_HEADER =
  "6d6973652f" + "00".repeat(95) +
  "3030303037353500" + "3030303030303000" + "3030303030303000" + "303030303030303030303000" + "303030303030303030303000" +
  "3030363634320020" + "35" + "00".repeat(100) + "7573746172202000"
const MISE_FILE_HEADER =
  Buffer.from("mise/installs/http-hello/1.0.0/README").toString("hex") + "00".repeat(63) +
  "3030303036343400" + "3030303030303000" + "3030303030303000" + "303030303030303030303700" + "303030303030303030303000" +
  "3031343036340020" + "30" + "00".repeat(100) + "7573746172202000"

describe("GNU header encoding (tar-rs Header::new_gnu, as in mise)", () => {
  it("directory header matches mise's bytes", () => {
    expect(headerHex(encodeHeader({ name: Buffer.from("mise/"), mode: 0o755, uid: 0, gid: 0, size: 0, typeflag: TypeFlag.Dir }))).toBe(
      MISE_DIR_HEADER
    )
  })

  it("file header matches mise's bytes", () => {
    const h = encodeHeader({ name: Buffer.from("mise/installs/http-hello/1.0.0/README"), mode: 0o644, uid: 0, gid: 0, size: 7, typeflag: TypeFlag.File })
    expect(headerHex(h)).toBe(MISE_FILE_HEADER)
  })

  it("uid/gid of 2^21 and up use GNU base-256, as mise does for --owner 3000000", () => {
    const h = encodeHeader({ name: Buffer.from("x"), mode: 0o644, uid: 3_000_000, gid: 2_097_151, size: 0, typeflag: TypeFlag.File })
    expect(h.subarray(108, 116).toString("hex")).toBe("80000000002dc6c0")
    expect(h.subarray(116, 124).toString("latin1")).toBe("7777777\0")
  })

  it("an 8 GiB + 1 file's header matches mise's (sparse file, byte-checked; diff_ids also matched)", () => {
    const h = encodeHeader({ name: Buffer.from("mise/installs/http-huge/1.0.0/big"), mode: 0o644, uid: 0, gid: 0, size: 8_589_934_593, typeflag: TypeFlag.File })
    expect(h.subarray(124, 156).toString("hex")).toBe("8000000000000002000000013030303030303030303030003031323637310020")
  })

  it("sizes of 8 GiB and up use base-256 in the 12-byte field", () => {
    const at = (size: number) => encodeHeader({ name: Buffer.from("x"), mode: 0o644, uid: 0, gid: 0, size, typeflag: TypeFlag.File })
    expect(at(8_589_934_591).subarray(124, 136).toString("latin1")).toBe("77777777777\0")
    expect(at(8_589_934_592).subarray(124, 136).toString("hex")).toBe("800000000000000200000000")
    expect(at(150 * 2 ** 30).subarray(124, 136).toString("hex")).toBe("800000000000002580000000")
  })

  it("checksum is 6 octal digits, NUL, space over the header with the field as spaces", () => {
    const h = encodeHeader({ name: Buffer.from("héllo"), mode: 0o4711, uid: 1000, gid: 1001, size: 123, typeflag: TypeFlag.File })
    const copy = Buffer.from(h)
    copy.fill(0x20, 148, 156)
    const sum = copy.reduce((a, b) => a + b, 0)
    expect(h.subarray(148, 156).toString("latin1")).toBe(`${sum.toString(8).padStart(6, "0")}\0 `)
    expect(h.subarray(100, 108).toString("latin1")).toBe("0004711\0")
  })
})

describe("long names and link targets", () => {
  const longName = `mise/${"u".repeat(93)}日本.txt`

  it("a name over 100 bytes gets a root-owned ././@LongLink 'L' record, then the header with the first 100 raw bytes", () => {
    const blocks = entryHeader(bytesFile(longName, "x"), { uid: 1000, gid: 1001 }, 1)
    const name = Buffer.from(longName)
    expect(blocks.length).toBe(512 * 3)
    const l = blocks.subarray(0, 512)
    expect(l.subarray(0, 14).toString("latin1")).toBe("././@LongLink\0")
    expect(l.subarray(100, 136).toString("latin1")).toBe(`0000644\u00000000000\u00000000000\u0000${(name.length + 1).toString(8).padStart(11, "0")}\0`)
    expect(String.fromCharCode(l[156] ?? 0)).toBe("L")
    expect(blocks.subarray(512, 512 + name.length + 1).equals(Buffer.concat([name, Buffer.alloc(1)]))).toBe(true)
    const header = blocks.subarray(1024)
    // Cut mid-character: the header keeps raw bytes, exactly like mise.
    expect(header.subarray(0, 100).equals(name.subarray(0, 100))).toBe(true)
    expect(header.subarray(108, 124).toString("latin1")).toBe("0001750\u00000001751\0")
  })

  it("exactly 100 bytes fits the header; a directory's trailing slash counts", () => {
    expect(entryHeader(bytesFile("a".repeat(100), ""), ROOT, 0).length).toBe(512)
    expect(entryHeader(bytesFile("a".repeat(101), ""), ROOT, 0).length).toBe(512 * 3)
    expect(entryHeader(dir(`${"d".repeat(99)}/`), ROOT, 0).length).toBe(512)
    expect(entryHeader(dir("d".repeat(100)), ROOT, 0).length).toBe(512 * 3)
  })

  it("a long link target gets a 'K' record, written before the long name's 'L' record", () => {
    const target = `../${"t".repeat(130)}`
    const blocks = entryHeader(symlink(`x/${"l".repeat(110)}`, target), ROOT, 0)
    expect(blocks.length).toBe(512 * 5)
    expect(String.fromCharCode(blocks[156] ?? 0)).toBe("K")
    expect(blocks.subarray(0, 13).toString()).toBe("././@LongLink")
    expect(blocks.subarray(512, 512 + target.length + 1).toString()).toBe(`${target}\0`)
    expect(String.fromCharCode(blocks[1024 + 156] ?? 0)).toBe("L")
    const header = blocks.subarray(2048)
    expect(String.fromCharCode(header[156] ?? 0)).toBe("2")
    expect(header.subarray(157, 257).toString()).toBe(target.slice(0, 100))
    expect(header.subarray(100, 108).toString("latin1")).toBe("0000777\0")
  })
})

describe("archive", () => {
  const entries: ReadonlyArray<LayerEntry> = [
    dir("mise/"),
    dir("mise/bin"),
    bytesFile("mise/bin/tool", "#!/bin/sh\n", 0o755),
    bytesFile(`mise/${"x".repeat(120)}.txt`, "long"),
    bytesFile("mise/héllo-wörld-日本語.txt", "h"),
    bytesFile("mise/zero", ""),
    symlink("mise/link", `../${"t".repeat(130)}/target`),
    symlink(`mise/${"l".repeat(110)}`, "bin/tool")
  ]

  it("ends with exactly two zero blocks and no record padding", async () => {
    const tar = await collect([bytesFile("a", "x")])
    expect(tar.length).toBe(512 * 4)
    expect(tar.subarray(1024).equals(Buffer.alloc(1024))).toBe(true)
    expect(await collect([])).toEqual(Buffer.alloc(1024))
  })

  it("reads back with GNU tar and python tarfile: names, links, modes, owners", async () => {
    const path = join(scratch, "archive.tar")
    writeFileSync(path, await collect(entries, { uid: 1000, gid: 1001 }))
    const listing = execFileSync("tar", ["--numeric-owner", "-tvf", path], { encoding: "utf8" }).trim().split("\n")
    expect(listing.map((l) => l.replace(/\s+/g, " ").split(" ").slice(0, 3).join(" ")).slice(0, 3)).toEqual([
      "drwxr-xr-x 1000/1001 0",
      "drwxr-xr-x 1000/1001 0",
      "-rwxr-xr-x 1000/1001 10"
    ])
    expect(listing.some((l) => l.endsWith(`mise/${"x".repeat(120)}.txt`))).toBe(true)
    expect(listing.some((l) => l.endsWith(`mise/link -> ../${"t".repeat(130)}/target`))).toBe(true)
    expect(listing.some((l) => l.endsWith(`mise/${"l".repeat(110)} -> bin/tool`))).toBe(true)
    expect(listing.some((l) => l.endsWith("mise/héllo-wörld-日本語.txt"))).toBe(true)
    const py = execFileSync("python3", [
      "-c",
      "import sys,tarfile\nfor m in tarfile.open(sys.argv[1]): print(m.name, oct(m.mode), m.uid, m.gid, m.mtime, m.linkname)",
      path
    ], { encoding: "utf8" }).trim().split("\n")
    expect(py[0]).toBe("mise 0o755 1000 1001 0 ")
    expect(py).toContain(`mise/link 0o777 1000 1001 0 ../${"t".repeat(130)}/target`)
    expect(py).toContain("mise/zero 0o644 1000 1001 0 ")
  })

  it("tarStream yields the same bytes as the async producer", async () => {
    const viaStream = await Effect.runPromise(Stream.runCollect(tarStream(entries, ROOT)))
    expect(Buffer.concat(Chunk.toArray(viaStream))).toEqual(await collect(entries))
  })

  it("files larger than a chunk stream through in order", async () => {
    const path = join(scratch, "big.bin")
    const data = Buffer.alloc(1_000_003)
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919) % 251
    writeFileSync(path, data)
    const tar = await collect([{ kind: "file", path: Buffer.from("big.bin"), mode: 0o644, size: data.length, source: { type: "path", path: Buffer.from(path) } }])
    expect(tar.subarray(512, 512 + data.length).equals(data)).toBe(true)
    expect(tar.length).toBe(512 + Math.ceil(data.length / 512) * 512 + 1024)
  })
})

describe("refuses to write a corrupt tar", () => {
  const run = (entries: ReadonlyArray<LayerEntry>) =>
    Effect.runPromise(Effect.either(Stream.runDrain(tarStream(entries, ROOT))))

  it("a file that grew or shrank since it was walked", async () => {
    const path = join(scratch, "changing")
    writeFileSync(path, "12345")
    const size = statSync(path).size
    appendFileSync(path, "678")
    const entry: LayerEntry = { kind: "file", path: Buffer.from("changing"), mode: 0o644, size, source: { type: "path", path: Buffer.from(path) } }
    const result = await run([entry])
    expect(Either.isLeft(result) && result.left.reason).toBe("FileChanged")
    expect(Either.isLeft(result) && result.left.message).toContain(`file changed while the layer was being written: ${path}`)
  })

  it("a relocated head that no longer matches the file", async () => {
    const path = join(scratch, "script")
    writeFileSync(path, "#!/other/sh\necho\n")
    const entry: LayerEntry = {
      kind: "file",
      path: Buffer.from("script"),
      mode: 0o755,
      source: { type: "path", path: Buffer.from(path), replaceHead: { original: Buffer.from("#!/host/sh\n"), data: Buffer.from("#!/img/sh\n") } }
    }
    const result = await run([entry])
    expect(Either.isLeft(result) && result.left.message).toContain("its first line changed")
  })

  it("empty link targets, NUL bytes, out-of-range modes, size/data mismatch", async () => {
    for (
      const bad of [
        symlink("l", ""),
        symlink("l", Buffer.from([0x61, 0, 0x62])),
        { ...dir("d/"), mode: 0o10000 },
        { ...bytesFile("f", "abc"), size: 4 }
      ]
    ) {
      const result = await run([bad])
      expect(Either.isLeft(result) && result.left.reason).toBe("InvalidEntry")
    }
  })

  it("a path source that is not a regular file", async () => {
    const result = await run([{ kind: "file", path: Buffer.from("d"), mode: 0o644, source: { type: "path", path: Buffer.from(scratch) } }])
    expect(Either.isLeft(result) && result.left.message).toContain("is no longer a regular file")
  })
})
