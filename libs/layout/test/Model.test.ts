import { Effect, Either } from "effect"
import { describe, expect, it } from "vitest"
import {
  CONTAINER_CONFIG_KEY_ORDER,
  decodeImageConfig,
  decodeIndex,
  decodeManifest,
  digestOf,
  encodeImageConfig,
  encodeIndex,
  encodeManifest,
  type ImageConfig,
  type ImageIndex,
  type Manifest,
  MediaType,
  OCI_LAYOUT_FILE,
  parseDigest,
  toOciLayerMediaType,
  verifyDigest
} from "../src/index"
import { appendixConfig } from "./support/appendix"

const text = (b: Uint8Array) => Buffer.from(b).toString()


const APPENDIX_CONFIG_JSON =
  `{"created":"2023-11-14T22:13:20Z","author":"mise","architecture":"amd64","os":"linux","config":{"Env":["FOO=bar","NODE_ENV=production","MISE_DATA_DIR=/mise","MISE_CONFIG_DIR=/etc/mise","PATH=/mise/installs/http-hello/1.0.0/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"WorkingDir":"/app","Labels":{"org.opencontainers.image.created":"2023-11-14T22:13:20Z","org.opencontainers.image.source":"https://example.com/x","dev.mise.version":"2026.9.15","dev.mise.tools.http.hello":"1.0.0"}},"rootfs":{"type":"layers","diff_ids":["sha256:75e30ab019a45637569224cb5b27e528755ab6c5c702935d54ac91f756aa3184","sha256:ecc7c7b931f2fe068b73de13fdb4491d5e696e9ebd0d97cb5b763be1a636c1c7"]}}`

const APPENDIX_MANIFEST_JSON =
  `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":693,"digest":"sha256:1795bcc2aebd4e00c931bb5258bfadfdf745dff3d2337abb00dc0c0c461d9937"},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":221,"digest":"sha256:31fd86d505e3522b4375c0318b646de5d934289d7c82def7da602fe63c2febbe","annotations":{"dev.mise.tool.short":"http:hello","dev.mise.tool.version":"1.0.0","dev.mise.layer.prefix":"mise/installs/http-hello/1.0.0","dev.mise.layer.owner":"0:0","dev.mise.layer.relocation":"2"}},{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":203,"digest":"sha256:a462ce1704820a9543dd16bdc22f3ca4fe6f1eb328afd0af86f70af0648f39d3"}]}`

const APPENDIX_INDEX_JSON = `{
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.index.v1+json",
  "manifests": [
    {
      "mediaType": "application/vnd.oci.image.manifest.v1+json",
      "size": 756,
      "digest": "sha256:7b47b83908a01adf14654c3ad0ff3c59c4d354e2979dc3c3f04c0674b2b49e2f"
    }
  ]
}`

