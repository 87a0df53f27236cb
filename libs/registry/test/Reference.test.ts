import { Either } from "effect"
import { describe, expect, it } from "vitest"
import {
  apiHost,
  formatReference,
  isLoopback,
  parseReference,
  type Reference,
  referenceIdentifier,
  registryBaseUrl,
  registryScheme
} from "../src/Reference"

const D = `sha256:${"a".repeat(64)}`

const parse = (s: string): Reference => {
  const r = parseReference(s)
  if (Either.isLeft(r)) throw new Error(r.left.message)
  return r.right
}
const failure = (s: string): string => {
  const r = parseReference(s)
  if (Either.isRight(r)) throw new Error(`${s} parsed as ${formatReference(r.right)}`)
  return r.left.message
}

describe("parseReference (Docker normalization)", () => {
  it.each([
    ["alpine", { registry: "docker.io", repository: "library/alpine", tag: "latest" }],
    ["alpine:3.20", { registry: "docker.io", repository: "library/alpine", tag: "3.20" }],
    ["you/devenv", { registry: "docker.io", repository: "you/devenv", tag: "latest" }],
    ["docker.io/alpine", { registry: "docker.io", repository: "library/alpine", tag: "latest" }],
    ["index.docker.io/library/alpine:1", { registry: "docker.io", repository: "library/alpine", tag: "1" }],
    ["ghcr.io/you/devenv:v1", { registry: "ghcr.io", repository: "you/devenv", tag: "v1" }],
    ["localhost/x", { registry: "localhost", repository: "x", tag: "latest" }],
    ["localhost:5000/x", { registry: "localhost:5000", repository: "x", tag: "latest" }],
    ["127.0.0.1:5000/a/b/c:t_1", { registry: "127.0.0.1:5000", repository: "a/b/c", tag: "t_1" }],
    ["[::1]:5000/x:y", { registry: "[::1]:5000", repository: "x", tag: "y" }],
    ["Registry/x", { registry: "Registry", repository: "x", tag: "latest" }],
    ["a.b/c__d.e-f/g", { registry: "a.b", repository: "c__d.e-f/g", tag: "latest" }],
    [`alpine@${D}`, { registry: "docker.io", repository: "library/alpine", digest: D }],
    [`ghcr.io/x/y:v2@${D}`, { registry: "ghcr.io", repository: "x/y", tag: "v2", digest: D }]
  ])("%s", (input, expected) => {
    expect(parse(input)).toEqual(expected)
  })

  it("uses the digest, not the tag, to address name:tag@digest", () => {
    expect(referenceIdentifier(parse(`x.io/y:v2@${D}`))).toBe(D)
    expect(referenceIdentifier(parse("x.io/y:v2"))).toBe("v2")
  })

  it("formats back to a canonical string", () => {
    expect(formatReference(parse("alpine"))).toBe("docker.io/library/alpine:latest")
    expect(formatReference(parse(`localhost:5000/x@${D}`))).toBe(`localhost:5000/x@${D}`)
  })

  it.each([
    ["", "empty reference"],
    ["Alpine", "must be lowercase"],
    ["ghcr.io/You/x", "must be lowercase"],
    ["x.io/a//b", "path component"],
    ["x.io/a-/b", "path component"],
    ["alpine:-bad", "tag \"-bad\""],
    [`alpine:${"t".repeat(129)}`, "tag"],
    ["alpine@sha256:abc", "digest \"sha256:abc\""],
    [`alpine@sha256:${"A".repeat(64)}`, "lowercase hex"],
    ["bad_host:x/y", "valid registry host"],
    [`x.io/${"a".repeat(260)}`, "longer than 255"]
  ])("refuses %j", (input, why) => {
    expect(failure(input)).toContain(why)
  })
})

describe("registry endpoints", () => {
  it("serves docker.io from registry-1.docker.io", () => {
    expect(apiHost("docker.io")).toBe("registry-1.docker.io")
    expect(registryBaseUrl("docker.io", [])).toBe("https://registry-1.docker.io")
  })

  it.each(["localhost", "localhost:5000", "127.0.0.1:5000", "127.9.8.7", "[::1]:5000"])("talks plain HTTP to loopback %s", (host) => {
    expect(isLoopback(host)).toBe(true)
    expect(registryScheme(host, [])).toBe("http")
  })

  it("uses HTTPS elsewhere unless the host is listed as insecure (host:port exactly, or a bare host)", () => {
    expect(registryScheme("ghcr.io", [])).toBe("https")
    expect(registryScheme("128.0.0.1:5000", [])).toBe("https")
    expect(registryScheme("reg.lan:5000", ["reg.lan:5000"])).toBe("http")
    expect(registryScheme("reg.lan:5001", ["reg.lan:5000"])).toBe("https")
    expect(registryScheme("reg.lan:5001", ["reg.lan"])).toBe("http")
    expect(registryScheme("localhost.evil.com", [])).toBe("https")
  })
})
