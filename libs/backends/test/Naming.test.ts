import { installDir, kebabCase, rustPathHash, toolDirName, versionDirName } from "@engine/backends"
import { describe, expect, it } from "vitest"

describe("toolDirName (heck to_kebab_case)", () => {
  // Expected values are what mise 2026.9.15 created under installs/ for these shorts, or mise's own tests.
  it.each([
    ["http:hello", "http-hello"],
    ["github:BurntSushi/ripgrep", "github-burnt-sushi-ripgrep"],
    ["npm:prettier", "npm-prettier"],
    ["npm:@antfu/ni", "npm-antfu-ni"],
    ["npm:@scope/pkg", "npm-scope-pkg"],
    ["cargo:eza", "cargo-eza"],
    ["aqua:cli/cli", "aqua-cli-cli"],
    ["asdf:node", "asdf-node"],
    ["node", "node"],
    ["vfox:version-fox/vfox-nodejs", "vfox-version-fox-vfox-nodejs"],
    ["go:github.com/foo/bar", "go-github-com-foo-bar"],
    ["http:HTTPServer", "http-http-server"],
    ["http:XMLHttpRequest", "http-xml-http-request"],
    ["http:abc123Def", "http-abc123-def"],
    ["http:ABC123def", "http-abc123def"],
    ["http:a1B2c3", "http-a1-b2c3"],
    ["http:v8Engine", "http-v8-engine"],
    ["http:x86_64Linux", "http-x86-64linux"],
    ["http:hello_world", "http-hello-world"],
    ["http:foo..bar", "http-foo-bar"],
    ["http:Foo-BAR-baz", "http-foo-bar-baz"],
    ["http:@scope/PkgName", "http-scope-pkg-name"],
    ["http:HELLO", "http-hello"],
    ["http:aB", "http-a-b"],
    ["http:Ab", "http-ab"],
    ["http:aBC", "http-a-bc"],
    ["http:ABc", "http-a-bc"],
    ["http:ÀBc", "http-à-bc"],
    ["http:ÉCOLE2000x", "http-école2000x"],
    ["http:ǅungla", "http-ǆungla"]
  ])("%s → %s", (short, dir) => {
    expect(toolDirName(short)).toBe(dir)
  })

  it("kebabCase drops leading, trailing and repeated separators", () => {
    expect(kebabCase("--a__b--")).toBe("a-b")
    expect(kebabCase("")).toBe("")
  })
})

describe("versionDirName (tv_pathname)", () => {
  it("keeps plain versions", () => {
    expect(versionDirName("1.0.0")).toBe("1.0.0")
    expect(versionDirName("20.11.1")).toBe("20.11.1")
    expect(versionDirName("latest")).toBe("latest")
  })

  it("turns ref-like specs into <type>-<ref> and replaces : and /", () => {
    expect(versionDirName("ref:x")).toBe("ref-x")
    expect(versionDirName("tag:v1.2")).toBe("tag-v1.2")
    expect(versionDirName("branch:feature/a")).toBe("branch-feature-a")
    expect(versionDirName("rev:abc123")).toBe("rev-abc123")
    expect(versionDirName("1.0/rc:1")).toBe("1.0-rc-1")
  })

  it("hashes path: specs like Rust's SipHasher over a PathBuf", () => {
    // Vectors printed by rustc 1.95: format!("{:x}", SipHasher::new() fed PathBuf::from(p).hash()).
    expect(rustPathHash("/tmp/foo")).toBe("a2fa92e544af0d0c")
    expect(rustPathHash("/home/me/proj/tools/x")).toBe("cfd25e1949ec1531")
    expect(rustPathHash("/a//b/./c/")).toBe("d85268ed8b1061d")
    expect(rustPathHash("/")).toBe("e849e8bb6ffe2567")
    expect(rustPathHash("relative/x")).toBe("3adc9c116e2cf0ac")
    expect(rustPathHash("/opt/héllo")).toBe("bfa264a371a8d5ea")
    expect(versionDirName("path:/tmp/foo")).toBe("path-a2fa92e544af0d0c")
    expect(versionDirName("path:tools/x", { base: "/home/me/proj" })).toBe("path-cfd25e1949ec1531")
    expect(versionDirName("path:./tools/x", { base: "/home/me/proj" })).toBe("path-cfd25e1949ec1531")
    expect(versionDirName("path:~/proj/tools/x", { home: "/home/me" })).toBe("path-cfd25e1949ec1531")
  })
})

describe("installDir", () => {
  it("is <data>/installs/<toolDir>/<versionDir>", () => {
    expect(installDir("/d", "http:hello", "1.0.0")).toBe("/d/installs/http-hello/1.0.0")
    expect(installDir("/d", "github:BurntSushi/ripgrep", "ref:main")).toBe("/d/installs/github-burnt-sushi-ripgrep/ref-main")
    expect(installDir("/d", "npm:@scope/pkg", "2.0.0")).toBe("/d/installs/npm-scope-pkg/2.0.0")
  })
})