describe("JSON encoders reproduce mise's blobs", () => {
  it("image config: the appendix bytes, 693 long, digest 1795bcc2…", () => {
    const bytes = encodeImageConfig(appendixConfig)
    expect(text(bytes)).toBe(APPENDIX_CONFIG_JSON)
    expect(bytes.length).toBe(693)
    expect(digestOf(bytes)).toBe("sha256:1795bcc2aebd4e00c931bb5258bfadfdf745dff3d2337abb00dc0c0c461d9937")
  })

  it("image config: Cmd/Entrypoint/WorkingDir/User order as the appendix's [oci] variant, empty values kept", () => {
    const config: ImageConfig = {
      ...appendixConfig,
      config: { User: "1000", Labels: { a: "b" }, WorkingDir: "/app", Entrypoint: ["/bin/sh", "-c"], Cmd: ["hello"], Env: ["A=1"] }
    }
    expect(text(encodeImageConfig(config))).toContain(
      `"config":{"Env":["A=1"],"Cmd":["hello"],"Entrypoint":["/bin/sh","-c"],"WorkingDir":"/app","User":"1000","Labels":{"a":"b"}}`
    )
    expect(CONTAINER_CONFIG_KEY_ORDER).toEqual(["Env", "Cmd", "Entrypoint", "WorkingDir", "User", "Labels"])
    // mise 2026.9.15 with `cmd = []`, `entrypoint = []`, `user = ""`, `workdir = ""` writes them all.
    const empty: ImageConfig = { ...appendixConfig, config: { Env: ["A=1"], Cmd: [], Entrypoint: [], WorkingDir: "", User: "" } }
    expect(text(encodeImageConfig(empty))).toContain(`"config":{"Env":["A=1"],"Cmd":[],"Entrypoint":[],"WorkingDir":"","User":""}`)
  })

  it("manifest: the appendix bytes, 756 long, digest 7b47b839…", () => {
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MediaType.ImageManifest,
      config: {
        mediaType: MediaType.ImageConfig,
        size: 693,
        digest: "sha256:1795bcc2aebd4e00c931bb5258bfadfdf745dff3d2337abb00dc0c0c461d9937"
      },
      layers: [
        {
          mediaType: MediaType.LayerGzip,
          size: 221,
          digest: "sha256:31fd86d505e3522b4375c0318b646de5d934289d7c82def7da602fe63c2febbe",
          annotations: {
            "dev.mise.tool.short": "http:hello",
            "dev.mise.tool.version": "1.0.0",
            "dev.mise.layer.prefix": "mise/installs/http-hello/1.0.0",
            "dev.mise.layer.owner": "0:0",
            "dev.mise.layer.relocation": "2"
          }
        },
        { mediaType: MediaType.LayerGzip, size: 203, digest: "sha256:a462ce1704820a9543dd16bdc22f3ca4fe6f1eb328afd0af86f70af0648f39d3" }
      ]
    }
    const bytes = encodeManifest(manifest)
    expect(text(bytes)).toBe(APPENDIX_MANIFEST_JSON)
    expect(bytes.length).toBe(756)
    expect(digestOf(bytes)).toBe("sha256:7b47b83908a01adf14654c3ad0ff3c59c4d354e2979dc3c3f04c0674b2b49e2f")
  })

  it("manifest with a base: annotations after layers; descriptor keys mediaType,size,digest,annotations,platform", () => {
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MediaType.ImageManifest,
      config: { mediaType: MediaType.ImageConfig, size: 1, digest: digestOf(new Uint8Array()) },
      layers: [],
      annotations: { "org.opencontainers.image.base.name": "127.0.0.1:18766/base/img:1" }
    }
    expect(text(encodeManifest(manifest))).toMatch(/"layers":\[\],"annotations":\{"org\.opencontainers\.image\.base\.name":"127\.0\.0\.1:18766\/base\/img:1"\}\}$/)
  })

  it("index.json: pretty, 2 spaces, no trailing newline; tag and platform in mise's positions", () => {
    const index: ImageIndex = {
      schemaVersion: 2,
      mediaType: MediaType.ImageIndex,
      manifests: [{
        mediaType: MediaType.ImageManifest,
        size: 756,
        digest: "sha256:7b47b83908a01adf14654c3ad0ff3c59c4d354e2979dc3c3f04c0674b2b49e2f"
      }]
    }
    expect(text(encodeIndex(index))).toBe(APPENDIX_INDEX_JSON)
    const tagged: ImageIndex = {
      ...index,
      manifests: [{
        ...index.manifests[0]!,
        annotations: { "org.opencontainers.image.ref.name": "example.com/me/img:v1" },
        platform: { architecture: "amd64", os: "linux" }
      }]
    }
    expect(text(encodeIndex(tagged))).toContain(
      `"digest": "sha256:7b47b83908a01adf14654c3ad0ff3c59c4d354e2979dc3c3f04c0674b2b49e2f",\n      "annotations": {\n        "org.opencontainers.image.ref.name": "example.com/me/img:v1"\n      },\n      "platform": {\n        "architecture": "amd64",\n        "os": "linux"\n      }\n    }`
    )
    expect(text(encodeIndex(index, { compact: true }))).toBe(JSON.stringify(JSON.parse(APPENDIX_INDEX_JSON)))
  })

  it("oci-layout file", () => {
    expect(OCI_LAYOUT_FILE).toBe(`{"imageLayoutVersion":"1.0.0"}`)
  })
})

