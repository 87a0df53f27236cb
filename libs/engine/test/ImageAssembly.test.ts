import { Either } from "effect"
import { describe, expect, it } from "vitest"
import type { BaseImage } from "../src/BaseImage"
import { assembleImage, indexOf, manifestOf } from "../src/ImageAssembly"
import type { ImagePlan } from "../src/ImagePlan"
import { checkImageDir, parseDestination } from "../src/Push"
import { findReusable, remoteReuseIndex } from "../src/RemoteReuse"

const d = (c: string) => `sha256:${c.repeat(64)}` as const

const plan = (oci: Partial<ImagePlan["oci"]> = {}): ImagePlan => ({
  from: "x/base:1",
  base: undefined,
  mountPoint: "/mise",
  owner: { uid: 0, gid: 0 },
  tag: undefined,
  copies: [],
  miseBinary: undefined,
  oci: { env: [], labels: [], ...oci }
})

const base: BaseImage = {
  name: "reg.example/x/base:1",
  manifestDigest: d("b"),
  architecture: "arm64",
  os: "linux",
  env: ["PATH=/usr/bin:/bin", "BASEVAR=1", "NOEQUALS"],
  cmd: ["sh"],
  entrypoint: ["/entry"],
  workingDir: "/srv",
  user: "nobody",
  layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: d("1"), size: 10 }],
  diffIds: [d("2")],
  config: { digest: d("3"), size: 5 }
}

const tool = { short: "http:hello", version: "1.0.0", installDir: "/host/hello", imageRoot: "/mise/installs/http-hello/1.0.0", binPaths: ["/host/hello/bin"], execEnv: [] }
const toolLayer = { blob: { digest: d("4"), diffId: d("5"), size: 20 }, annotations: { "dev.mise.tool.short": "http:hello" } }

const input = (p: ImagePlan, b: BaseImage | undefined) => ({
  plan: p,
  projectEnv: [["FOO", "bar"]] as const,
  unset: [],
  tools: [tool],
  layers: [toolLayer],
  created: "2023-11-14T22:13:20Z",
  architecture: "amd64",
  base: b
})

