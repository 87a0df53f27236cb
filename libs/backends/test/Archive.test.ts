import { decompressFile, detectFormat, extractArchive, formatFromFileName, hasSingleTopLevelDirectory } from "@engine/backends"
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import * as zlib from "node:zlib"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { tempDir, tree } from "./support/Context"
import { type Member, tarBytes, tarGz, tarXz, zipBytes } from "./support/Fixtures"

/** Compressed with Debian's own `zstd` and `bzip2`, so the decoders meet what real archives hold. */
const zstd = (data: Buffer) => execFileSync("zstd", ["-q", "-c"], { input: data, maxBuffer: 64 << 20 })
const bzip2 = (data: Buffer) => execFileSync("bzip2", ["-c", "-9"], { input: data, maxBuffer: 64 << 20 })
const tarZst = async (members: ReadonlyArray<Member>) => zstd(await tarBytes(members))
const tarBz2 = async (members: ReadonlyArray<Member>) => bzip2(await tarBytes(members))

let root: string
let n = 0
beforeAll(() => {
  root = tempDir("archive")
})
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

const write = (name: string, bytes: Buffer) => {
  const file = path.join(root, `${n++}-${name}`)
  fs.writeFileSync(file, bytes)
  return file
}
const freshDir = () => {
  const dir = path.join(root, `out-${n++}`)
  fs.mkdirSync(dir)
  return dir
}

const extract = (file: string, stripComponents: number | "auto" = 0) => {
  const dest = freshDir()
  return Effect.runPromise(extractArchive(file, dest, { format: formatFromFileName(file), stripComponents })).then((summary) => ({
    dest,
    summary,
    tree: tree(dest)
  }))
}
const extractError = async (file: string, stripComponents: number | "auto" = 0) => {
  const dest = freshDir()
  const e = await Effect.runPromise(Effect.flip(extractArchive(file, dest, { format: formatFromFileName(file), stripComponents })))
  return { e, dest }
}

const tool: ReadonlyArray<Member> = [
  { name: "hello-1.0.0/", type: "directory" },
  { name: "hello-1.0.0/README", content: "readme\n" },
  { name: "hello-1.0.0/bin/", type: "directory" },
  { name: "hello-1.0.0/bin/hello", content: "#!/bin/sh\necho hi\n", mode: 0o755 },
  { name: "hello-1.0.0/bin/hi", type: "symlink", linkname: "hello" }
]
const stripped = ["f README 644", "d bin", "f bin/hello 755", "l bin/hi -> hello"]

