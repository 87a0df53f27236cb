import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { checksumFromAquaFile } from "../src/Aqua"
import { evalAquaExpr, semverMatches } from "../src/aqua/Expr"
import { type AquaPackage, applyOverride, assetNames, fileLinks, formatOf, versionCandidates, versionFromTag, withVersion } from "../src/aqua/Package"
import { renderAquaTemplate } from "../src/aqua/Template"

const ctx = { Version: "v1.2.3", OS: "darwin", Arch: "amd64", Format: "tar.gz", "Vars.channel": "stable" }
const render = (t: string) => renderAquaTemplate(t, ctx)
const target = { os: "linux", arch: "amd64", vars: {} }

describe("aqua templates", () => {
  it("renders the functions and pipelines registries use", () => {
    expect(render("tool_{{trimV .Version}}_{{.OS}}_{{.Arch}}.{{.Format}}")).toEqual(Either.right("tool_1.2.3_darwin_amd64.tar.gz"))
    expect(render("{{title .OS}}-{{.Version | trimPrefix \"v\"}}")).toEqual(Either.right("Darwin-1.2.3"))
    expect(render("{{(semver .Version).Major}}.{{(semver .Version).Minor}}")).toEqual(Either.right("1.2"))
    expect(render("{{replace \"amd64\" \"x64\" .Arch}}/{{trimSuffix \".gz\" .Format}}")).toEqual(Either.right("x64/tar"))
    expect(render("a {{- .OS -}} b/{{.Vars.channel}}")).toEqual(Either.right("adarwinb/stable"))
    expect(renderAquaTemplate("{{title .Arch}}", { Arch: "x86_64" })).toEqual(Either.right("X86_64"))
  })

  it("fails on names it does not know instead of rendering them empty", () => {
    expect(render("{{.Nope}}")).toEqual(Either.left(".Nope is not defined here"))
    expect(Either.isLeft(render("{{upper .OS}}"))).toBe(true)
    expect(render("{{.OS")).toEqual(Either.left("unclosed {{ in \"{{.OS\""))
  })
})

describe("aqua expressions", () => {
  it("evaluates version constraints on tags", () => {
    expect(evalAquaExpr("semver(\">= 1.2.0\")", "v1.2.3")).toEqual(Either.right(true))
    expect(evalAquaExpr("semver(\"< 1.2.0\")", "cli-v1.2.3")).toEqual(Either.right(false))
    expect(evalAquaExpr("Version == \"v1.0\" || Version startsWith \"v2.\"", "v2.1.0")).toEqual(Either.right(true))
    expect(evalAquaExpr("true && !(Version contains \"rc\")", "v1.0.0-rc1")).toEqual(Either.right(false))
    expect(evalAquaExpr("not (Version matches \"^v[0-9]+$\") and false", "v1")).toEqual(Either.right(false))
    expect(evalAquaExpr("false", "v1")).toEqual(Either.right(false))
    expect(evalAquaExpr("Version in [\"v1.0.0\", \"v1.0.1\"]", "v1.0.1")).toEqual(Either.right(true))
    expect(evalAquaExpr("not (Version in [\"v1.0.0\"])", "v1.0.0")).toEqual(Either.right(false))
    expect(Either.isLeft(evalAquaExpr("Version > 3", "v1"))).toBe(true)
  })

  it("compares versions as go-version does (any number of parts, pre-releases first, ~ and ^)", () => {
    expect(semverMatches("<= 5.34.1.0", "5.34.1")).toEqual(Either.right(true))
    expect(semverMatches("!= 0.0.45", "0.0.45")).toEqual(Either.right(false))
    expect(semverMatches(">= 1.0.0", "1.0.0-rc.1")).toEqual(Either.right(false))
    expect(semverMatches("~1.2.0", "1.2.9")).toEqual(Either.right(true))
    expect(semverMatches("~1.2.0", "1.3.0")).toEqual(Either.right(false))
    expect(semverMatches("^0.2.3", "0.2.9")).toEqual(Either.right(true))
    expect(semverMatches("^0.2.3", "0.3.0")).toEqual(Either.right(false))
    expect(semverMatches(">= 1, < 2", "1.9.9")).toEqual(Either.right(true))
    expect(semverMatches("1.2.3", "1.2.3")).toEqual(Either.left("invalid semver requirement \"1.2.3\""))
  })
})

