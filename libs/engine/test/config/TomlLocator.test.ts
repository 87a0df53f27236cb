import { describe, expect, it } from "vitest"
import { formatKeyPath, makeTomlLocator } from "../../src/config/TomlLocator"

const text = `# comment
[tools]
node = "20"
"http:hello" = { version = "1.0.0", url = "https://x/{{version}}.tgz", platforms = { linux-x64 = { url = "u" } } }
python = [
  "3.12",
  { version = "3.11", os = ["linux"] },
]
long = """
[oci]
not = "a key"
"""

[oci]
from = "scratch"
entrypoint = "sh"
labels.team = "core"

[oci.env]
FOO = "bar"

[[oci.copy]]
host = "a"
image = "/a"

[[oci.copy]]
host = "b"
image = "rel"
`

describe("makeTomlLocator", () => {
  const locator = makeTomlLocator(text)

  it("finds keys under [table] headers, with their column", () => {
    expect(locator.locate(["tools", "node"])).toEqual({ line: 3, column: 1 })
    expect(locator.locate(["oci", "entrypoint"])).toEqual({ line: 16, column: 1 })
  })

  it("finds keys inside inline tables, nested ones too", () => {
    expect(locator.locate(["tools", "http:hello", "url"])?.line).toBe(4)
    expect(locator.locate(["tools", "http:hello", "url"])?.column).toBe(37)
    expect(locator.locate(["tools", "http:hello", "platforms", "linux-x64", "url"])?.line).toBe(4)
  })

  it("finds array elements over several lines", () => {
    expect(locator.locate(["tools", "python", 0])).toEqual({ line: 6, column: 3 })
    expect(locator.locate(["tools", "python", 1, "os"])?.line).toBe(7)
  })

  it("does not mistake multi-line string content for headers", () => {
    expect(locator.locate(["oci"])?.line).toBe(14)
    expect(locator.locate(["oci", "not"])?.line).toBe(14)
  })

  it("handles dotted keys, sub-tables and [[array]] tables by index", () => {
    expect(locator.locate(["oci", "labels", "team"])?.line).toBe(17)
    expect(locator.locate(["oci", "env", "FOO"])?.line).toBe(20)
    expect(locator.locate(["oci", "copy", 1, "image"])?.line).toBe(28)
    expect(locator.locate(["oci", "copy", 0])?.line).toBe(22)
  })

  it("falls back to the nearest written ancestor", () => {
    expect(locator.locate(["oci", "env", "MISSING"])?.line).toBe(19)
    expect(locator.locate(["nothing"])).toBeUndefined()
  })
})

describe("formatKeyPath", () => {
  it("renders dotted keys, quoting where TOML would, and indices", () => {
    expect(formatKeyPath(["oci", "copy", 0, "image"])).toBe("oci.copy[0].image")
    expect(formatKeyPath(["tools", "http:hello"])).toBe('tools."http:hello"')
  })
})