describe("formats", () => {
  it("names formats as mise does", () => {
    expect(formatFromFileName("a-1.0.tar.gz")).toBe("tar.gz")
    expect(formatFromFileName("a.TGZ")).toBe("tar.gz")
    expect(formatFromFileName("a.tar.xz")).toBe("tar.xz")
    expect(formatFromFileName("a.tar")).toBe("tar")
    expect(formatFromFileName("a.zip")).toBe("zip")
    expect(formatFromFileName("a.gz")).toBe("gz")
    expect(formatFromFileName("a.tar.zst")).toBe("tar.zst")
    expect(formatFromFileName("tool-linux-x64")).toBe("raw")
    expect(formatFromFileName("tool-1.2.3")).toBe("raw")
  })

  it.each([
    ["tool.tar.gz", () => tarGz(tool)],
    ["tool.tar.xz", () => tarXz(tool)],
    ["tool.tar.zst", () => tarZst(tool)],
    ["tool.tar.bz2", () => tarBz2(tool)],
    ["tool.tar", () => tarBytes(tool)],
    ["tool.zip", async () => zipBytes(tool)]
  ])("extracts %s keeping exec bits and symlinks", async (name, make) => {
    const file = write(name, await make())
    const out = await extract(file, 1)
    expect(out.tree).toEqual(stripped)
    expect(fs.readFileSync(path.join(out.dest, "bin/hi"), "utf8")).toBe("#!/bin/sh\necho hi\n")
    expect(out.summary).toMatchObject({ files: 2, symlinks: 1, stripComponents: 1 })
  })

  it("refuses formats it cannot read, saying which it can", async () => {
    const file = write("tool.tar.br", Buffer.from("x"))
    const { e } = await extractError(file)
    expect(e.message).toBe(
      `${file}: tar.br archives are not supported yet (supported: tar.gz, tar.xz, tar.bz2, tar.zst, tar, zip (and single gz/xz/bz2/zst files))`
    )
    const inspect = await Effect.runPromise(Effect.flip(hasSingleTopLevelDirectory(file, "tar.br")))
    expect(inspect._tag).toBe("ArchiveError")
    const single = await Effect.runPromise(Effect.flip(decompressFile(write("tool.br", Buffer.from("x")), "br", path.join(freshDir(), "tool"))))
    expect(single.message).toMatch(/: br compressed files are not supported yet \(supported: gz, xz, bz2, zst\)$/)
  })

  const escaped = (file: string) => file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

  it.each([
    ["corrupt.tar.gz", Buffer.from("not gzip at all")],
    ["corrupt.tar.zst", Buffer.from("not zstd at all")],
    ["corrupt.tar.bz2", Buffer.from("BZh9 not bzip2 at all")]
  ])("reports a corrupt %s as an ArchiveError", async (name, bytes) => {
    const file = write(name, bytes)
    const { e } = await extractError(file)
    expect(e._tag).toBe("ArchiveError")
    expect(e.message).toMatch(new RegExp(`^${escaped(file)}: cannot extract: `))
  })

  it.each([
    ["cut.tar.zst", tarZst],
    ["cut.tar.bz2", tarBz2]
  ])("reports a truncated %s instead of extracting part of it", async (name, make) => {
    const whole = await make(tool)
    const file = write(name, whole.subarray(0, Math.floor(whole.length / 2)))
    const { e, dest } = await extractError(file)
    expect(e.message).toMatch(new RegExp(`^${escaped(file)}: cannot extract: `))
    expect(fs.existsSync(path.join(dest, "bin/hello"))).toBe(false)
  })

  it("streams archives larger than one zstd block or bzip2 block, byte for byte", async () => {
    // 3 MiB of deterministic hex: many 128 KiB zstd blocks and several 900 kB bzip2 blocks.
    const big = Array.from({ length: 48 * 1024 }, (_, i) => createHash("sha256").update(String(i)).digest("hex")).join("")
    const bytes = await tarBytes([{ name: "big.txt", content: big }])
    for (const [name, data] of [["big.tar.zst", zstd(bytes)], ["big.tar.bz2", bzip2(bytes)]] as const) {
      const out = await extract(write(name, data))
      const written = fs.readFileSync(path.join(out.dest, "big.txt"), "utf8")
      expect(written.length).toBe(3 * 1024 * 1024)
      expect(written === big).toBe(true)
    }
  })

  it.each([
    ["tool.gz", zlib.gzipSync],
    ["tool.xz", (data: Buffer) => execFileSync("xz", ["-c"], { input: data })],
    ["tool.zst", zstd],
    ["tool.bz2", bzip2]
  ])("decompresses a single %s into an executable file", async (name, compress) => {
    const dest = path.join(freshDir(), "tool")
    await Effect.runPromise(decompressFile(write(name, compress(Buffer.from("#!/bin/sh\necho one\n"))), formatFromFileName(name), dest))
    expect(fs.readFileSync(dest, "utf8")).toBe("#!/bin/sh\necho one\n")
    expect(fs.statSync(dest).mode & 0o777).toBe(0o755)
  })
})

