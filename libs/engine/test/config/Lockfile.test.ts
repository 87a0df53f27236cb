import { Either } from "effect"
import { parse } from "smol-toml"
import { describe, expect, it } from "vitest"
import { lockedVersionFor, lockfileFromToml, type Lockfile } from "../../src/config/Lockfile"
import type { ToolSpec } from "../../src/config/Tools"

const lock: Lockfile = Either.getOrThrow(
  lockfileFromToml(
    "/p/mise.lock",
    parse(`
[[tools.node]]
version = "20.11.0"
backend = "core:node"

[[tools.node]]
version = "22.1.0"
backend = "core:node"

[tools.node.platforms.linux-x64]
checksum = "sha256:aa"
size = 1
url = "https://nodejs.org/x.tar.xz"

[[tools.ripgrep]]
version = "14.1.1"
backend = "aqua:BurntSushi/ripgrep"
options = { exe = "rg" }

[tools.legacy]
version = "v1.2.3"

[conda-packages]
ignored = true
`)
  )
)

const spec = (short: string, version: string, backend = "core", options: ToolSpec["options"] = {}): ToolSpec => ({
  short,
  backend,
  name: short,
  version,
  options,
  source: { file: "/p/mise.toml", line: 1 },
  configDir: "/p"
})

describe("lockfileFromToml", () => {
  it("reads [[tools.x]] arrays, the older single-table form, options and platforms", () => {
    expect(lock.tools["node"]?.map((t) => t.version)).toEqual(["20.11.0", "22.1.0"])
    expect(lock.tools["node"]?.[1]?.platforms["linux-x64"]).toEqual({ checksum: "sha256:aa", size: 1, url: "https://nodejs.org/x.tar.xz" })
    expect(lock.tools["ripgrep"]?.[0]?.options).toEqual({ exe: "rg" })
    expect(lock.tools["legacy"]?.[0]).toEqual({ version: "v1.2.3", options: {}, platforms: {} })
  })
})

describe("lockedVersionFor", () => {
  it("pins prefixes and exact versions, and latest to the highest", () => {
    expect(lockedVersionFor(lock, spec("node", "20"))?.version).toBe("20.11.0")
    expect(lockedVersionFor(lock, spec("node", "22.1.0"))?.version).toBe("22.1.0")
    expect(lockedVersionFor(lock, spec("node", "latest"))?.version).toBe("22.1.0")
    expect(lockedVersionFor(lock, spec("node", "18"))).toBeUndefined()
  })

  it("respects prefix: boundaries, a leading v, backends and options", () => {
    expect(lockedVersionFor(lock, spec("node", "prefix:2"))).toBeUndefined()
    expect(lockedVersionFor(lock, spec("node", "prefix:20"))?.version).toBe("20.11.0")
    expect(lockedVersionFor(lock, spec("legacy", "1.2", "http"))?.version).toBe("v1.2.3")
    expect(lockedVersionFor(lock, spec("node", "20", "asdf"))).toBeUndefined()
    expect(lockedVersionFor(lock, { ...spec("ripgrep", "14", "aqua", { exe: "rg" }), name: "BurntSushi/ripgrep" })?.version).toBe("14.1.1")
    expect(lockedVersionFor(lock, { ...spec("ripgrep", "14", "aqua"), name: "BurntSushi/ripgrep" })).toBeUndefined()
  })

  it("never pins path: or ref: requests", () => {
    expect(lockedVersionFor(lock, spec("node", "ref:main"))).toBeUndefined()
    expect(lockedVersionFor(lock, spec("node", "path:/x"))).toBeUndefined()
  })
})
