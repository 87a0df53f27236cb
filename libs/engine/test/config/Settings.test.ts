import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { mergeSettings, ociSettings, settingsFromToml } from "../../src/config/Settings"

describe("settingsFromToml", () => {
  it("flattens nested tables to dotted keys", () => {
    expect(settingsFromToml({ oci: { default_from: "scratch" }, node: { mirror_url: "m" }, jobs: 4 })).toEqual(
      Either.right({ "oci.default_from": "scratch", "node.mirror_url": "m", jobs: 4 })
    )
  })

  it("type-checks the settings this tool reads", () => {
    const result = settingsFromToml({ oci: { default_mount_point: 1 } })
    expect(Either.isLeft(result) && result.left).toEqual({
      path: ["settings", "oci", "default_mount_point"],
      reason: "invalid type: integer 1, expected a string"
    })
  })
})

describe("mergeSettings", () => {
  it("applies defaults, then files (most specific wins), then MISE_* env", () => {
    const merged = Either.getOrThrow(
      mergeSettings([{ "oci.default_from": "child" }, { "oci.default_from": "parent", "oci.default_mount_point": "/m" }], {
        MISE_EXPERIMENTAL: "1"
      })
    )
    expect(ociSettings(merged)).toEqual({ defaultFrom: "child", defaultMountPoint: "/m", insecureRegistries: [] })
    expect(merged["experimental"]).toBe(true)
    expect(ociSettings(Either.getOrThrow(mergeSettings([], { MISE_OCI_DEFAULT_MOUNT_POINT: "/opt/mise" }))).defaultMountPoint).toBe("/opt/mise")
  })

  it("rejects an unreadable boolean override", () => {
    const result = mergeSettings([], { MISE_EXPERIMENTAL: "maybe" })
    expect(Either.isLeft(result) && result.left.message).toBe('MISE_EXPERIMENTAL: invalid value "maybe", expected a boolean')
  })
})