describe("format detection by name and by magic bytes", () => {
  const detect = (name: string, bytes: Buffer, fileName?: string) =>
    Effect.runPromise(detectFormat(write(name, bytes), fileName))

  it("tells each archive by its bytes when the name says nothing", async () => {
    const tarred = await tarBytes(tool)
    expect(await detect("download", zlib.gzipSync(tarred))).toBe("tar.gz")
    expect(await detect("download", await tarXz(tool))).toBe("tar.xz")
    expect(await detect("download", zstd(tarred))).toBe("tar.zst")
    expect(await detect("download", bzip2(tarred))).toBe("tar.bz2")
    expect(await detect("download", tarred)).toBe("tar")
    expect(await detect("download", zipBytes(tool))).toBe("zip")
  })

  it("tells a single compressed file from a compressed tar", async () => {
    const script = Buffer.from("#!/bin/sh\necho hi\n")
    expect(await detect("tool", zlib.gzipSync(script))).toBe("gz")
    expect(await detect("tool", zstd(script))).toBe("zst")
    expect(await detect("tool", bzip2(script))).toBe("bz2")
    expect(await detect("tool-linux-x64", Buffer.from("\x7fELF\x02\x01\x01 not an archive"))).toBe("raw")
  })

  it("trusts the bytes over a wrong name, and the name where the bytes agree", async () => {
    expect(await detect("tool.tar.gz", zipBytes(tool))).toBe("zip")
    expect(await detect("tool.tar.gz", zstd(await tarBytes(tool)))).toBe("tar.zst")
    expect(await detect("tool.tgz", zlib.gzipSync(await tarBytes(tool)))).toBe("tar.gz")
    expect(await detect("x", zlib.gzipSync(Buffer.from("plain")), "https-asset.tar.gz")).toBe("tar.gz")
    // Bytes that name nothing leave the name in charge (an old v7 tar has no magic).
    expect(await detect("old.tar", Buffer.alloc(1024))).toBe("tar")
  })

  it("reports an unreadable file", async () => {
    const e = await Effect.runPromise(Effect.flip(detectFormat(path.join(root, "missing.tar.gz"))))
    expect(e._tag).toBe("ArchiveError")
    expect(e.message).toContain("missing.tar.gz: cannot extract: ENOENT")
  })
})

describe("strip components (mise's rules)", () => {
  it("auto strips a single top-level directory, also written as ./dir", async () => {
    const out = await extract(write("a.tar.gz", await tarGz(tool)), "auto")
    expect(out.tree).toEqual(stripped)
    const dotted = await extract(write("b.tar.gz", await tarGz([{ name: "./only/bin/s", content: "s", mode: 0o755 }])), "auto")
    expect(dotted.tree).toEqual(["d bin", "f bin/s 755"])
    const zip = await extract(write("c.zip", zipBytes(tool)), "auto")
    expect(zip.tree).toEqual(stripped)
  })

  it("auto does not strip when there is more than one top-level entry or a lone file", async () => {
    const mixed: ReadonlyArray<Member> = [{ name: "TOPFILE", content: "t" }, { name: "d1/bin/x", content: "x", mode: 0o755 }]
    expect((await extract(write("m.tar.gz", await tarGz(mixed)), "auto")).tree).toEqual(["f TOPFILE 644", "d d1", "d d1/bin", "f d1/bin/x 755"])
    expect((await extract(write("l.tar.gz", await tarGz([{ name: "lone", content: "x" }])), "auto")).tree).toEqual(["f lone 644"])
    const file = write("h.tar.gz", await tarGz(mixed))
    expect(await Effect.runPromise(hasSingleTopLevelDirectory(file, "tar.gz"))).toBe(false)
  })

  it("strip 1 moves each top-level directory's contents up and keeps top-level files (as mise 2026.9.15 does)", async () => {
    const mixed: ReadonlyArray<Member> = [
      { name: "TOPFILE", content: "t" },
      { name: "d1/", type: "directory" },
      { name: "d1/bin/x", content: "x", mode: 0o755 },
      { name: "d2/y", content: "y" }
    ]
    expect((await extract(write("s.tar.gz", await tarGz(mixed)), 1)).tree).toEqual(["f TOPFILE 644", "d bin", "f bin/x 755", "f y 644"])
  })

  it("strip 2 repeats it (mise itself stops at 1)", async () => {
    const deep: ReadonlyArray<Member> = [{ name: "a/b/bin/z", content: "z", mode: 0o755 }, { name: "a/note", content: "n" }]
    expect((await extract(write("d.tar.gz", await tarGz(deep)), 2)).tree).toEqual(["d bin", "f bin/z 755", "f note 644"])
  })
})

