import { Either } from "effect"
import { parse } from "smol-toml"
import { describe, expect, it } from "vitest"
import { makeTomlLocator } from "../../src/config/TomlLocator"
import {
  mergeToolsets,
  parseInlineOptions,
  parseToolKey,
  toolsFromTable,
  toolsFromToolVersions,
  toolSupportsPlatform,
  type ToolSpec
} from "../../src/config/Tools"

const fromToml = (text: string, env: Record<string, string> = {}) => {
  const locator = makeTomlLocator(text)
  return toolsFromTable(parse(text)["tools"], {
    file: "/p/mise.toml",
    configDir: "/p",
    template: { env, vars: {}, config_root: "/p", cwd: "/p" },
    lineOf: (path) => locator.locate(path)?.line ?? 1
  })
}

const tools = (text: string, env: Record<string, string> = {}): ReadonlyArray<ToolSpec> => Either.getOrThrow(fromToml(text, env))

describe("parseToolKey", () => {
  it("maps core tools and their aliases to the core backend", () => {
    expect(parseToolKey("node")).toEqual(Either.right({ short: "node", backend: "core", name: "node", inlineOptions: {} }))
    expect(Either.map(parseToolKey("nodejs"), (k) => k.short)).toEqual(Either.right("node"))
    expect(Either.map(parseToolKey("core:python"), (k) => [k.short, k.backend])).toEqual(Either.right(["python", "core"]))
  })

  it("splits backend:name at the first colon", () => {
    expect(Either.map(parseToolKey("npm:@scope/pkg"), (k) => [k.backend, k.name])).toEqual(Either.right(["npm", "@scope/pkg"]))
    expect(Either.map(parseToolKey("github:BurntSushi/ripgrep"), (k) => k.short)).toEqual(Either.right("github:BurntSushi/ripgrep"))
  })

  it("rejects a bare non-core name, naming it and suggesting backend:name", () => {
    const result = parseToolKey("jq")
    expect(Either.isLeft(result)).toBe(true)
    const message = Either.isLeft(result) ? result.left : ""
    expect(message).toContain('unknown tool "jq"')
    expect(message).toContain('"backend:name"')
    expect(message).toContain("aqua:<owner>/jq")
  })

  it("reads inline [options], as TOML or in the legacy k=v form", () => {
    expect(Either.map(parseToolKey("http:x[url=https://h/a.tgz,bin_path=bin]"), (k) => [k.short, k.inlineOptions])).toEqual(
      Either.right(["http:x", { url: "https://h/a.tgz", bin_path: "bin" }])
    )
    expect(parseInlineOptions('exe="rg", platforms={linux-x64={url="u"}}')).toEqual({ exe: "rg", platforms: { "linux-x64": { url: "u" } } })
    expect(parseInlineOptions("matching=musl,gnu,exe=rg")).toEqual({ matching: "musl,gnu", exe: "rg" })
  })
})

