import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { engine, repoRoot } from "./support/Cli"

// `engine backends` and the README's backend table are what a user reads to write a tool spec: every backend must
// be in both, with its spec form, options (or settings) and an example line.

interface Listed {
  readonly id: string
  readonly specForm: string
  readonly options: ReadonlyArray<string>
  readonly settings: ReadonlyArray<string>
  readonly description: string
}

const CORE_TOOLS = ["bun", "deno", "go", "java", "node", "python", "zig"]

/** The rows of the README table headed `| backend | example | options |`: backend id → example cells. */
const readmeRows = (): ReadonlyMap<string, ReadonlyArray<string>> => {
  const lines = fs.readFileSync(path.join(repoRoot, "README.md"), "utf8").split("\n")
  const start = lines.findIndex((l) => l.startsWith("| backend | example | options |"))
  expect(start).toBeGreaterThan(-1)
  const rows = new Map<string, Array<string>>()
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith("|")) break
    const [, backend, example] = line.split(/(?<!\\)\|/).map((c) => c.trim())
    const id = /^`([a-z0-9]+)`$/.exec(backend ?? "")?.[1]
    expect(id, line).toBeDefined()
    rows.set(id!, [...(rows.get(id!) ?? []), example ?? ""])
  }
  return rows
}

describe("engine backends", () => {
  it("lists every backend of the download family with its spec form and options, as text and as JSON", async () => {
    const json = await engine(["backends", "--json"], { cwd: repoRoot })
    expect(json.code, json.stderr).toBe(0)
    const listed = JSON.parse(json.stdout) as ReadonlyArray<Listed>
    const byId = new Map(listed.map((b) => [b.id, b]))
    for (const id of ["core", "http", "github", "gitlab", "forgejo", "ubi", "aqua", "s3"]) expect(byId.has(id), id).toBe(true)
    for (const id of ["github", "gitlab", "forgejo"]) {
      expect(byId.get(id)!.options).toEqual(expect.arrayContaining(["asset_pattern", "version_prefix", "bin_path", "strip_components", "api_url"]))
    }
    expect(byId.get("github")!.specForm).toBe("github:<owner>/<repo>")
    expect(byId.get("gitlab")!.specForm).toBe("gitlab:<group>/<project>")
    expect(byId.get("forgejo")!.specForm).toBe("forgejo:<owner>/<repo>")
    expect(byId.get("ubi")!.options).toEqual(expect.arrayContaining(["exe", "matching", "extract_all", "bin_path", "api_url"]))
    expect(byId.get("aqua")!.specForm).toBe("aqua:<owner>/<repo>")
    expect(byId.get("s3")!.options).toEqual(expect.arrayContaining(["url", "endpoint", "region", "version_prefix"]))
    // Core tools are set up through [settings]: each tool's mirror is listed with its env var.
    const core = byId.get("core")!
    for (const setting of [
      "node.mirror_url (MISE_NODE_MIRROR_URL)",
      "go.download_mirror (MISE_GO_DOWNLOAD_MIRROR)",
      "python.download_mirror (MISE_PYTHON_DOWNLOAD_MIRROR)",
      "java.adoptium_api_url (MISE_JAVA_ADOPTIUM_API_URL)",
      "deno.download_mirror (MISE_DENO_DOWNLOAD_MIRROR)",
      "bun.download_mirror (MISE_BUN_DOWNLOAD_MIRROR)",
      "zig.download_mirror (MISE_ZIG_DOWNLOAD_MIRROR)"
    ]) expect(core.settings).toContain(setting)
    for (const b of listed) {
      expect(b.specForm, b.id).not.toBe("")
      expect(b.description, b.id).not.toBe("")
    }

    const text = await engine(["backends"], { cwd: repoRoot })
    expect(text.code, text.stderr).toBe(0)
    for (const b of listed) {
      expect(text.stdout, b.id).toContain(`${b.id.padEnd(10)} ${b.specForm.padEnd(28)} ${b.description}\n`)
      if (b.options.length > 0) expect(text.stdout, b.id).toContain(`options: ${b.options.join(", ")}\n`)
    }
    expect(text.stdout).toMatch(/^core +<core tool>, e\.g\. node .*\n +settings: bun\.index_url \(MISE_BUN_INDEX_URL\), /m)
  })

  it("every backend it lists has a README row with an example line; each core tool has its own", async () => {
    const listed = JSON.parse((await engine(["backends", "--json"], { cwd: repoRoot })).stdout) as ReadonlyArray<Listed>
    const rows = readmeRows()
    for (const b of listed) {
      expect(rows.has(b.id), `README has no row for ${b.id}`).toBe(true)
      for (const example of rows.get(b.id)!) expect(example, b.id).toMatch(/^`.+`/)
    }
    expect([...rows.keys()].filter((id) => !listed.some((b) => b.id === id))).toEqual([])
    const coreExamples = rows.get("core")!.join(" ")
    for (const tool of CORE_TOOLS) expect(coreExamples, tool).toMatch(new RegExp(`\`${tool} = "`))
    for (const id of ["github", "gitlab", "forgejo", "ubi", "aqua", "s3"]) expect(rows.get(id)!.join(" "), id).toContain(`"${id}:`)
  })
})