describe("entries that would escape the install dir", () => {
  const escapes = (file: string, expected: string) =>
    extractError(file).then(({ e, dest }) => {
      expect(e._tag).toBe("ArchiveError")
      expect(e.message).toBe(`${file}: ${expected}`)
      expect(fs.existsSync(path.join(root, "evil"))).toBe(false)
      return dest
    })

  it("rejects .. components", async () => {
    const members: ReadonlyArray<Member> = [{ name: "pkg/ok", content: "ok" }, { name: "pkg/../../evil", content: "evil" }]
    await escapes(write("dots.tar.gz", await tarGz(members)), "archive path traversal rejected: entry pkg/../../evil")
    const zip = write("dots.zip", zipBytes(members))
    const { e } = await extractError(zip)
    expect(e.message).toBe(`${zip}: unsafe archive path rejected: pkg/../../evil (invalid relative path)`)
  })

  it("rejects absolute paths", async () => {
    const members: ReadonlyArray<Member> = [{ name: "/tmp/engine-evil-abs", content: "evil" }]
    await escapes(write("abs.tar", await tarBytes(members)), "absolute archive path rejected: entry /tmp/engine-evil-abs")
    expect(fs.existsSync("/tmp/engine-evil-abs")).toBe(false)
    const zip = write("abs.zip", zipBytes(members))
    expect((await extractError(zip)).e.message).toContain("unsafe archive path rejected: /tmp/engine-evil-abs (absolute path)")
  })

  it("rejects symlinks pointing outside, absolute or relative, in tar and zip", async () => {
    for (const [name, linkname] of [["up", "../../../../etc"], ["abs", "/etc/passwd"]] as const) {
      const members: ReadonlyArray<Member> = [{ name: `pkg/${name}`, type: "symlink", linkname }]
      await escapes(write(`${name}.tar.gz`, await tarGz(members)), `symlink pkg/${name} -> ${linkname} points outside the install dir`)
      const zip = write(`${name}.zip`, zipBytes(members))
      expect((await extractError(zip)).e.message).toBe(`${zip}: symlink pkg/${name} -> ${linkname} points outside the install dir`)
    }
  })

  it("rejects a link that escapes only through another link, whichever comes first", async () => {
    const before: ReadonlyArray<Member> = [
      { name: "p", type: "symlink", linkname: "." },
      { name: "q", type: "symlink", linkname: "p/.." }
    ]
    await escapes(write("chain1.tar", await tarBytes(before)), "symlink q -> p/.. points outside the install dir")
    const after: ReadonlyArray<Member> = [
      { name: "q", type: "symlink", linkname: "p/.." },
      { name: "p", type: "symlink", linkname: "." }
    ]
    await escapes(write("chain2.tar", await tarBytes(after)), "symlink q -> p/.. points outside the install dir")
  })

  it("rejects writing through a symlink, even one pointing inside", async () => {
    const members: ReadonlyArray<Member> = [
      { name: "pkg/dir/", type: "directory" },
      { name: "pkg/esc", type: "symlink", linkname: "dir" },
      { name: "pkg/esc/file", content: "x" }
    ]
    await escapes(write("through.tar", await tarBytes(members)), "archive attempted to write through a symlink: pkg/esc/file (via pkg/esc)")
  })

  it("keeps symlinks that stay inside, including after stripping", async () => {
    const members: ReadonlyArray<Member> = [
      { name: "t/lib/real.so", content: "so" },
      { name: "t/lib/link.so", type: "symlink", linkname: "real.so" },
      { name: "t/bin/up", type: "symlink", linkname: "../lib/real.so" },
      { name: "t/self", type: "symlink", linkname: "." },
      { name: "t/dangling", type: "symlink", linkname: "nothing-here" }
    ]
    const out = await extract(write("inside.tar.gz", await tarGz(members)), "auto")
    expect(out.tree).toEqual([
      "d bin",
      "l bin/up -> ../lib/real.so",
      "l dangling -> nothing-here",
      "d lib",
      "l lib/link.so -> real.so",
      "f lib/real.so 644",
      "l self -> ."
    ])
  })

  it("makes hardlinks to earlier files and rejects ones that escape or dangle", async () => {
    const ok: ReadonlyArray<Member> = [
      { name: "pkg/bin/real", content: "#!/bin/sh\n", mode: 0o755 },
      { name: "pkg/bin/hard", type: "link", linkname: "pkg/bin/real" }
    ]
    const out = await extract(write("hard.tar", await tarBytes(ok)), "auto")
    expect(out.tree).toEqual(["d bin", "f bin/hard 755", "f bin/real 755"])
    expect(out.summary.hardlinks).toBe(1)
    await escapes(
      write("hard-out.tar", await tarBytes([{ name: "pkg/h", type: "link", linkname: "../../etc/passwd" }])),
      "archive path traversal rejected: hardlink target ../../etc/passwd"
    )
    await escapes(
      write("hard-abs.tar", await tarBytes([{ name: "pkg/h", type: "link", linkname: "/etc/passwd" }])),
      "absolute archive path rejected: hardlink target /etc/passwd"
    )
    await escapes(
      write("hard-missing.tar", await tarBytes([{ name: "pkg/h", type: "link", linkname: "pkg/none" }])),
      "hardlink pkg/h -> pkg/none does not name a file extracted before it"
    )
  })

  it("skips FIFOs and devices", async () => {
    const members: ReadonlyArray<Member> = [{ name: "pkg/ok", content: "ok" }, { name: "pkg/fifo", type: "fifo" }]
    const out = await extract(write("fifo.tar", await tarBytes(members)), "auto")
    expect(out.tree).toEqual(["f ok 644"])
    expect(out.summary.skipped).toEqual(["pkg/fifo"])
  })
})

