import { describe, expect, it } from "vitest"
import { normalizeArchitecture, normalizeVariant, platformIdentity, platformMatches, samePlatform } from "../src/Platform"

describe("platforms", () => {
  it("normalizes architectures and variants as containerd does", () => {
    expect(normalizeArchitecture("x86_64")).toBe("amd64")
    expect(normalizeArchitecture("aarch64")).toBe("arm64")
    expect(normalizeVariant("arm64", undefined)).toBe("v8")
    expect(normalizeVariant("arm64", "8")).toBe("v8")
    expect(normalizeVariant("arm64", "v8.0")).toBe("v8")
    expect(normalizeVariant("arm", undefined)).toBe("v7")
    expect(normalizeVariant("armel", undefined)).toBe("v6")
    expect(normalizeVariant("amd64", "v1")).toBeUndefined()
    expect(normalizeVariant("amd64", "v3")).toBe("v3")
  })

  it("matches by os and architecture, and by variant only when one is asked for", () => {
    const arm64v8 = { os: "linux", architecture: "arm64", variant: "v8" }
    expect(platformMatches(arm64v8, { os: "linux", architecture: "arm64" })).toBe(true)
    expect(platformMatches({ os: "linux", architecture: "arm64" }, { os: "linux", architecture: "arm64", variant: "v8" })).toBe(true)
    expect(platformMatches(arm64v8, { os: "linux", architecture: "aarch64" })).toBe(true)
    expect(platformMatches({ os: "linux", architecture: "arm", variant: "v6" }, { os: "linux", architecture: "arm", variant: "v7" })).toBe(false)
    expect(platformMatches({ os: "unknown", architecture: "unknown" }, { os: "linux", architecture: "amd64" })).toBe(false)
    expect(platformMatches({ os: "windows", architecture: "amd64" }, { os: "linux", architecture: "amd64" })).toBe(false)
  })

  it("treats arm64 and arm64/v8 as the same index entry, and os.version as part of the identity", () => {
    expect(samePlatform({ os: "linux", architecture: "arm64" }, { os: "linux", architecture: "arm64", variant: "v8" })).toBe(true)
    expect(samePlatform({ os: "windows", architecture: "amd64", "os.version": "10.0.1" }, { os: "windows", architecture: "amd64" }))
      .toBe(false)
    expect(platformIdentity({ os: "linux", architecture: "arm64" })).toEqual(["linux", "arm64", "v8", ""])
  })
})