describe("toolsFromTable", () => {
  it("reads strings, arrays (one spec per version) and tables, in declaration order, with lines", () => {
    const specs = tools(`[tools]
node = "20"
python = ["3.12", { version = "3.11" }]
"http:hello" = { version = "1.0.0", url = "https://h/{{version}}.tgz", bin_path = "bin", strip_components = 1 }
`)
    expect(specs.map((s) => [s.short, s.version, s.source.line])).toEqual([
      ["node", "20", 2],
      ["python", "3.12", 3],
      ["python", "3.11", 3],
      ["http:hello", "1.0.0", 4]
    ])
    expect(specs[3]?.options).toEqual({ url: "https://h/{{version}}.tgz", bin_path: "bin", strip_components: 1 })
    expect(specs[3]?.configDir).toBe("/p")
  })

  it("turns path/prefix/ref selectors into version specs and lifts os, depends, install_env", () => {
    const specs = tools(`[tools]
"go:a" = { ref = "main" }
"go:b" = { prefix = "1.2", os = "linux" }
"go:c" = { path = "./local", depends = "go:a", install_env = { CGO_ENABLED = 0 }, postinstall = "echo hi" }
`)
    expect(specs.map((s) => s.version)).toEqual(["ref:main", "prefix:1.2", "path:./local"])
    expect(specs[1]?.os).toEqual(["linux"])
    expect(specs[2]?.depends).toEqual(["go:a"])
    expect(specs[2]?.installEnv).toEqual({ CGO_ENABLED: "0" })
    expect(specs[2]?.options).toEqual({ postinstall: "echo hi" })
  })

  it("flattens nested backend options to dotted keys and keeps string arrays", () => {
    const [spec] = tools(`[tools]
"http:x" = { version = "1", platforms = { linux-x64 = { url = "a" }, macos-arm64 = { url = "b" } }, exe = ["a", "b"] }
`)
    expect(spec?.options).toEqual({ "platforms.linux-x64.url": "a", "platforms.macos-arm64.url": "b", exe: ["a", "b"] })
  })

  it("renders templates in versions", () => {
    expect(tools(`[tools]\nnode = "{{ env.NODE_VERSION }}"\n`, { NODE_VERSION: "22.1.0" })[0]?.version).toBe("22.1.0")
  })

  it("reports mise's errors at the tool's key", () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      ['[tools]\nnode = { version = "1", ref = "x" }\n', "tool definition cannot specify both `version` and `ref`"],
      ['[tools]\nnode = { os = ["linux"] }\n', "tool definition must include exactly one of `version`, `path`, `prefix`, or `ref`"],
      ["[tools]\nnode = 20\n", "invalid type: integer 20, expected a version string, an array of versions or a tool table"],
      ['[tools]\nnode = "$(id)"\n', 'invalid tool version "$(id)": contains forbidden character "$"'],
      ['[tools]\njq = "1.7"\n', 'unknown tool "jq"']
    ]
    for (const [text, reason] of cases) {
      const result = fromToml(text)
      expect(Either.isLeft(result)).toBe(true)
      if (Either.isLeft(result)) {
        expect(result.left.reason).toContain(reason)
        expect(result.left.path.slice(0, 2)).toEqual(["tools", text.includes("jq") ? "jq" : "node"])
      }
    }
  })
})

describe("toolsFromToolVersions", () => {
  it("reads one spec per version, skipping comments and trailing colons", () => {
    const result = toolsFromToolVersions("# pinned\nnodejs: 20.1.0 18  # two\n\npython 3.12\n", {
      file: "/p/.tool-versions",
      configDir: "/p",
      template: {}
    })
    expect(Either.map(result, (specs) => specs.map((s) => [s.short, s.version, s.source.line]))).toEqual(
      Either.right([
        ["node", "20.1.0", 2],
        ["node", "18", 2],
        ["python", "3.12", 4]
      ])
    )
  })

  it("names the line of an unknown tool", () => {
    const result = toolsFromToolVersions("node 20\nshellcheck 0.9.0\n", { file: "/p/.tool-versions", configDir: "/p", template: {} })
    expect(Either.isLeft(result) && result.left.line).toBe(2)
  })
})

describe("mergeToolsets", () => {
  const spec = (short: string, version: string, file: string): ToolSpec => ({
    short,
    backend: "http",
    name: short,
    version,
    options: {},
    source: { file, line: 1 },
    configDir: "/"
  })

  it("puts the most specific file's tools first and lets its entry replace a parent's whole version list", () => {
    const child = [spec("b", "2", "child"), spec("hello", "1.1.0", "child")]
    const parent = [spec("hello", "1.0.0", "parent"), spec("hello", "0.9.0", "parent"), spec("a", "1", "parent")]
    expect(mergeToolsets([child, parent]).map((s) => `${s.short}@${s.version}`)).toEqual(["b@2", "hello@1.1.0", "a@1"])
  })
})

describe("toolSupportsPlatform", () => {
  const withOs = (os: ReadonlyArray<string> | undefined): ToolSpec => ({
    short: "x",
    backend: "http",
    name: "x",
    version: "1",
    options: {},
    ...(os === undefined ? {} : { os }),
    source: { file: "f", line: 1 },
    configDir: "/"
  })
  const linuxX64 = { os: "linux", arch: "x64" }

  it("matches os alone, os/arch with mise's aliases, and no list at all", () => {
    expect(toolSupportsPlatform(withOs(undefined), linuxX64)).toBe(true)
    expect(toolSupportsPlatform(withOs(["linux"]), linuxX64)).toBe(true)
    expect(toolSupportsPlatform(withOs(["linux/amd64"]), linuxX64)).toBe(true)
    expect(toolSupportsPlatform(withOs(["linux/arm64"]), linuxX64)).toBe(false)
    expect(toolSupportsPlatform(withOs(["macos", "darwin/x64"]), linuxX64)).toBe(false)
  })
})