describe.each([
  ["tar.xz", tarXz],
  ["tar.zst", tarZst],
  ["tar.bz2", tarBz2]
])("every safety rule holds in %s", (ext, make) => {
  const refuses = async (name: string, members: ReadonlyArray<Member>, expected: string) => {
    const file = write(`${name}.${ext}`, await make(members))
    const { e } = await extractError(file)
    expect(e.message).toBe(`${file}: ${expected}`)
    expect(fs.existsSync(path.join(root, "evil"))).toBe(false)
  }

  it("rejects .. components", () =>
    refuses("dots", [{ name: "pkg/ok", content: "ok" }, { name: "pkg/../../evil", content: "evil" }], "archive path traversal rejected: entry pkg/../../evil"))

  it("rejects absolute paths", () =>
    refuses("abs", [{ name: "/tmp/engine-evil-abs", content: "evil" }], "absolute archive path rejected: entry /tmp/engine-evil-abs"))

  it("rejects symlinks that escape, and writes through a symlink", async () => {
    await refuses("up", [{ name: "pkg/up", type: "symlink", linkname: "../../etc" }], "symlink pkg/up -> ../../etc points outside the install dir")
    await refuses("through", [
      { name: "pkg/dir/", type: "directory" },
      { name: "pkg/esc", type: "symlink", linkname: "dir" },
      { name: "pkg/esc/file", content: "x" }
    ], "archive attempted to write through a symlink: pkg/esc/file (via pkg/esc)")
  })

  it("keeps exec bits, symlinks and hardlinks, and auto-strips", async () => {
    const members: ReadonlyArray<Member> = [...tool, { name: "hello-1.0.0/bin/hard", type: "link", linkname: "hello-1.0.0/bin/hello" }]
    const out = await extract(write(`keep.${ext}`, await make(members)), "auto")
    expect(out.tree).toEqual(["f README 644", "d bin", "f bin/hard 755", "f bin/hello 755", "l bin/hi -> hello"])
    expect(out.summary).toMatchObject({ files: 3, symlinks: 1, hardlinks: 1, stripComponents: 1 })
  })
})
