import { extractArchive, formatFromFileName, hasSingleTopLevelDirectory } from "@engine/backends"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { tempDir, tree } from "./support/Context"
import { type Member, tarBytes, tarGz, tarXz, zipBytes } from "./support/Fixtures"

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
    const file = write("tool.tar.zst", Buffer.from("x"))
    const { e } = await extractError(file)
    expect(e.message).toBe(`${file}: tar.zst archives are not supported yet (supported: tar.gz, tar.xz, tar, zip (and single gz/xz files))`)
    const inspect = await Effect.runPromise(Effect.flip(hasSingleTopLevelDirectory(file, "tar.zst")))
    expect(inspect._tag).toBe("ArchiveError")
  })

  it("reports a corrupt archive as an ArchiveError", async () => {
    const file = write("corrupt.tar.gz", Buffer.from("not gzip at all"))
    const { e } = await extractError(file)
    expect(e._tag).toBe("ArchiveError")
    expect(e.message).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: cannot extract: `))
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