describe("aqua packages", () => {
  const pkg: AquaPackage = {
    repo_owner: "acme",
    repo_name: "tool",
    asset: "tool-{{.Version}}-{{.OS}}-{{.Arch}}",
    format: "tar.gz",
    version_prefix: "tool/",
    replacements: { amd64: "x86_64" },
    checksum: { type: "github_release", asset: "{{.Asset}}.sha256", algorithm: "sha256" },
    files: [{ name: "tool", src: "{{.AssetWithoutExt}}/tool-bin" }, { name: "helper", src: "bin/helper", link: "tool-helper" }],
    version_constraint: "false",
    version_overrides: [
      { version_constraint: "semver(\"< 2.0.0\")", format: "zip", checksum: { enabled: false } },
      { version_constraint: "true", overrides: [{ goos: "linux", format: "raw", files: [{ name: "tool" }] }] }
    ]
  }

  it("takes versions from tags through the prefix and the version overrides", () => {
    expect(versionFromTag(pkg, "tool/v1.5.0", "linux", "amd64")).toEqual(
      Either.right({ version: "1.5.0", pkg: applyOverride(pkg, pkg.version_overrides![0]!) })
    )
    expect(versionFromTag(pkg, "other/v1.5.0", "linux", "amd64")).toEqual(Either.right(undefined))
    expect(versionCandidates("1.5.0", "tool/")).toEqual(["tool/1.5.0", "tool/v1.5.0"])
    expect(versionCandidates("1.5.0", undefined)).toEqual(["1.5.0", "v1.5.0"])
  })

  it("merges an override's checksum field by field and appends the format's extension", () => {
    const old = withVersion(pkg, ["tool/v1.5.0"], "linux", "amd64")
    expect(old.checksum).toEqual({ type: "github_release", asset: "{{.Asset}}.sha256", algorithm: "sha256", enabled: false })
    expect(assetNames(old, "tool/v1.5.0", target)).toEqual(Either.right(["tool-tool/v1.5.0-linux-x86_64.zip", "tool-tool/v1.5.0-linux-x86_64"]))
    const current = withVersion(pkg, ["tool/v2.0.0"], "linux", "amd64")
    expect(formatOf(current, "tool/v2.0.0", target)).toEqual(Either.right("raw"))
    expect(current.files).toEqual([{ name: "tool" }])
  })

  it("links each file's src under its name, or its link", () => {
    const p: AquaPackage = { ...pkg, version_constraint: undefined, version_prefix: undefined, asset: "tool_{{trimV .Version}}.tar.gz" }
    expect(fileLinks(p, ["v1.0.0"], target)).toEqual(Either.right([
      { src: "tool_1.0.0/tool-bin", dst: "tool_1.0.0/tool", hard: false },
      { src: "bin/helper", dst: "bin/tool-helper", hard: false }
    ]))
    expect(fileLinks({ repo_owner: "acme", repo_name: "tool" }, ["v1"], target)).toEqual(Either.right([{ src: "tool", dst: "tool", hard: false }]))
  })
})

describe("aqua checksum files", () => {
  const hex = "a".repeat(64)
  const other = "b".repeat(64)
  it("finds the asset's line, a lone digest, or the regexp's capture", () => {
    expect(checksumFromAquaFile(`${other}  x.tar.gz\n${hex} *./dist/tool.tar.gz\n`, {}, "tool.tar.gz")).toEqual(Either.right(hex))
    expect(checksumFromAquaFile(`${hex}\n`, {}, "tool.tar.gz")).toEqual(Either.right(hex))
    const regexp = { file_format: "regexp", pattern: { checksum: "^(\\b[A-Fa-f0-9]{64}\\b)", file: "^\\b[A-Fa-f0-9]{64}\\b\\s+(\\S+)$" } }
    expect(checksumFromAquaFile(`${other} x.tar.gz\n${hex} tool.tar.gz\n`, regexp, "tool.tar.gz")).toEqual(Either.right(hex))
  })

  it("never takes another file's digest", () => {
    expect(checksumFromAquaFile(`${other}  x.tar.gz\n`, {}, "tool.tar.gz")).toEqual(Either.left("no line for tool.tar.gz"))
  })
})
