import { describe, expect, it } from "vitest"
import { parseChallenges, repositoryScope } from "../src/Auth"

describe("parseChallenges", () => {
  it("reads a Bearer challenge whose scope holds quoted commas", () => {
    expect(
      parseChallenges(
        "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\",scope=\"repository:samalba/my-app:pull,push\""
      )
    ).toEqual([
      {
        scheme: "bearer",
        params: { realm: "https://auth.docker.io/token", service: "registry.docker.io", scope: "repository:samalba/my-app:pull,push" }
      }
    ])
  })

  it("keeps several space-separated scopes and error parameters", () => {
    const [c] = parseChallenges(
      "Bearer realm=\"http://127.0.0.1:1/token\", service=\"s\", scope=\"repository:a:pull repository:b:pull,push\", error=\"insufficient_scope\""
    )
    expect(c?.params.scope?.split(" ")).toEqual(["repository:a:pull", "repository:b:pull,push"])
    expect(c?.params.error).toBe("insufficient_scope")
  })

  it("reads Basic, unquoted values, escapes, case-insensitive names", () => {
    expect(parseChallenges("Basic realm=\"Registry \\\"x\\\"\"")).toEqual([{ scheme: "basic", params: { realm: "Registry \"x\"" } }])
    expect(parseChallenges("BEARER Realm=https://a/t,Service=svc")).toEqual([
      { scheme: "bearer", params: { realm: "https://a/t", service: "svc" } }
    ])
  })

  it("splits several challenges in one header", () => {
    expect(parseChallenges("Basic realm=\"a\", Bearer realm=\"b\",service=\"c\"").map((c) => [c.scheme, c.params])).toEqual([
      ["basic", { realm: "a" }],
      ["bearer", { realm: "b", service: "c" }]
    ])
  })

  it("takes a bare scheme", () => {
    expect(parseChallenges("Negotiate")).toEqual([{ scheme: "negotiate", params: {} }])
    expect(parseChallenges("")).toEqual([])
  })
})

describe("repositoryScope", () => {
  it("spells pull and push scopes as the token spec does", () => {
    expect(repositoryScope("library/alpine", "pull")).toBe("repository:library/alpine:pull")
    expect(repositoryScope("you/x", "pull,push")).toBe("repository:you/x:pull,push")
  })
})
