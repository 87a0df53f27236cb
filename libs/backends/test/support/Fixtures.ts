import { xz } from "@napi-rs/lzma"
import { createHash } from "node:crypto"
import * as zlib from "node:zlib"
import * as tar from "tar-stream"

/** One archive member, described the same way for tar and zip. */
export interface Member {
  readonly name: string
  readonly type?: "file" | "directory" | "symlink" | "link" | "fifo"
  readonly mode?: number
  readonly content?: string
  readonly linkname?: string
}

/** A plain tar made with tar-stream, so malicious names and odd entry types are easy to write. */
export const tarBytes = async (members: ReadonlyArray<Member>): Promise<Buffer> => {
  const pack = tar.pack()
  const chunks: Array<Buffer> = []
  const done = (async () => {
    for await (const chunk of pack) chunks.push(Buffer.from(chunk as Uint8Array))
  })()
  for (const m of members) {
    const type = m.type ?? "file"
    const body = type === "file" ? Buffer.from(m.content ?? "") : Buffer.alloc(0)
    await new Promise<void>((resolve, reject) =>
      pack.entry(
        {
          name: m.name,
          type,
          mode: m.mode ?? (type === "directory" ? 0o755 : 0o644),
          size: body.length,
          ...(m.linkname !== undefined ? { linkname: m.linkname } : {})
        },
        body,
        (e) => (e ? reject(e) : resolve())
      )
    )
  }
  pack.finalize()
  await done
  return Buffer.concat(chunks)
}

export const tarGz = async (members: ReadonlyArray<Member>) => zlib.gzipSync(await tarBytes(members))
export const tarXz = async (members: ReadonlyArray<Member>) => Buffer.from(await xz.compress(await tarBytes(members)))

/** A stored (uncompressed) zip with unix modes, written by hand so any name or mode can be tested. */
export const zipBytes = (members: ReadonlyArray<Member>): Buffer => {
  const locals: Array<Buffer> = []
  const centrals: Array<Buffer> = []
  let offset = 0
  for (const m of members) {
    const type = m.type ?? "file"
    const name = Buffer.from(type === "directory" && !m.name.endsWith("/") ? `${m.name}/` : m.name)
    const data = Buffer.from(type === "symlink" ? m.linkname ?? "" : m.content ?? "")
    const kind = type === "directory" ? 0o040000 : type === "symlink" ? 0o120000 : 0o100000
    const mode = kind | (m.mode ?? (type === "directory" ? 0o755 : type === "symlink" ? 0o777 : 0o644))
    const crc = zlib.crc32(data)
    const local = Buffer.alloc(30)
    local.writeUInt32LE(0x04034b50, 0)
    local.writeUInt16LE(20, 4)
    local.writeUInt16LE(0x0800, 6)
    local.writeUInt32LE(crc, 14)
    local.writeUInt32LE(data.length, 18)
    local.writeUInt32LE(data.length, 22)
    local.writeUInt16LE(name.length, 26)
    locals.push(local, name, data)
    const central = Buffer.alloc(46)
    central.writeUInt32LE(0x02014b50, 0)
    central.writeUInt16LE((3 << 8) | 20, 4)
    central.writeUInt16LE(20, 6)
    central.writeUInt16LE(0x0800, 8)
    central.writeUInt32LE(crc, 16)
    central.writeUInt32LE(data.length, 20)
    central.writeUInt32LE(data.length, 24)
    central.writeUInt16LE(name.length, 28)
    central.writeUInt32LE((mode << 16) >>> 0, 38)
    central.writeUInt32LE(offset, 42)
    centrals.push(central, name)
    offset += local.length + name.length + data.length
  }
  const directory = Buffer.concat(centrals)
  const end = Buffer.alloc(22)
  end.writeUInt32LE(0x06054b50, 0)
  end.writeUInt16LE(members.length, 8)
  end.writeUInt16LE(members.length, 10)
  end.writeUInt32LE(directory.length, 12)
  end.writeUInt32LE(offset, 16)
  return Buffer.concat([...locals, directory, end])
}

const recordHash = (text: string) => `sha256=${createHash("sha256").update(text).digest("base64url")}`

/** A pure-python wheel written by hand (METADATA, WHEEL, entry_points.txt, RECORD) whose console script prints its version. */
export const wheel = (name: string, version: string): Buffer => {
  const dist = `${name}-${version}.dist-info`
  const files: Record<string, string> = {
    [`${name}/__init__.py`]: `def main():\n    print("hello from ${name} ${version}")\n`,
    [`${dist}/METADATA`]: `Metadata-Version: 2.1\nName: ${name}\nVersion: ${version}\n`,
    [`${dist}/WHEEL`]: "Wheel-Version: 1.0\nGenerator: engine-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    [`${dist}/entry_points.txt`]: `[console_scripts]\n${name} = ${name}:main\n`
  }
  const record = Object.entries(files).map(([p, c]) => `${p},${recordHash(c)},${Buffer.byteLength(c)}\n`).join("") + `${dist}/RECORD,,\n`
  return zipBytes([...Object.entries(files).map(([p, content]) => ({ name: p, content })), { name: `${dist}/RECORD`, content: record }])
}
