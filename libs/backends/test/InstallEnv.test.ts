import { withInstallEnv } from "@engine/backends"
import { describe, expect, it } from "vitest"

describe("install_env", () => {
  it("sets strings and numbers, `true` as \"true\", unsets on `false`, and leaves other options and the input alone", () => {
    const env = { PATH: "/usr/bin", GOFLAGS: "-mod=mod", HOME: "/root" }
    const out = withInstallEnv(env, {
      "install_env.GOPRIVATE": "github.com/acme/*",
      "install_env.JOBS": 4,
      "install_env.CI": true,
      "install_env.GOFLAGS": false,
      tags: ["netgo"],
      "platforms.linux-x64.url": "https://x"
    })
    expect(out).toEqual({ PATH: "/usr/bin", HOME: "/root", GOPRIVATE: "github.com/acme/*", JOBS: "4", CI: "true" })
    expect(env.GOFLAGS).toBe("-mod=mod")
  })
})