describe("assembleImage with a base", () => {
  it("puts the base layers and diff_ids first and inherits Env (PATH first, bins prepended), Cmd, Entrypoint, WorkingDir, User, arch/os", () => {
    const image = assembleImage(input(plan(), base))
    expect(image.layers.map((l) => l.digest)).toEqual([d("1"), d("4")])
    expect(image.layers[0]).toEqual({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", size: 10, digest: d("1") })
    expect(image.config.rootfs.diff_ids).toEqual([d("2"), d("5")])
    expect(image.config.config?.Env).toEqual([
      "PATH=/mise/installs/http-hello/1.0.0/bin:/usr/bin:/bin",
      "BASEVAR=1",
      "FOO=bar",
      "MISE_DATA_DIR=/mise",
      "MISE_CONFIG_DIR=/etc/mise"
    ])
    expect(image.config.config).toMatchObject({ Cmd: ["sh"], Entrypoint: ["/entry"], WorkingDir: "/srv", User: "nobody" })
    expect(image.config).toMatchObject({ architecture: "arm64", os: "linux" })
    expect(image.annotations).toEqual({
      "org.opencontainers.image.base.name": "reg.example/x/base:1",
      "org.opencontainers.image.base.digest": d("b")
    })
    expect(image.platform).toEqual({ architecture: "arm64", os: "linux" })
  })

  it("[oci] overrides what the base sets; without a base: host arch, /workspace, no annotations, no platform", () => {
    const image = assembleImage(input(plan({ cmd: ["bash"], workdir: "/app", user: "1000" }), base))
    expect(image.config.config).toMatchObject({ Cmd: ["bash"], WorkingDir: "/app", User: "1000", Entrypoint: ["/entry"] })
    const scratch = assembleImage(input(plan(), undefined))
    expect(scratch.config).toMatchObject({ architecture: "amd64", config: { WorkingDir: "/workspace" } })
    expect(scratch.annotations).toBeUndefined()
    expect(scratch.platform).toBeUndefined()
  })

  it("writes the annotations into the manifest and the platform into the index entry", () => {
    const manifest = manifestOf({ mediaType: "c", size: 1, digest: d("c") }, [], { a: "b" })
    expect(manifest.annotations).toEqual({ a: "b" })
    const index = indexOf({ mediaType: "m", size: 2, digest: d("m") }, undefined, { architecture: "amd64", os: "linux" })
    expect(index.manifests[0]).toEqual({ mediaType: "m", size: 2, digest: d("m"), platform: { architecture: "amd64", os: "linux" } })
  })
})

describe("remote layer reuse", () => {
  const annotations = {
    "dev.mise.tool.short": "http:hello",
    "dev.mise.tool.version": "1.0.0",
    "dev.mise.layer.prefix": "mise/installs/http-hello/1.0.0",
    "dev.mise.layer.owner": "0:0",
    "dev.mise.layer.relocation": "2"
  }
  const remote = {
    manifestBytes: new Uint8Array(),
    manifestDigest: d("0"),
    configBytes: new Uint8Array(),
    manifest: {
      schemaVersion: 2 as const,
      config: { mediaType: "c", size: 1, digest: d("c") },
      layers: [
        { mediaType: "l", size: 1, digest: d("a") },
        { mediaType: "l", size: 7, digest: d("4"), annotations },
        { mediaType: "l", size: 3, digest: d("6"), annotations: { ...annotations, "dev.mise.tool.plugin": "embedded:x" } },
        { mediaType: "l", size: 3, digest: d("7"), annotations: { "dev.mise.tool.short": "x" } }
      ]
    },
    config: {
      architecture: "amd64",
      os: "linux",
      config: { Env: ["PATH=/mise/installs/http-hello/1.0.0/bin:/mise/installs/http-hello/1.0.0:/mise/installs/http-hello/1.0.01/bin:/usr/bin"] },
      rootfs: { type: "layers" as const, diff_ids: [d("1"), d("5"), d("8"), d("9")] }
    }
  }

  it("indexes only layers with every key annotation and no plugin, with their diff_ids and the PATH entries inside them", () => {
    const index = remoteReuseIndex(remote)
    expect(index).toEqual([{
      short: "http:hello",
      version: "1.0.0",
      prefix: "mise/installs/http-hello/1.0.0",
      owner: "0:0",
      relocation: "2",
      digest: d("4"),
      diffId: d("5"),
      size: 7,
      binPaths: ["/mise/installs/http-hello/1.0.0/bin", "/mise/installs/http-hello/1.0.0"]
    }])
    const key = { short: "http:hello", version: "1.0.0", prefix: "mise/installs/http-hello/1.0.0", owner: "0:0", relocation: "2" }
    expect(findReusable(index, key)?.digest).toBe(d("4"))
    expect(findReusable(index, { ...key, version: "1.1.0" })).toBeUndefined()
    expect(findReusable(index, { ...key, owner: "1000:1000" })).toBeUndefined()
  })
})

const leftMessage = <A>(e: Either.Either<A, { readonly message: string }>): string =>
  Either.match(e, { onLeft: (l) => l.message, onRight: () => "" })

describe("push argument checks", () => {
  it("wants a registry in the destination and index.json in --image-dir, with mise's messages", () => {
    expect(leftMessage(parseDestination("justname"))).toBe(
      "push destination must be a fully-qualified reference (e.g. `ghcr.io/you/devenv:tag`); got \"justname\""
    )
    expect(Either.isRight(parseDestination("ghcr.io/you/devenv:tag"))).toBe(true)
    expect(leftMessage(checkImageDir("/nonexistent-dir"))).toBe(
      "/nonexistent-dir: does not look like an OCI image layout (missing index.json)"
    )
  })
})
