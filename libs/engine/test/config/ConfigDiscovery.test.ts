import { Effect } from "effect"
import * as path from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { configRoot, discoverConfigs, discoveryContext, type DiscoveredConfig } from "../../src/config/ConfigDiscovery"
import { makeTree, removeTree } from "./TempTree"

const roots: Array<string> = []
afterEach(() => {
  for (const root of roots.splice(0)) removeTree(root)
})

const tree = (files: Readonly<Record<string, string>>): string => {
  const root = makeTree(files)
  roots.push(root)
  return root
}

/** Isolates discovery from the real machine: home, config and system dirs all inside the temp tree. */
const run = (root: string, cwd: string, env: Record<string, string> = {}) =>
  Effect.runPromise(
    discoverConfigs(
      discoveryContext({
        cwd: path.join(root, cwd),
        home: path.join(root, "home"),
        env: { MISE_SYSTEM_CONFIG_DIR: path.join(root, "etc/mise"), MISE_CEILING_PATHS: path.dirname(root), ...env }
      })
    )
  )

const rel = (root: string, configs: ReadonlyArray<DiscoveredConfig>) =>
  configs.map((c) => `${path.relative(root, c.path)} ${c.scope}`)

describe("discoverConfigs", () => {
  it("orders a directory's files by mise's precedence, highest first, with conf.d sorted", async () => {
    const root = tree({
      "p/.tool-versions": "",
      "p/.config/mise/conf.d/b.toml": "",
      "p/.config/mise/conf.d/a.toml": "",
      "p/.config/mise/conf.d/.hidden.toml": "",
      "p/.config/mise/config.toml": "",
      "p/.config/mise.toml": "",
      "p/.mise/config.toml": "",
      "p/mise/config.toml": "",
      "p/.rtx.toml": "",
      "p/mise.toml": "",
      "p/.mise.toml": "",
      "p/mise.local.toml": "",
      "p/.mise.local.toml": "",
      "p/mise.dev.toml": ""
    })
    expect(rel(root, await run(root, "p"))).toEqual([
      "p/.mise.local.toml project",
      "p/mise.local.toml project",
      "p/.mise.toml project",
      "p/mise.toml project",
      "p/.rtx.toml project",
      "p/mise/config.toml project",
      "p/.mise/config.toml project",
      "p/.config/mise.toml project",
      "p/.config/mise/config.toml project",
      "p/.config/mise/conf.d/b.toml project",
      "p/.config/mise/conf.d/a.toml project",
      "p/.tool-versions project"
    ])
  })

  it("adds MISE_ENV files above all local ones, later environments winning", async () => {
    const root = tree({ "p/mise.toml": "", "p/mise.local.toml": "", "p/mise.dev.toml": "", "p/mise.ci.toml": "", "p/.mise.ci.local.toml": "" })
    expect(rel(root, await run(root, "p", { MISE_ENV: "ci,dev" }))).toEqual([
      "p/mise.dev.toml project",
      "p/.mise.ci.local.toml project",
      "p/mise.ci.toml project",
      "p/mise.local.toml project",
      "p/mise.toml project"
    ])
  })

  it("walks up from cwd (closest first) and stops at MISE_CEILING_PATHS", async () => {
    const root = tree({ "mono/mise.toml": "", "mono/svc/mise.toml": "", "mise.toml": "" })
    expect(rel(root, await run(root, "mono/svc/src"))).toEqual(["mono/svc/mise.toml project", "mono/mise.toml project", "mise.toml project"])
    expect(rel(root, await run(root, "mono/svc/src", { MISE_CEILING_PATHS: root }))).toEqual([
      "mono/svc/mise.toml project",
      "mono/mise.toml project"
    ])
  })

  it("classifies global, system and $HOME files, and counts a file reached twice once", async () => {
    const root = tree({
      "home/.config/mise/config.toml": "",
      "home/.config/mise/conf.d/x.toml": "",
      "home/mise.toml": "",
      "home/code/app/mise.toml": "",
      "etc/mise/config.toml": ""
    })
    expect(rel(root, await run(root, "home/code/app"))).toEqual([
      "home/code/app/mise.toml project",
      "home/mise.toml global",
      "home/.config/mise/config.toml global",
      "home/.config/mise/conf.d/x.toml global",
      "etc/mise/config.toml system"
    ])
  })

  it("honours MISE_CONFIG_DIR and hides the default config dir then", async () => {
    const root = tree({ "home/.config/mise/config.toml": "", "cfg/config.toml": "", "home/app/mise.toml": "" })
    expect(rel(root, await run(root, "home/app", { MISE_CONFIG_DIR: path.join(root, "cfg") }))).toEqual([
      "home/app/mise.toml project",
      "cfg/config.toml global"
    ])
  })
})

describe("configRoot", () => {
  const ctx = discoveryContext({ cwd: "/p", home: "/home/u", env: {} })
  it("is the directory a config applies to", () => {
    expect(configRoot("/p/mise.toml", false, ctx)).toBe("/p")
    expect(configRoot("/p/.mise/config.toml", false, ctx)).toBe("/p")
    expect(configRoot("/p/.config/mise/config.toml", false, ctx)).toBe("/p")
    expect(configRoot("/p/.config/mise/conf.d/a.toml", false, ctx)).toBe("/p")
    expect(configRoot("/p/.mise/conf.d/a.toml", false, ctx)).toBe("/p")
    expect(configRoot("/p/.config/mise.toml", false, ctx)).toBe("/p")
    expect(configRoot("/home/u/.config/mise/config.toml", true, ctx)).toBe("/home/u")
  })
})
