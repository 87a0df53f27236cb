import { Effect, Either } from "effect"
import { execFileSync } from "node:child_process"
import { chmodSync, linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { createServer, type Server } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import {
  fileEntries,
  type LayerEntry,
  rebaseSymlinkTarget,
  relocateShebang,
  stripPathPrefix,
  tarChunks,
  treeEntries,
  type TreeOptions,
  writeLayer
} from "../src/index"

const scratch = mkdtempSync(join(tmpdir(), "layout-tree-"))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

let counter = 0
/** A fresh install dir `<scratch>/n/installs/http-t/1.0.0` and the options mise would use for it. */
const install = (): { root: string; opts: TreeOptions } => {
  const root = join(scratch, `${counter++}`, "installs", "http-t", "1.0.0")
  mkdirSync(root, { recursive: true })
  const prefix = "mise/installs/http-t/1.0.0"
  return { root, opts: { root, prefix, relocation: { hostRoot: root, imageRoot: `/${prefix}` } } }
}

const walk = (opts: TreeOptions) => Effect.runPromise(treeEntries(opts))

const names = (entries: ReadonlyArray<LayerEntry>) => entries.map((e) => e.path.toString())

const PREFIX_CHAIN = ["mise/", "mise/installs/", "mise/installs/http-t/", "mise/installs/http-t/1.0.0/"]

const find = (entries: ReadonlyArray<LayerEntry>, rel: string) => {
  const entry = entries.find((e) => e.path.toString() === `mise/installs/http-t/1.0.0/${rel}`)
  if (entry === undefined) throw new Error(`no entry for ${rel}`)
  return entry
}

const targetOf = (entries: ReadonlyArray<LayerEntry>, rel: string) => {
  const entry = find(entries, rel)
  return entry.kind === "symlink" ? entry.target.toString() : `<${entry.kind}>`
}

const tarOf = async (entries: ReadonlyArray<LayerEntry>) => {
  const parts: Array<Buffer> = []
  for await (const c of tarChunks(entries, { uid: 0, gid: 0 })) parts.push(c)
  return Buffer.concat(parts)
}

/** The data of `rel` as GNU tar extracts it from our tar. */
const contentOf = async (entries: ReadonlyArray<LayerEntry>, rel: string) => {
  const path = join(scratch, `extract-${counter++}.tar`)
  writeFileSync(path, await tarOf(entries))
  return execFileSync("tar", ["-xOf", path, `mise/installs/http-t/1.0.0/${rel}`], { maxBuffer: 64 * 1024 * 1024 })
}

describe("walk order", () => {
  it("prefix chain first, then byte-sorted pre-order DFS (observed.md's example)", async () => {
    const { root, opts } = install()
    mkdirSync(join(root, "a"))
    for (const f of ["B.txt", "_u.txt", "a/z.txt", "a-b.txt", "a.txt", "10.txt", "9.txt"]) writeFileSync(join(root, f), f)
    const { entries } = await walk(opts)
    expect(names(entries)).toEqual([
      ...PREFIX_CHAIN,
      ...["10.txt", "9.txt", "B.txt", "_u.txt", "a/", "a/z.txt", "a-b.txt", "a.txt"].map((n) => `mise/installs/http-t/1.0.0/${n}`)
    ])
  })

  it("an empty install still gets the whole prefix chain as 0755 dirs", async () => {
    const { opts } = install()
    const { entries } = await walk(opts)
    expect(entries).toEqual(PREFIX_CHAIN.map((p) => ({ kind: "dir", path: Buffer.from(p), mode: 0o755 })))
  })

  it("names stay raw bytes, including ones that are not UTF-8", async () => {
    const { root, opts } = install()
    writeFileSync(join(root, "héllo-日本語.txt"), "x")
    writeFileSync(Buffer.from(`${root}/raw-\xff`, "latin1"), "y")
    const { entries } = await walk(opts)
    expect(entries.map((e) => e.path.subarray("mise/installs/http-t/1.0.0/".length).toString("hex")).slice(4)).toEqual([
      Buffer.from("héllo-日本語.txt").toString("hex"),
      Buffer.from("raw-\xff", "latin1").toString("hex")
    ])
  })
})

describe("modes and kinds", () => {
  it("normalizes modes like mise: 0755 if any x bit else 0644, dirs 0755, special bits dropped", async () => {
    const { root, opts } = install()
    const modes: ReadonlyArray<readonly [string, number, number]> = [
      ["m600", 0o600, 0o644],
      ["m444", 0o444, 0o644],
      ["m750", 0o750, 0o755],
      ["m4711", 0o4711, 0o755],
      ["m001", 0o001, 0o755],
      ["m4644", 0o4644, 0o644]
    ]
    for (const [name, mode] of modes) {
      writeFileSync(join(root, name), "p")
      chmodSync(join(root, name), mode)
    }
    mkdirSync(join(root, "sticky"))
    chmodSync(join(root, "sticky"), 0o1777)
    mkdirSync(join(root, "priv"))
    chmodSync(join(root, "priv"), 0o700)
    const { entries } = await walk(opts)
    for (const [name, , want] of modes) {
      const e = find(entries, name)
      expect(e.kind === "file" && e.mode, name).toBe(want)
    }
    expect(find(entries, "sticky/")).toMatchObject({ kind: "dir", mode: 0o755 })
    expect(find(entries, "priv/")).toMatchObject({ kind: "dir", mode: 0o755 })
  })

  it("hardlinks become separate regular files; zero-byte files and empty dirs are kept", async () => {
    const { root, opts } = install()
    writeFileSync(join(root, "hard1"), "hard\n")
    linkSync(join(root, "hard1"), join(root, "hard2"))
    writeFileSync(join(root, "zero"), "")
    mkdirSync(join(root, "empty", "nested"), { recursive: true })
    const { entries } = await walk(opts)
    expect(find(entries, "hard1")).toMatchObject({ kind: "file", size: 5 })
    expect(find(entries, "hard2")).toMatchObject({ kind: "file", size: 5 })
    expect(find(entries, "zero")).toMatchObject({ kind: "file", size: 0 })
    expect(find(entries, "empty/nested/")).toMatchObject({ kind: "dir" })
    expect((await contentOf(entries, "hard2")).toString()).toBe("hard\n")
  })

  it("FIFOs, sockets are skipped with a warning and never opened (mise hangs on a FIFO)", async () => {
    const { root, opts } = install()
    execFileSync("mkfifo", [join(root, "pipe")])
    const server: Server = createServer()
    await new Promise<void>((resolve) => server.listen(join(root, "sock"), resolve))
    try {
      writeFileSync(join(root, "regular"), "r")
      const { entries, warnings } = await walk(opts)
      expect(names(entries)).toEqual([...PREFIX_CHAIN, "mise/installs/http-t/1.0.0/regular"])
      expect(warnings).toEqual([
        `oci layer: skipping ${root}/pipe: a FIFO (named pipe) cannot be stored in an image layer`,
        `oci layer: skipping ${root}/sock: a socket cannot be stored in an image layer`
      ])
      const blob = await Effect.runPromise(writeLayer(entries, { owner: { uid: 0, gid: 0 }, tempDir: scratch }))
      expect(blob.uncompressedSize).toBe(512 * 4 + 512 * 2 + 1024)
    } finally {
      server.close()
    }
  }, 10_000)
})

describe("symlinks", () => {
  it("are never followed; absolute targets into the tree become relative, as mise rebases them", async () => {
    const { root, opts } = install()
    mkdirSync(join(root, "bin"))
    mkdirSync(join(root, "a", "b", "c"), { recursive: true })
    writeFileSync(join(root, "README"), "r")
    writeFileSync(join(root, "bin", "hello"), "h")
    const links: ReadonlyArray<readonly [string, string, string]> = [
      ["rel", "README", "README"],
      ["dbl", "a//b/./c", "a//b/./c"],
      ["bin/abs_in", `${root}/bin/hello`, "../bin/hello"],
      ["bin/abs_root", root, "../"],
      ["bin/abs_root_slash", `${root}/`, "../"],
      ["a/b/c/deep", `${root}/bin/hello`, "../../../bin/hello"],
      ["top_abs", `${root}/README`, "README"],
      ["top_root", root, "."],
      ["via_link", `${root}/rel`, "README"],
      ["via_dotdot", `${root}/bin/../README`, "README"],
      ["nx_dotdot", `${root}/nx/../README`, "nx/../README"],
      ["lexical", `${root}//nx//a/./b/`, "nx//a/./b"],
      ["escape", `${root}/bin/../../escape`, "bin/../../escape"],
      ["sibling", `${root}x/y`, `${root}x/y`],
      ["env", "/usr/bin/env", "/usr/bin/env"]
    ]
    for (const [path, target] of links) symlinkSync(target, join(root, path))
    const { entries, warnings } = await walk(opts)
    for (const [path, , want] of links) expect(targetOf(entries, path), path).toBe(want)
    expect(warnings).toEqual([
      `oci layer: symlink ${root}/env → /usr/bin/env has an absolute target outside the tool's install dir; it will be dangling inside the container`,
      `oci layer: symlink ${root}/sibling → ${root}x/y has an absolute target outside the tool's install dir; it will be dangling inside the container`
    ])
  })

  it("rebaseSymlinkTarget: canonical target vs canonical root first, then the literal target vs the root as given", () => {
    const b = (s: string) => Buffer.from(s)
    const base = { depth: 2, root: b("/link/t"), canonicalRoot: b("/real/t") }
    expect(rebaseSymlinkTarget({ ...base, target: b("/real/t/x/../y") }).target.toString()).toBe("../x/../y")
    expect(rebaseSymlinkTarget({ ...base, target: b("/real/t/rel"), canonicalTarget: b("/real/t/README") }).target.toString()).toBe("../README")
    expect(rebaseSymlinkTarget({ ...base, target: b("/link/t/out/env"), canonicalTarget: b("/usr/bin/env") }).target.toString()).toBe("../out/env")
    expect(rebaseSymlinkTarget({ ...base, target: b("/real/t/env"), canonicalTarget: b("/usr/bin/env") })).toEqual({ target: b("/real/t/env"), outside: true })
    const relocation = { hostRoot: b("/data/installs"), canonicalHostRoot: b("/data/installs"), imageRoot: b("/mise/installs") }
    expect(rebaseSymlinkTarget({ ...base, relocation: [relocation], target: b("/data/installs/other/1/bin/x") }).target.toString()).toBe(
      "/mise/installs/other/1/bin/x"
    )
  })

  it("stripPathPrefix follows Rust's component-wise Path::strip_prefix and as_path trimming", () => {
    const s = (p: string, base: string) => stripPathPrefix(Buffer.from(p), Buffer.from(base))?.toString()
    expect(s("/a/b/c", "/a/b")).toBe("c")
    expect(s("/a/bc", "/a/b")).toBeUndefined()
    expect(s("//a/./b//c/", "/a/b")).toBe("c")
    expect(s("/a/b", "/a/b")).toBe("")
    expect(s("/a/b/./", "/a/b")).toBe("")
    expect(s("/a/b/x/./y/.", "/a/b")).toBe("x/./y")
    expect(s("/a/b/x/..", "/a/b")).toBe("x/..")
    expect(s("a/b", "/a")).toBeUndefined()
  })
})

describe("#! relocation", () => {
  it("rewrites only the first line of executables that name the install dir", async () => {
    const { root, opts } = install()
    const img = "/mise/installs/http-t/1.0.0"
    const scripts: ReadonlyArray<readonly [string, string, number, string]> = [
      ["script", `#!${root}/bin/python3\nprint('${root}')\n`, 0o755, `#!${img}/bin/python3\nprint('${root}')\n`],
      ["noexec", `#!${root}/bin/python3\n`, 0o644, `#!${root}/bin/python3\n`],
      ["grp", `#!${root}/bin/sh\n`, 0o610, `#!${img}/bin/sh\n`],
      ["multi", `#!/usr/bin/env ${root}/x ${root}z\n`, 0o755, `#!/usr/bin/env ${img}/x ${img}z\n`],
      ["nonl", `#!${root}/bin/sh`, 0o755, `#!${root}/bin/sh`],
      ["crlf", `#!${root}/sh\r\n${root}\r\n`, 0o755, `#!${img}/sh\r\n${root}\r\n`],
      ["space", ` #!${root}/sh\n`, 0o755, ` #!${root}/sh\n`],
      ["second", `#!/bin/sh\n# ${root}\n`, 0o755, `#!/bin/sh\n# ${root}\n`]
    ]
    for (const [name, data, mode] of scripts) {
      writeFileSync(join(root, name), data)
      chmodSync(join(root, name), mode)
    }
    const { entries } = await walk(opts)
    for (const [name, , , want] of scripts) {
      const entry = find(entries, name)
      expect(entry.kind === "file" && entry.size, name).toBe(Buffer.byteLength(want))
      expect((await contentOf(entries, name)).toString(), name).toBe(want)
    }
  })

  it("decodes the line lossily like Rust's from_utf8_lossy (mise's observed bytes)", () => {
    const line = Buffer.concat([Buffer.from("#!/h/sh"), Buffer.from([0xff, 0xfe, 0xed, 0xa0, 0x80, 0xe6, 0x97, 0x0a])])
    const out = relocateShebang(line, { hostRoot: "/h", imageRoot: "/img" })
    expect(Buffer.from(out?.data ?? []).toString("hex")).toBe(
      Buffer.from("#!/img/sh\ufffd\ufffd\ufffd\ufffd\ufffd\ufffd\n").toString("hex")
    )
    expect(relocateShebang(Buffer.from([0x23, 0x21, 0x2f, 0x62, 0xff, 0x0a]), { hostRoot: "/h", imageRoot: "/img" })).toBeUndefined()
  })

  it("streams long scripts: only the head is replaced", async () => {
    const { root, opts } = install()
    const body = "x".repeat(3_000_000)
    writeFileSync(join(root, "big"), `#!${root}/bin/sh\n${body}`, { mode: 0o755 })
    const { entries } = await walk(opts)
    const entry = find(entries, "big")
    expect(entry.kind === "file" && entry.source.type === "path" && entry.source.replaceHead?.original.length).toBe(
      Buffer.byteLength(`#!${root}/bin/sh\n`)
    )
    expect((await contentOf(entries, "big")).toString()).toBe(`#!/mise/installs/http-t/1.0.0/bin/sh\n${body}`)
  })
})

describe("roots and options", () => {
  it("a file root lands exactly at the prefix, after its parents", async () => {
    const file = join(scratch, "cli.txt")
    writeFileSync(file, "cli")
    chmodSync(file, 0o600)
    const { entries } = await walk({ root: file, prefix: "etc/cli-copy.txt" })
    expect(names(entries)).toEqual(["etc/", "etc/cli-copy.txt"])
    expect(entries[1]).toMatchObject({ kind: "file", mode: 0o644, size: 3 })
  })

  it("a symlink root lands as a symlink with its target untouched", async () => {
    const target = join(scratch, "link-target")
    writeFileSync(target, "t")
    const link = join(scratch, `link-${counter++}`)
    symlinkSync(target, link)
    const { entries, warnings } = await walk({ root: link, prefix: "etc/alias" })
    expect(entries[1]).toEqual({ kind: "symlink", path: Buffer.from("etc/alias"), target: Buffer.from(target) })
    expect(warnings).toEqual([])
  })

  it("owner and prefixOwner tag entries for the writer", async () => {
    const { root, opts } = install()
    writeFileSync(join(root, "f"), "f")
    const { entries } = await walk({ ...opts, owner: { uid: 1000, gid: 1000 }, prefixOwner: { uid: 0, gid: 0 } })
    expect(entries[0]).toMatchObject({ owner: { uid: 0, gid: 0 } })
    expect(entries[4]).toMatchObject({ owner: { uid: 1000, gid: 1000 } })
  })

  it("fails with the path when the root is missing or the prefix is malformed", async () => {
    const missing = join(scratch, "nope")
    const result = await Effect.runPromise(Effect.either(treeEntries({ root: missing, prefix: "x" })))
    expect(Either.isLeft(result) && result.left.message).toContain(`cannot read ${missing}`)
    for (const prefix of ["/mise", "mise/", "mise//x", "mise/../x"]) {
      const bad = await Effect.runPromise(Effect.either(treeEntries({ root: scratch, prefix })))
      expect(Either.isLeft(bad) && bad.left.reason, prefix).toBe("InvalidEntry")
    }
  })
})

describe("fileEntries (in-memory layers)", () => {
  it("dirs sorted by byte string with missing parents, then files with parents just before each", () => {
    const data = new Uint8Array([1])
    const entries = fileEntries(
      [
        { path: "root/.config/app/config.toml", data, mode: 0o600 },
        { path: "etc/profile.d/project.sh", data, mode: 0o644 },
        { path: "etc/mise/config.toml", data, mode: 0o644 }
      ],
      ["var/lib/x", "etc/mise"]
    )
    expect(entries.map((e) => `${e.path.toString()} ${"mode" in e ? e.mode.toString(8) : ""}`)).toEqual([
      "etc/ 755",
      "etc/mise/ 755",
      "var/ 755",
      "var/lib/ 755",
      "var/lib/x/ 755",
      "etc/mise/config.toml 644",
      "etc/profile.d/ 755",
      "etc/profile.d/project.sh 644",
      "root/ 755",
      "root/.config/ 755",
      "root/.config/app/ 755",
      "root/.config/app/config.toml 600"
    ])
  })

  it("keeps explicit modes of synthetic files and accepts host paths read at write time", () => {
    const entries = fileEntries([{ path: "usr/local/bin/mise", source: "/usr/bin/env", mode: 0o4755 }])
    expect(names(entries)).toEqual(["usr/", "usr/local/", "usr/local/bin/", "usr/local/bin/mise"])
    expect(entries[3]).toMatchObject({ kind: "file", mode: 0o4755, source: { type: "path", path: Buffer.from("/usr/bin/env") } })
  })
})
