import { Effect, Either, Exit } from "effect"
import { describe, expect, it } from "vitest"
import {
  mergeOciConfigs,
  ociConfigFromToml,
  parseCopy,
  parseOwner,
  resolveOwner,
  validateMountPoint,
  type OciConfig
} from "../../src/config/OciConfig"

const failureMessage = <A>(effect: Effect.Effect<A, { readonly message: string }>): string => {
  const exit = Effect.runSyncExit(effect)
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
  return error?.message ?? ""
}

describe("ociConfigFromToml", () => {
  it("decodes every [oci] key, resolving copy hosts against the declaring file's directory", () => {
    const result = ociConfigFromToml(
      {
        from: "scratch",
        tag: "t",
        workdir: "/app",
        entrypoint: ["/bin/sh", "-c"],
        cmd: ["hello"],
        user: "1000",
        user_id: 1000,
        group_id: 1001,
        mount_point: "/opt/mise/",
        copy: [{ host: "assets", image: "/srv/assets" }, { host: "/abs/tool", image: "/usr/local/bin/tool" }],
        env: { NODE_ENV: "production" },
        labels: { "org.opencontainers.image.source": "https://example.com/x" }
      },
      "/project/.mise"
    )
    expect(result).toEqual(
      Either.right({
        from: "scratch",
        tag: "t",
        workdir: "/app",
        entrypoint: ["/bin/sh", "-c"],
        cmd: ["hello"],
        user: "1000",
        user_id: 1000,
        group_id: 1001,
        mount_point: "/opt/mise/",
        copy: [
          { host: "/project/.mise/assets", image: "/srv/assets" },
          { host: "/abs/tool", image: "/usr/local/bin/tool" }
        ],
        env: [["NODE_ENV", "production"]],
        labels: [["org.opencontainers.image.source", "https://example.com/x"]]
      })
    )
  })

  it("rejects wrong types, out-of-range ids, unknown keys and bad copies, at the offending key", () => {
    const cases: ReadonlyArray<readonly [unknown, ReadonlyArray<string | number>, string]> = [
      [{ entrypoint: "x" }, ["oci", "entrypoint"], 'invalid type: string "x", expected a sequence'],
      [{ cmd: ["a", 1] }, ["oci", "cmd", 1], "invalid type: integer 1, expected a string"],
      [{ user_id: -1 }, ["oci", "user_id"], "invalid value: integer -1, expected u32"],
      [{ group_id: 4294967296 }, ["oci", "group_id"], "invalid value: integer 4294967296, expected u32"],
      [{ user_id: "1000" }, ["oci", "user_id"], 'invalid type: string "1000", expected u32'],
      [{ form: "x" }, ["oci", "form"], "unknown field `form`, expected one of `from`, `tag`"],
      [{ copy: [{ host: "a", image: "/a", mode: 1 }] }, ["oci", "copy", 0, "mode"], "unknown field `mode`"],
      [{ copy: [{ host: "a", image: "rel" }] }, ["oci", "copy", 0], 'copy image path must be absolute (got "rel")'],
      [{ copy: [{ host: "", image: "/a" }] }, ["oci", "copy", 0], "copy host path must not be empty"],
      [{ env: { A: 1 } }, ["oci", "env", "A"], "invalid type: integer 1, expected a string"]
    ]
    for (const [raw, path, reason] of cases) {
      const result = ociConfigFromToml(raw, "/p")
      expect(Either.isLeft(result), JSON.stringify(raw)).toBe(true)
      if (Either.isLeft(result)) {
        expect(result.left.path).toEqual(path)
        expect(result.left.reason).toContain(reason)
      }
    }
  })
})

