import { randomBytes } from "node:crypto"
import { gunzipSync } from "node:zlib"
import { describe, expect, it } from "vitest"
import { GZIP_HEADER, gzipMembers, gzipMiseBytes } from "../src/index"

async function* pieces(data: Buffer, size: number) {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size)
}

const collect = async (gen: AsyncIterable<Buffer>) => {
  const out: Array<Buffer> = []
  for await (const b of gen) out.push(b)
  return Buffer.concat(out)
}

describe("gzipMembers: parallel multi-member gzip", () => {
  const data = Buffer.concat([randomBytes(300_000), Buffer.alloc(500_000, "text text text ")])

  it("is the same bytes whatever the parallelism and however the input is chunked", async () => {
    const one = await collect(gzipMembers(pieces(data, 4096), { memberSize: 100_000, parallel: 1 }))
    const four = await collect(gzipMembers(pieces(data, 77_777), { memberSize: 100_000, parallel: 4 }))
    expect(four.equals(one)).toBe(true)
  })

  it("decompresses to the input, with mise's header on every member", async () => {
    const out = await collect(gzipMembers(pieces(data, 65_536), { memberSize: 100_000, parallel: 2 }))
    expect(gunzipSync(out).equals(data)).toBe(true)
    expect(out.subarray(0, 10).equals(GZIP_HEADER)).toBe(true)
    let members = 0
    for (let i = out.indexOf(GZIP_HEADER); i >= 0; i = out.indexOf(GZIP_HEADER, i + 1)) members++
    expect(members).toBeGreaterThanOrEqual(8)
  })

  it("writes one member, equal to the single-shot gzip, for input under one member", async () => {
    const small = data.subarray(0, 50_000)
    const out = await collect(gzipMembers(pieces(small, 1000), { memberSize: 100_000 }))
    expect(out.equals(gzipMiseBytes(small))).toBe(true)
  })

  it("a layer under one member holds no member-sized buffer, even once workers run (a daemon after a big layer)", async () => {
    // Several members: the compressing workers start (and stay, as in the daemon).
    await collect(gzipMembers(pieces(data, 65_536), { memberSize: 100_000, parallel: 2 }))
    const small = data.subarray(0, 50_000)
    const members: Array<Buffer> = []
    for await (const member of gzipMembers(pieces(small, 1000), { memberSize: 100_000 })) members.push(member)
    expect(Buffer.concat(members).equals(gzipMiseBytes(small))).toBe(true)
    // A worker's one-shot output is a member's bound (100 KB here, 8 MB in a build) handed over whole: each small layer
    // would hold that much external memory until a collection.
    for (const member of members) expect(member.buffer.byteLength).toBeLessThan(100_000)
  })

  it("writes a valid empty gzip for empty input", async () => {
    const out = await collect(gzipMembers(pieces(Buffer.alloc(0), 10)))
    expect(gunzipSync(out).length).toBe(0)
  })
})
