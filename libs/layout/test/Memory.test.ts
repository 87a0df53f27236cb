import { build } from "esbuild"
import { spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import { createReadStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pipeline } from "node:stream/promises"
import { createGunzip } from "node:zlib"
import { afterAll, describe, expect, it } from "vitest"

const scratch = mkdtempSync(join(tmpdir(), "layout-mem-"))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

const MiB = 1024 * 1024

/** Deterministic, incompressible bytes (xorshift32), so gzip cannot shrink the problem away. */
const noise = (size: number, seed: number): Buffer => {
  const out = Buffer.allocUnsafe(size)
  let x = seed | 1
  for (let i = 0; i + 4 <= size; i += 4) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out.writeInt32LE(x | 0, i)
  }
  return out
}

/** ~150 MiB tool: one 100 MiB binary written in 1 MiB blocks, plus 100 files of 512 KiB. */
const makeBigTool = (root: string) => {
  mkdirSync(join(root, "bin"), { recursive: true })
  mkdirSync(join(root, "lib"), { recursive: true })
  const block = noise(MiB, 7)
  const big = Buffer.allocUnsafe(100 * MiB)
  for (let i = 0; i < 100; i++) {
    block.writeUInt32LE(i, 0)
    block.copy(big, i * MiB)
  }
  writeFileSync(join(root, "bin", "big"), big, { mode: 0o755 })
  for (let i = 0; i < 100; i++) writeFileSync(join(root, "lib", `part-${String(i).padStart(3, "0")}.so`), noise(512 * 1024, i + 11))
}

const sha256Of = async (path: string, gunzip: boolean) => {
  const hash = createHash("sha256")
  const sink = async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) hash.update(chunk)
  }
  if (gunzip) await pipeline(createReadStream(path), createGunzip(), sink)
  else await pipeline(createReadStream(path), sink)
  return `sha256:${hash.digest("hex")}`
}

describe("memory", () => {
  it("a 150 MiB tool layer is written with peak RSS well under 200 MB", async () => {
    const root = join(scratch, "installs", "http-big", "1.0.0")
    makeBigTool(root)
    const probe = join(scratch, "probe.mjs")
    await build({
      entryPoints: [join(import.meta.dirname, "support", "memoryProbe.ts")],
      bundle: true,
      platform: "node",
      format: "esm",
      outfile: probe,
      logLevel: "silent"
    })
    const started = Date.now()
    const out = spawnSync(process.execPath, [probe, root, scratch], { encoding: "utf8", timeout: 300_000 })
    const seconds = (Date.now() - started) / 1000
    expect(out.stderr).toBe("")
    const blob = JSON.parse(out.stdout) as { path: string; digest: string; diffId: string; uncompressedSize: number; maxRssKiB: number }
    console.info(
      `memory probe: peak RSS ${(blob.maxRssKiB / 1024).toFixed(1)} MiB, ${seconds.toFixed(1)} s for a ${(blob.uncompressedSize / MiB).toFixed(1)} MiB tar`
    )
    expect(blob.uncompressedSize).toBeGreaterThan(150 * MiB)
    expect(blob.maxRssKiB * 1024).toBeLessThan(200 * 1000 * 1000)
    expect(await sha256Of(blob.path, false)).toBe(blob.digest)
    expect(await sha256Of(blob.path, true)).toBe(blob.diffId)
  }, 300_000)
})
