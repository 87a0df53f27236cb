import { Effect, Option, Redacted } from "effect"
import { describe, expect, it } from "vitest"
import { makeAuthenticator, parseChallenges, type PlainCall, repositoryScope } from "../src/Auth"
import { noCredentials } from "../src/Credentials"

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

describe("makeAuthenticator", () => {
  const setup = (expiresIn: number | undefined) => {
    let clock = 1_000_000
    const calls: Array<string> = []
    const call: PlainCall = (_registry, request) => {
      calls.push(`${request.method} ${request.url}`)
      if (request.url.endsWith("/v2/")) {
        return Effect.succeed({ status: 401, text: "", wwwAuthenticate: ["Bearer realm=\"https://auth.example/token\",service=\"reg\""] })
      }
      const body = expiresIn === undefined ? { token: `t${calls.length}` } : { access_token: `t${calls.length}`, expires_in: expiresIn }
      return Effect.succeed({ status: 200, text: JSON.stringify(body), wwwAuthenticate: [] })
    }
    const auth = makeAuthenticator({
      call,
      credentials: noCredentials,
      baseUrl: (r) => `https://${r}`,
      clientId: "test",
      now: () => clock
    })
    const header = (scopes: ReadonlyArray<string>) =>
      Effect.runSync(auth.authorization("reg.example", scopes).pipe(Effect.map((h) => Redacted.value(Option.getOrThrow(h)))))
    return { calls, header, advance: (ms: number) => (clock += ms) }
  }

  it("probes once, caches a token per scope set until shortly before it expires (60 s when unspecified)", () => {
    const { calls, header, advance } = setup(undefined)
    expect(header(["repository:a:pull"])).toBe("Bearer t2")
    expect(header(["repository:a:pull"])).toBe("Bearer t2")
    expect(header(["repository:b:pull"])).toBe("Bearer t3")
    advance(45_000)
    expect(header(["repository:a:pull"])).toBe("Bearer t2")
    advance(10_000)
    expect(header(["repository:a:pull"])).toBe("Bearer t4")
    expect(calls).toEqual([
      "GET https://reg.example/v2/",
      "GET https://auth.example/token?service=reg&scope=repository%3Aa%3Apull",
      "GET https://auth.example/token?service=reg&scope=repository%3Ab%3Apull",
      "GET https://auth.example/token?service=reg&scope=repository%3Aa%3Apull"
    ])
  })

  it("treats a lifetime below 60 s as 60 s and honours longer ones", () => {
    const short = setup(5)
    expect(short.header(["s"])).toBe("Bearer t2")
    short.advance(30_000)
    expect(short.header(["s"])).toBe("Bearer t2")
    const long = setup(3600)
    expect(long.header(["s"])).toBe("Bearer t2")
    long.advance(3_000_000)
    expect(long.header(["s"])).toBe("Bearer t2")
  })
})