describe("mergeOciConfigs", () => {
  const oci = (fields: Partial<OciConfig>): OciConfig => ({ copy: [], env: [], labels: [], ...fields })

  it("takes the first value per field, most specific first", () => {
    const merged = mergeOciConfigs([oci({ from: "child" }), oci({ from: "parent", workdir: "/w", tag: "p" })])
    expect([merged.from, merged.workdir, merged.tag]).toEqual(["child", "/w", "p"])
  })

  it("keeps the more specific env/labels keys first and appends missing ones", () => {
    const merged = mergeOciConfigs([
      oci({ env: [["B", "child"], ["C", "child"]], labels: [["l", "child"]] }),
      oci({ env: [["A", "parent"], ["B", "parent"]], labels: [["m", "parent"], ["l", "parent"]] })
    ])
    expect(merged.env).toEqual([["B", "child"], ["C", "child"], ["A", "parent"]])
    expect(merged.labels).toEqual([["l", "child"], ["m", "parent"]])
  })

  it("orders copies less specific first", () => {
    const merged = mergeOciConfigs([
      oci({ copy: [{ host: "/project", image: "/same" }] }),
      oci({ copy: [{ host: "/parent", image: "/same" }] })
    ])
    expect(merged.copy.map((c) => c.host)).toEqual(["/parent", "/project"])
  })

  it("does not inherit a less specific group_id past a more specific user_id", () => {
    expect(mergeOciConfigs([oci({ user_id: 1000 }), oci({ user_id: 1, group_id: 2 })]).group_id).toBeUndefined()
    expect(mergeOciConfigs([oci({}), oci({ user_id: 1, group_id: 2 })]).group_id).toBe(2)
    expect(Effect.runSync(resolveOwner(undefined, mergeOciConfigs([oci({ user_id: 1000 }), oci({ group_id: 5 })])))).toEqual({ uid: 1000, gid: 1000 })
  })
})

describe("validateMountPoint", () => {
  it("trims trailing slashes", () => {
    expect(Effect.runSync(validateMountPoint("/opt/mise/"))).toBe("/opt/mise")
  })

  it("rejects empty and relative values with mise's messages, prefixed by the config origin", () => {
    expect(failureMessage(validateMountPoint(""))).toBe("oci mount_point must not be empty")
    expect(failureMessage(validateMountPoint("/"))).toBe("oci mount_point must not be empty")
    expect(failureMessage(validateMountPoint("rel"))).toBe(
      'oci mount_point must be an absolute path (got "rel"); a relative value makes MISE_DATA_DIR inside the container depend on the working directory and mis-resolve tools.'
    )
    expect(failureMessage(validateMountPoint("rel", { file: "/p/mise.toml", line: 3, column: 1, key: "oci.mount_point" }))).toBe(
      '/p/mise.toml:3:1: oci.mount_point: oci mount_point must be an absolute path (got "rel"); a relative value makes MISE_DATA_DIR inside the container depend on the working directory and mis-resolve tools.'
    )
  })
})

describe("parseOwner", () => {
  it("parses UID and UID:GID", () => {
    expect(Effect.runSync(parseOwner("1000"))).toEqual({ uid: 1000, gid: 1000 })
    expect(Effect.runSync(parseOwner("1000:1001"))).toEqual({ uid: 1000, gid: 1001 })
    expect(Effect.runSync(parseOwner("4294967295"))).toEqual({ uid: 4294967295, gid: 4294967295 })
  })

  it("rejects mise's bad inputs with mise's messages", () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      ["", "uid must not be empty"],
      [":", "uid must not be empty"],
      ["1000:", "gid must not be empty"],
      [":1000", "uid must not be empty"],
      ["1:2:3", "owner must be UID or UID:GID"],
      ["abc", "uid must be a non-negative integer <= 4294967295"],
      ["-1", "uid must be a non-negative integer <= 4294967295"],
      ["4294967296", "uid must be a non-negative integer <= 4294967295"]
    ]
    for (const [input, message] of cases) expect(failureMessage(parseOwner(input)), input).toBe(message)
  })
})

describe("parseCopy", () => {
  it("splits at the last colon and resolves the host against the base", () => {
    expect(Effect.runSync(parseCopy("dist:/app", "/cwd"))).toEqual({ host: "/cwd/dist", image: "/app" })
    expect(Effect.runSync(parseCopy("C:/x:/app", "/cwd"))).toEqual({ host: "/cwd/C:/x", image: "/app" })
  })

  it("rejects malformed copies with mise's messages", () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      ["nocolon", "copy must be HOST_PATH:IMAGE_PATH"],
      [":/a", "copy host path must not be empty"],
      ["a:x", 'copy image path must be absolute (got "x")'],
      ["a:/", 'copy image path must not be the root `/` (got "/")'],
      ["a:/a/../b", 'copy image path must not contain `.` or `..` components (got "/a/../b")'],
      ["a:/a/./b", 'copy image path must not contain `.` or `..` components (got "/a/./b")']
    ]
    for (const [input, message] of cases) expect(failureMessage(parseCopy(input, "/cwd")), input).toBe(message)
  })
})
