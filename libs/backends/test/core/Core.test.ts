import { BackendRegistry, BackendRegistryLive, builtinBackends, CORE_TOOL_NAMES } from "@engine/backends"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { request, useHarness } from "./Harness"

const h = useHarness("dispatch")

describe("core backend", () => {
  it("is registered: bare names arrive with backend core and get the core plugin", async () => {
    const backend = await Effect.runPromise(Effect.flatMap(BackendRegistry, (r) => r.get(request("node", "20"))).pipe(Effect.provide(BackendRegistryLive)))
    expect(backend.id).toBe("core")
    expect(builtinBackends.map((b) => b.id)).toContain("core")
    expect(CORE_TOOL_NAMES).toEqual(["bun", "deno", "go", "java", "node", "python", "zig"])
  })

  it("a core tool without a plugin here says so and what to use instead", async () => {
    expect((await h.resolveError("ruby", "3.3", h.ctx())).message).toBe(
      `ruby@3.3: engine has no core plugin for ruby yet (core tools: bun, deno, go, java, node, python, zig); ` +
        `install it through another backend, e.g. "github:<owner>/ruby" or "http:ruby"`
    )
    expect((await h.installError("rust", "1.80.0", h.ctx())).message).toMatch(/^rust@1\.80\.0: engine has no core plugin for rust yet/)
  })
})
