import { compareVersions, fuzzyMatchVersions, isPrerelease, resolveFromList, sortVersions } from "@engine/backends"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"

const resolve = (spec: string, versions: ReadonlyArray<string>) => Effect.runPromise(resolveFromList(spec, versions, "npm:x"))
const failure = (spec: string, versions: ReadonlyArray<string>) =>
  Effect.runPromise(Effect.flip(resolveFromList(spec, versions, "npm:x")))

const list = ["18.20.0", "20.0.0", "20.1.0", "20.1.3", "20.11.1", "21.0.0-rc.1", "200.0.0", "9.1.0"]

describe("resolveFromList", () => {
  it("latest is the newest stable version", async () => {
    expect(await resolve("latest", list)).toBe("200.0.0")
    expect(await resolve("latest", ["1.0.0", "1.1.0-beta.1", "1.1.0-rc1"])).toBe("1.0.0")
  })

  it("latest falls back to pre-releases when nothing else exists", async () => {
    expect(await resolve("latest", ["1.0.0-beta.1", "1.0.0-rc.2", "1.0.0-rc.10"])).toBe("1.0.0-rc.10")
  })

  it("a prefix picks the newest version in it, and 20 does not match 200", async () => {
    expect(await resolve("20", list)).toBe("20.11.1")
    expect(await resolve("20.1", list)).toBe("20.1.3")
    expect(await resolve("9", list)).toBe("9.1.0")
    expect(await resolve("prefix:20.1", list)).toBe("20.1.3")
  })

  it("an exact match wins, pre-release or not", async () => {
    expect(await resolve("20.1.0", list)).toBe("20.1.0")
    expect(await resolve("21.0.0-rc.1", list)).toBe("21.0.0-rc.1")
  })

  it("accepts v-prefixed versions either way round", async () => {
    expect(await resolve("1.2", ["v1.2.0", "v1.2.5", "v1.3.0"])).toBe("v1.2.5")
    expect(await resolve("v1.3", ["1.2.0", "1.3.4"])).toBe("1.3.4")
  })

  it("fails naming the tool, the spec and some available versions", async () => {
    const e = await failure("99", list)
    expect(e._tag).toBe("BackendError")
    expect(e.message).toBe("npm:x@99: no version matches (available: 9.1.0, 18.20.0, 20.0.0, 20.1.0, 20.1.3, 20.11.1, 21.0.0-rc.1, 200.0.0)")
    const many = Array.from({ length: 30 }, (_, i) => `1.${i}.0`)
    expect((await failure("2", many)).message).toBe(
      "npm:x@2: no version matches (available: ... 1.22.0, 1.23.0, 1.24.0, 1.25.0, 1.26.0, 1.27.0, 1.28.0, 1.29.0 (30 in all))"
    )
    expect((await failure("1", [])).message).toBe("npm:x@1: no version matches (no versions available)")
  })
})

describe("version ordering", () => {
  it("sorts semver by precedence and others by numeric segments", () => {
    expect(sortVersions(["1.10.0", "1.2.0", "1.2.0-rc.1", "1.9.9", "0.1"])).toEqual(["0.1", "1.2.0-rc.1", "1.2.0", "1.9.9", "1.10.0"])
    expect(sortVersions(["2024.10", "2024.9", "2024.10.1", "2024.1"])).toEqual(["2024.1", "2024.9", "2024.10", "2024.10.1"])
    expect(compareVersions("1.0", "1.0.1")).toBeLessThan(0)
    expect(compareVersions("1.0.0rc1", "1.0.0")).toBeLessThan(0)
  })

  it("knows pre-releases by mise's pattern and by semver", () => {
    for (const v of ["1.0.0-rc1", "1.0.0-beta", "2.0.0-alpha.3", "1.0.0.rc1", "8.5.9RC1", "1.0.0-0", "3.0.0-next.2"]) {
      expect(isPrerelease(v), v).toBe(true)
    }
    for (const v of ["1.0.0", "20.11.1", "2024.10.1", "v1.2.3"]) expect(isPrerelease(v), v).toBe(false)
  })

  it("fuzzy matching keeps separators honest", () => {
    expect(fuzzyMatchVersions(["1.2.3", "1.20.0", "1.2-rc1", "1.2"], "1.2", false)).toEqual(["1.2.3", "1.2-rc1", "1.2"])
    expect(fuzzyMatchVersions(["temurin-25.0.1", "temurin-17"], "temurin-", true)).toEqual(["temurin-25.0.1", "temurin-17"])
  })
})