describe("decoders", () => {
  const run = <A, E>(e: Effect.Effect<A, E>) => Effect.runSync(Effect.either(e))
  const utf8 = (s: string) => new TextEncoder().encode(s)

  it("round-trip the appendix blobs", () => {
    const config = run(decodeImageConfig(utf8(APPENDIX_CONFIG_JSON)))
    expect(Either.isRight(config) && text(encodeImageConfig(config.right))).toBe(APPENDIX_CONFIG_JSON)
    const manifest = run(decodeManifest(utf8(APPENDIX_MANIFEST_JSON)))
    expect(Either.isRight(manifest) && text(encodeManifest(manifest.right))).toBe(APPENDIX_MANIFEST_JSON)
    const index = run(decodeIndex(utf8(APPENDIX_INDEX_JSON)))
    expect(Either.isRight(index) && text(encodeIndex(index.right))).toBe(APPENDIX_INDEX_JSON)
  })

  it("accept a manifest without mediaType (umoci / image-spec 1.0 style)", () => {
    const json = JSON.parse(APPENDIX_MANIFEST_JSON) as Record<string, unknown>
    delete json.mediaType
    const manifest = run(decodeManifest(utf8(JSON.stringify(json))))
    expect(Either.isRight(manifest) && manifest.right.mediaType).toBeUndefined()
    expect(Either.isRight(manifest) && manifest.right.layers).toHaveLength(2)
  })

  it("accept Docker configs with null fields and extra keys", () => {
    const docker = {
      architecture: "arm64",
      variant: "v8",
      os: "linux",
      config: { Env: ["PATH=/bin"], Cmd: null, Entrypoint: null, Labels: null, Image: "sha256:abc", OnBuild: null },
      container_config: {},
      history: [{ created_by: "x" }],
      rootfs: { type: "layers", diff_ids: [] }
    }
    const config = run(decodeImageConfig(utf8(JSON.stringify(docker))))
    expect(Either.isRight(config)).toBe(true)
    if (Either.isRight(config)) {
      expect(config.right.config?.Cmd).toBeUndefined()
      expect(config.right.variant).toBe("v8")
      // mise drops variant and history when it re-serializes a config.
      expect(text(encodeImageConfig(config.right))).toBe(
        `{"architecture":"arm64","os":"linux","config":{"Env":["PATH=/bin"]},"rootfs":{"type":"layers","diff_ids":[]}}`
      )
    }
  })

  it("reject bad digests, schema v1 and non-JSON with a message naming the source", () => {
    const bad = run(decodeManifest(utf8(APPENDIX_MANIFEST_JSON.replace("sha256:1795", "sha256:1795X")), "blobs/sha256/x"))
    expect(Either.isLeft(bad) && bad.left.message).toContain("cannot decode image manifest from blobs/sha256/x")
    expect(Either.isLeft(run(decodeManifest(utf8(`{"schemaVersion":1,"fsLayers":[]}`))))).toBe(true)
    const junk = run(decodeIndex(utf8("not json")))
    expect(Either.isLeft(junk) && junk.left.reason).toBe("Decode")
    const rootfs = run(decodeImageConfig(utf8(`{"architecture":"amd64","os":"linux","rootfs":{"type":"other","diff_ids":[]}}`)))
    expect(Either.isLeft(rootfs)).toBe(true)
  })
})

describe("digests", () => {
  const run = <A, E>(e: Effect.Effect<A, E>) => Effect.runSync(Effect.either(e))
  const hex = "a".repeat(64)

  it("parseDigest uses mise's messages and refuses traversal and uppercase", () => {
    expect(run(parseDigest(`sha256:${hex}`))).toEqual(Either.right(`sha256:${hex}`))
    const cases: ReadonlyArray<readonly [string, string]> = [
      [`sha512:${hex}`, "invalid blob digest (expected sha256: prefix)"],
      [hex, "invalid blob digest (expected sha256: prefix)"],
      [`sha256:${"A".repeat(64)}`, "invalid blob digest (expected 64 lowercase hex chars)"],
      [`sha256:../../${"a".repeat(58)}`, "invalid blob digest (expected 64 lowercase hex chars)"],
      [`sha256:${hex}a`, "invalid blob digest (expected 64 lowercase hex chars)"],
      ["sha256:", "invalid blob digest (expected 64 lowercase hex chars)"]
    ]
    for (const [input, message] of cases) {
      const result = run(parseDigest(input))
      expect(Either.isLeft(result) && result.left.message).toBe(message)
      expect(Either.isLeft(result) && result.left.input).toBe(input)
    }
  })

  it("verifyDigest reports got/expected", () => {
    const data = new TextEncoder().encode("x")
    expect(Either.isRight(run(verifyDigest(data, digestOf(data))))).toBe(true)
    const result = run(verifyDigest(data, `sha256:${hex}`))
    expect(Either.isLeft(result) && result.left.message).toBe(`blob digest mismatch: got ${digestOf(data)}, expected sha256:${hex}`)
  })

  it("docker layer media types map to OCI, others pass through", () => {
    expect(toOciLayerMediaType(MediaType.DockerLayerGzip)).toBe(MediaType.LayerGzip)
    expect(toOciLayerMediaType(MediaType.DockerLayerZstd)).toBe(MediaType.LayerZstd)
    expect(toOciLayerMediaType(MediaType.LayerGzip)).toBe(MediaType.LayerGzip)
    expect(toOciLayerMediaType("application/x-custom")).toBe("application/x-custom")
  })
})
