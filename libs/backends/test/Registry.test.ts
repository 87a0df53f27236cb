import {
  type Backend,
  BackendRegistry,
  BackendRegistryLive,
  builtinBackends,
  makeBackendRegistry,
  rejectUnsupported,
  type ToolRequest
} from "@engine/backends"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"

const request = (short: string): ToolRequest => {
  const colon = short.indexOf(":")
  return { short, backend: short.slice(0, colon), name: short.slice(colon + 1), version: "1.0.0", options: {} }
}

const get = (short: string, layer = BackendRegistryLive) =>
  Effect.runPromise(Effect.flatMap(BackendRegistry, (r) => r.get(request(short))).pipe(Effect.provide(layer)))
const getError = (short: string, layer = BackendRegistryLive) =>
  Effect.runPromise(Effect.flatMap(BackendRegistry, (r) => Effect.flip(r.get(request(short)))).pipe(Effect.provide(layer)))

const prefix = "engine does not support asdf/vfox plugins (their install scripts can write outside the per-version directory, " +
  "breaking the one-layer-per-tool invariant). Affected tools: "

describe("BackendRegistry", () => {
  it("serves the built-in backends", async () => {
    expect((await get("http:hello")).id).toBe("http")
    expect((await get("npm:prettier")).id).toBe("npm")
    expect(builtinBackends.map((b) => b.id)).toEqual(["http", "npm", "core", "github", "gitlab", "forgejo", "ubi", "aqua", "s3", "cargo", "go", "gem", "pipx", "conda", "dotnet", "spm"])
    const listed = await Effect.runPromise(Effect.map(BackendRegistry, (r) => r.ids()).pipe(Effect.provide(BackendRegistryLive)))
    expect(listed).toEqual(["http", "npm", "core", "github", "gitlab", "forgejo", "ubi", "aqua", "s3", "cargo", "go", "gem", "pipx", "conda", "dotnet", "spm"])
  })

  it("rejects asdf and vfox tools with mise's reason", async () => {
    expect((await getError("asdf:node")).message).toBe(`${prefix}asdf:node`)
    expect((await getError("vfox:version-fox/vfox-nodejs")).message).toBe(`${prefix}vfox:version-fox/vfox-nodejs`)
  })

  it("rejectUnsupported names every affected tool at once", async () => {
    const tools = ["http:hello", "asdf:node", "npm:prettier", "vfox:a/b", "asdf:python"].map(request)
    const e = await Effect.runPromise(Effect.flip(rejectUnsupported(tools)))
    expect(e.message).toBe(`${prefix}asdf:node, vfox:a/b, asdf:python`)
    await Effect.runPromise(rejectUnsupported([request("http:hello")]))
  })

  it("names the tool, the backend and the known ones for an unknown backend", async () => {
    expect((await getError("pkgx:ruff")).message).toBe(
      `pkgx:ruff: unknown backend "pkgx" (known backends: http, npm, core, github, gitlab, forgejo, ubi, aqua, s3, cargo, go, gem, pipx, conda, dotnet, spm)`
    )
  })

  it("takes a user's own backend without forking, and lets it replace a built-in", async () => {
    const mine: Backend = {
      id: "cargo",
      specForm: "cargo:<crate>",
      options: [],
      description: "test",
      listVersions: () => Effect.succeed(["1.0.0"]),
      install: () => Effect.void,
      binPaths: (_t, dir) => Effect.succeed([`${dir}/bin`]),
      execEnv: () => Effect.succeed([])
    }
    const layer = makeBackendRegistry([mine, { ...mine, id: "http", description: "replaced" }])
    expect(await get("cargo:eza", layer)).toBe(mine)
    expect((await get("http:x", layer)).description).toBe("replaced")
    expect((await getError("pkgx:x", layer)).message).toBe(
      `pkgx:x: unknown backend "pkgx" (known backends: http, npm, core, github, gitlab, forgejo, ubi, aqua, s3, cargo, go, gem, pipx, conda, dotnet, spm)`
    )
  })
})
