import { Either } from "effect"
import { describe, expect, it } from "vitest"
import {
  canonicalJson,
  diffKeyStructures,
  formatKeyStructure,
  type JsonObject,
  keyInputs,
  TASK_KEY_FORMAT,
  taskKey
} from "../../src/graph/TaskKey"

const layerInputs = keyInputs("tool-layer", {
  format: "engine-layer/1",
  tool: "node",
  version: "20.11.1",
  tree: `sha256:${"1".repeat(64)}`,
  hostRoot: "/data/installs/node/20.11.1",
  owner: { uid: 1000, gid: 1000 },
  prefix: "/mise/installs/node/20.11.1",
  relocation: 2,
  compression: { algorithm: "gzip", level: 6 }
})
const deps = { install: "a".repeat(64) }

const keyOf = (inputs: JsonObject, depKeys: Readonly<Record<string, string>> = deps, kind = "tool-layer") =>
  Either.getOrThrow(taskKey(kind, inputs, depKeys))

describe("taskKey", () => {
  it("is the sha256 of a canonical, versioned encoding", () => {
    const k = keyOf({ b: 1, a: "x" }, {})
    expect(k.canonical).toBe(`{"deps":{},"format":"${TASK_KEY_FORMAT}","inputs":{"a":"x","b":1},"kind":"tool-layer"}`)
    expect(k.key).toMatch(/^[0-9a-f]{64}$/)
  })

  it("is stable: object member order and undefined members do not matter", () => {
    const reordered: JsonObject = {
      compression: { level: 6, algorithm: "gzip" },
      relocation: 2,
      prefix: "/mise/installs/node/20.11.1",
      owner: { gid: 1000, uid: 1000 },
      hostRoot: "/data/installs/node/20.11.1",
      format: "engine-layer/1",
      tree: `sha256:${"1".repeat(64)}`,
      version: "20.11.1",
      tool: "node",
      libc: undefined
    }
    expect(keyOf(reordered).key).toBe(keyOf(layerInputs).key)
    expect(keyOf(layerInputs).key).toBe(keyOf(layerInputs).key)
  })

  it("changes when any single input, dependency key or the kind changes", () => {
    const base = keyOf(layerInputs).key
    const variants: ReadonlyArray<JsonObject> = [
      { ...layerInputs, tool: "nodejs" },
      { ...layerInputs, version: "20.11.0" },
      { ...layerInputs, tree: `sha256:${"2".repeat(64)}` },
      { ...layerInputs, relocation: 1 },
      { ...layerInputs, owner: { uid: 0, gid: 1000 } },
      { ...layerInputs, prefix: "/opt/mise/installs/node/20.11.1" },
      { ...layerInputs, hostRoot: "/elsewhere/installs/node/20.11.1" },
      { ...layerInputs, format: "engine-layer/2" },
      { ...layerInputs, compression: { algorithm: "gzip", level: 9 } },
      { ...layerInputs, extra: null }
    ]
    const keys = variants.map((v) => keyOf(v).key)
    expect(new Set([base, ...keys]).size).toBe(variants.length + 1)
    expect(keyOf(layerInputs, { install: "b".repeat(64) }).key).not.toBe(base)
    expect(keyOf(layerInputs, { installed: "a".repeat(64) }).key).not.toBe(base)
    expect(keyOf(layerInputs, deps, "copy-layer").key).not.toBe(base)
  })

  it("keeps types apart: 1 and \"1\", [] and {} give different keys", () => {
    expect(keyOf({ v: 1 }).key).not.toBe(keyOf({ v: "1" }).key)
    expect(keyOf({ v: [] }).key).not.toBe(keyOf({ v: {} }).key)
    expect(keyOf({ v: ["a", "b"] }).key).not.toBe(keyOf({ v: ["b", "a"] }).key)
  })

  it("rejects values JSON cannot carry, naming the input", () => {
    const result = taskKey("tool-layer", { compression: { level: Number.NaN } }, {})
    expect(Either.isLeft(result)).toBe(true)
    if (Either.isLeft(result)) {
      expect(result.left.path).toBe("$.inputs.compression.level")
      expect(result.left.message).toContain("inputs.compression.level is NaN")
    }
    expect(Either.isLeft(canonicalJson([1, Number.POSITIVE_INFINITY]))).toBe(true)
  })
})

describe("diffKeyStructures", () => {
  it("names each changed, added and removed input and dependency", () => {
    const before = keyOf(layerInputs).structure
    const after = keyOf(
      { ...layerInputs, version: "20.12.0", owner: { uid: 1000, gid: 1000, umask: 22 }, prefix: undefined },
      { install: "c".repeat(64) }
    ).structure
    expect(diffKeyStructures(before, after)).toEqual([
      { path: "deps.install", change: "changed", before: "a".repeat(64), after: "c".repeat(64) },
      { path: "inputs.owner.umask", change: "added", after: 22 },
      { path: "inputs.prefix", change: "removed", before: "/mise/installs/node/20.11.1" },
      { path: "inputs.version", change: "changed", before: "20.11.1", after: "20.12.0" }
    ])
    expect(diffKeyStructures(before, before)).toEqual([])
  })

  it("prints a structure the same way whatever the member order", () => {
    const a = formatKeyStructure(keyOf({ b: 1, a: { d: 2, c: 3 } }).structure)
    const b = formatKeyStructure(keyOf({ a: { c: 3, d: 2 }, b: 1 }).structure)
    expect(a).toBe(b)
    expect(a).toContain('"a": {\n      "c": 3,\n      "d": 2\n    }')
  })
})
