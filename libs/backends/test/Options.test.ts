import { cleanBinaryName, parseChecksum, platformOption, platformsWithOption, renderTemplate } from "@engine/backends"
import { Either } from "effect"
import { describe, expect, it } from "vitest"

const linux = { os: "linux", arch: "x64" }
const render = (t: string, platform = linux, env: Record<string, string> = {}) =>
  renderTemplate(t, { version: "1.2.3", platform, env })

describe("URL templates", () => {
  it("fills version in every spelling mise accepts", () => {
    expect(render("https://x/{{ version }}/a-{{version}}-{version}.tgz")).toEqual(Either.right("https://x/1.2.3/a-1.2.3-1.2.3.tgz"))
  })

  it("renders os()/arch() with remaps, and env.NAME", () => {
    expect(render(`t_{{ os(macos="darwin") }}_{{ arch(x64="amd64", arm64='aarch64') }}`)).toEqual(Either.right("t_linux_amd64"))
    expect(render("t_{{ os() }}_{{ arch() }}", { os: "macos", arch: "arm64" })).toEqual(Either.right("t_macos_arm64"))
    expect(render(`t_{{ os(macos="darwin") }}`, { os: "macos", arch: "arm64" })).toEqual(Either.right("t_darwin"))
    expect(render("{{ env.MIRROR }}/x", linux, { MIRROR: "https://m" })).toEqual(Either.right("https://m/x"))
  })

  it("names what it cannot render", () => {
    expect(render("{{ version | upper }}")).toEqual(
      Either.left("unsupported expression {{ version | upper }} (supported: version, os(), arch(), env.NAME)")
    )
    expect(render("{{ env.NOPE }}")).toEqual(Either.left("environment variable NOPE is not set"))
  })
})

describe("platform options", () => {
  it("prefers platforms.<os>-<arch>, accepts mise's aliases and the flat form, then the plain key", () => {
    expect(platformOption({ url: "u", "platforms.linux-x64.url": "p" }, "url", linux)).toBe("p")
    expect(platformOption({ url: "u", "platforms.linux-amd64.url": "a" }, "url", linux)).toBe("a")
    expect(platformOption({ "platform.linux-x86_64.url": "b" }, "url", linux)).toBe("b")
    expect(platformOption({ platforms_linux_x64_url: "f" }, "url", linux)).toBe("f")
    expect(platformOption({ url: "u", "platforms.macos-arm64.url": "m" }, "url", linux)).toBe("u")
    expect(platformOption({ "platforms.darwin-aarch64.url": "d" }, "url", { os: "macos", arch: "arm64" })).toBe("d")
    expect(platformOption({ strip_components: 1 }, "strip_components", linux)).toBe("1")
  })

  it("lists the platforms that have a key", () => {
    expect(platformsWithOption({ "platforms.macos-arm64.url": "m", "platforms.linux-arm64.url": "l", "platforms.linux-arm64.checksum": "c" }, "url"))
      .toEqual(["macos-arm64", "linux-arm64"])
  })
})

describe("checksums", () => {
  const hex = "a".repeat(64)
  it("reads algorithm:hex and bare sha256 hex", () => {
    expect(parseChecksum(`sha256:${hex}`)).toEqual({ algorithm: "sha256", hex })
    expect(parseChecksum(`SHA256:${hex.toUpperCase()}`)).toEqual({ algorithm: "sha256", hex })
    expect(parseChecksum(hex)).toEqual({ algorithm: "sha256", hex })
    expect(parseChecksum(`sha512:${"b".repeat(128)}`)).toEqual({ algorithm: "sha512", hex: "b".repeat(128) })
  })

  it("explains blake3 and malformed values", () => {
    expect(parseChecksum(`blake3:${hex}`)).toContain("blake3 checksums are not supported yet")
    expect(parseChecksum("sha256:abc")).toBe(`checksum "sha256:abc": a sha256 checksum is 64 hex characters`)
    expect(parseChecksum("nope")).toContain("is not in the form <algorithm>:<hex>")
  })
})

describe("cleanBinaryName (mise's single-binary naming)", () => {
  // jq-linux64, tool_musllinux_1_2_x86_64 and app-2.0.0-linux-x64 were checked against mise 2026.9.15.
  it.each([
    ["docker-compose-linux-x86_64", undefined, "docker-compose"],
    ["tool-darwin-arm64.exe", undefined, "tool.exe"],
    ["mytool-v1.2.3-windows-amd64", undefined, "mytool"],
    ["app-2.0.0-linux-x64", "app", "app"],
    ["script-darwin-arm64.sh", undefined, "script.sh"],
    ["tiny-linux-x64", "tiny", "tiny"],
    ["jq-linux64", "jq", "jq-linux64"],
    ["hello", "hello", "hello"],
    ["hello-1.0.0", "hello", "hello"],
    ["yq_linux_amd64", "yq", "yq"],
    ["tool_musllinux_1_2_x86_64", "tool", "tool"],
    ["other-1.0.0", "hello", "other-1.0.0"]
  ])("%s (tool %s) → %s", (name, tool, expected) => {
    expect(cleanBinaryName(name, tool)).toBe(expected)
  })
})
