import bcrypt from "bcryptjs"
import { execFileSync, spawn } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { gzipSync } from "node:zlib"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { type FaultProxy, startFaultProxy } from "../libs/registry/test/support/FaultProxy"
import { skopeo } from "../libs/registry/test/support/Images"
import { type RunningRegistry, startRegistry } from "../libs/registry/test/support/Registry"
import { engine, readLayout } from "./support/Cli"
import { makeHelloTool, put } from "./support/Fixtures"
import { type FixtureServer, startFixtureServer } from "./support/FixtureServer"
import { ensureMise } from "./support/Mise"
import { hasCommand, umociUnpack } from "./support/Validate"

/** Debian's busybox-static: the base image's one binary, so the image runs `sh` and the tools' `#!/bin/sh`. */
const BUSYBOX = "/bin/busybox"
const BASE_ENV = ["PATH=/usr/local/bin:/usr/bin:/bin", "BASEVAR=1"]

let work: string
let server: FixtureServer
let registry: RunningRegistry
let proxy: FaultProxy
/** The platform manifest of `base/busybox:1`, as the registry serves it (Docker v2s2). */
let baseDigest: string
let baseDiffId: string
/** Its config blob's digest. */
let baseConfigDigest: string

const sha256 = (data: Uint8Array | string) => `sha256:${crypto.createHash("sha256").update(data).digest("hex")}`

/** An OCI layout with one image tagged `1`: gzip layers of the given tars, `config` as given (possibly broken). */
const writeImage = (dir: string, tars: ReadonlyArray<Buffer>, config: Record<string, unknown>) => {
  const blobs = path.join(dir, "blobs", "sha256")
  fs.mkdirSync(blobs, { recursive: true })
  const blob = (bytes: Buffer, mediaType: string) => {
    const digest = sha256(bytes)
    fs.writeFileSync(path.join(blobs, digest.slice(7)), bytes)
    return { mediaType, digest, size: bytes.length }
  }
  const layers = tars.map((t) => blob(gzipSync(t), "application/vnd.oci.image.layer.v1.tar+gzip"))
  const configDesc = blob(Buffer.from(JSON.stringify(config)), "application/vnd.oci.image.config.v1+json")
  const manifest = blob(
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: configDesc, layers })),
    "application/vnd.oci.image.manifest.v1+json"
  )
  fs.writeFileSync(path.join(dir, "oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}")
  fs.writeFileSync(
    path.join(dir, "index.json"),
    JSON.stringify({ schemaVersion: 2, manifests: [{ ...manifest, annotations: { "org.opencontainers.image.ref.name": "1" } }] })
  )
}

const baseConfig = (diffIds: ReadonlyArray<string> | undefined) => ({
  created: "2024-01-01T00:00:00Z",
  architecture: process.arch === "arm64" ? "arm64" : "amd64",
  os: "linux",
  config: { Env: BASE_ENV, Cmd: ["sh"], WorkingDir: "/srv", Labels: { "base.label": "not inherited" } },
  ...(diffIds !== undefined ? { rootfs: { type: "layers", diff_ids: diffIds } } : { rootfs: { type: "layers" } }),
  history: [{ created_by: "busybox base", created: "2024-01-01T00:00:00Z" }]
})

const pushWithSkopeo = async (dir: string, dest: string, format?: "v2s2") =>
  skopeo("copy", "--dest-tls-verify=false", ...(format !== undefined ? ["--format", format] : []), `oci:${dir}:1`, `docker://${dest}`)

const env = (extra: Record<string, string> = {}) => ({
  ENGINE_DATA_DIR: path.join(work, "data"),
  ENGINE_CACHE_DIR: path.join(work, "cache"),
  HOME: path.join(work, "home"),
  SOURCE_DATE_EPOCH: "1700000000",
  ...extra
})

const project = (name: string, extra = ""): string => {
  const dir = path.join(work, name)
  put(
    path.join(dir, "mise.toml"),
    `[tools]\n"http:hello" = { version = "1.0.0", url = "${server.url}/hello-{{ version }}.tar.gz", bin_path = "bin", strip_components = 1 }\n\n[env]\nFOO = "bar"\n${extra}`
  )
  return dir
}

beforeAll(async () => {
  if (!fs.existsSync(BUSYBOX)) throw new Error(`${BUSYBOX} is missing: apt-get install busybox-static (CI does)`)
  work = fs.mkdtempSync(path.join(os.tmpdir(), "engine-registry-e2e-"))
  fs.mkdirSync(path.join(work, "home"))
  const dist = path.join(work, "dist")
  fs.mkdirSync(dist)
  makeHelloTool(dist, "1.0.0")
  server = await startFixtureServer(dist)
  registry = await startRegistry()
  proxy = await startFaultProxy({ host: "127.0.0.1", port: registry.port })

  const rootfs = path.join(work, "rootfs")
  put(path.join(rootfs, "bin", "busybox"), fs.readFileSync(BUSYBOX), 0o755)
  fs.symlinkSync("busybox", path.join(rootfs, "bin", "sh"))
  put(path.join(rootfs, "etc", "base-release"), "busybox base\n")
  const tar = execFileSync("tar", ["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-C", rootfs, "-cf", "-", "bin", "etc"], {
    maxBuffer: 64 * 1024 * 1024
  })
  baseDiffId = sha256(tar)
  writeImage(path.join(work, "base"), [tar], baseConfig([baseDiffId]))
  // Pushed as Docker v2s2: the engine must map its layer type to OCI.
  await pushWithSkopeo(path.join(work, "base"), `${registry.host}/base/busybox:1`, "v2s2")
  const inspected = JSON.parse(await skopeo("inspect", "--tls-verify=false", `docker://${registry.host}/base/busybox:1`)) as { Digest: string }
  baseDigest = inspected.Digest
  const raw = JSON.parse(await skopeo("inspect", "--tls-verify=false", "--raw", `docker://${registry.host}/base/busybox:1`)) as { config: { digest: string } }
  baseConfigDigest = raw.config.digest
}, 120_000)

afterAll(async () => {
  await proxy?.close()
  await registry?.stop()
  await server?.close()
  if (work !== undefined) fs.rmSync(work, { recursive: true, force: true })
})

afterEach(() => proxy.clearRules())

describe("engine build --from a registry base", () => {
  let dir: string

  beforeAll(() => {
    dir = project("from-base", "\n[oci.env]\nNODE_ENV = \"production\"\n")
  })

  it("puts the base layers first, inherits its Env/Cmd/WorkingDir, and records base.name and base.digest", async () => {
    const from = `${proxy.host}/base/busybox@${baseDigest}`
    const r = await engine(["build", "--from", from, "--no-mise", "-o", "out", "-t", "latest"], { cwd: dir, env: env() })
    expect(r.code, r.stderr).toBe(0)
    const out = path.join(dir, "out")
    const { index, manifest, config } = readLayout(out)
    expect(index.manifests[0]).toMatchObject({ platform: { architecture: config.architecture, os: "linux" } })
    expect((manifest as { annotations?: Record<string, string> }).annotations).toEqual({
      "org.opencontainers.image.base.name": from,
      "org.opencontainers.image.base.digest": baseDigest
    })
    // Docker's layer type is mapped to OCI; the bytes are the base's.
    expect(manifest.layers[0]).toMatchObject({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip" })
    expect(config.rootfs.diff_ids[0]).toBe(baseDiffId)
    expect(manifest.layers).toHaveLength(3)
    expect(config.config.Env).toEqual([
      "PATH=/mise/installs/http-hello/1.0.0/bin:/usr/local/bin:/usr/bin:/bin",
      "BASEVAR=1",
      "FOO=bar",
      "NODE_ENV=production",
      "MISE_DATA_DIR=/mise",
      "MISE_CONFIG_DIR=/etc/mise"
    ])
    expect(config.config.Cmd).toEqual(["sh"])
    expect(config.config.WorkingDir).toBe("/srv")
    expect(Object.keys(config.config.Labels ?? {})).not.toContain("base.label")
    expect(config).not.toHaveProperty("history")
    // The base's own config blob stays in the layout, as in mise's.
    expect(fs.existsSync(path.join(out, "blobs", "sha256", baseConfigDigest.slice("sha256:".length)))).toBe(true)
    const rootfs = umociUnpack(out, "latest")
    expect(fs.readFileSync(path.join(rootfs, "etc", "base-release"), "utf8")).toBe("busybox base\n")
    expect(fs.readlinkSync(path.join(rootfs, "bin", "sh"))).toBe("busybox")
    expect(fs.readFileSync(path.join(rootfs, "mise", "installs", "http-hello", "1.0.0", "bin", "hello"), "utf8")).toContain("hello 1.0.0")
  })

  it("a digest-pinned base is not asked for again: the second build makes no registry request", async () => {
    const before = proxy.log.length
    const r = await engine(["build", "--from", `${proxy.host}/base/busybox@${baseDigest}`, "--no-mise", "-o", "out2"], {
      cwd: dir,
      env: env()
    })
    expect(r.code, r.stderr).toBe(0)
    expect(proxy.log.slice(before)).toEqual([])
  })

  it("a tag is resolved again on every build, but no blob is downloaded twice", async () => {
    const from = `${proxy.host}/base/busybox:1`
    expect((await engine(["build", "--from", from, "--no-mise", "-o", "out3"], { cwd: dir, env: env() })).code).toBe(0)
    const before = proxy.log.length
    const r = await engine(["build", "--from", from, "--no-mise", "-o", "out3", "--json"], { cwd: dir, env: env() })
    expect(r.code, r.stderr).toBe(0)
    const asked = proxy.log.slice(before)
    expect(asked.some((q) => q.path.includes("/manifests/1"))).toBe(true)
    expect(asked.filter((q) => q.path.includes("/blobs/"))).toEqual([])
    const result = JSON.parse(r.stdout) as { base: { name: string; digest: string }; layers: Array<{ kind: string }> }
    expect(result.base).toEqual({ name: from, digest: baseDigest })
    expect(result.layers.map((l) => l.kind)).toEqual(["base", "tool", "config"])
  })

  it("takes the base from [oci].from, else the oci.default_from setting", async () => {
    const fromConfig = project("from-config", `\n[oci]\nfrom = "${registry.host}/base/busybox:1"\n`)
    const a = await engine(["build", "--no-mise", "-o", "out", "--json"], { cwd: fromConfig, env: env() })
    expect(a.code, a.stderr).toBe(0)
    expect(JSON.parse(a.stdout)).toMatchObject({ base: { digest: baseDigest } })
    const fromSetting = project("from-setting")
    const b = await engine(["build", "--no-mise", "-o", "out", "--json"], {
      cwd: fromSetting,
      env: env({ MISE_OCI_DEFAULT_FROM: `${registry.host}/base/busybox:1` })
    })
    expect(b.code, b.stderr).toBe(0)
    expect(JSON.parse(b.stdout)).toMatchObject({ base: { name: `${registry.host}/base/busybox:1` } })
  })

  it("refuses a base without diff_ids, or with fewer diff_ids than layers, with mise's messages", async () => {
    const tar = Buffer.alloc(1024)
    writeImage(path.join(work, "no-diff-ids"), [tar], baseConfig(undefined))
    writeImage(path.join(work, "short-diff-ids"), [tar, tar], baseConfig([sha256(tar)]))
    await pushWithSkopeo(path.join(work, "no-diff-ids"), `${registry.host}/bad/nodiff:1`)
    await pushWithSkopeo(path.join(work, "short-diff-ids"), `${registry.host}/bad/short:1`)
    const dir = project("bad-bases")
    const a = await engine(["build", "--from", `${registry.host}/bad/nodiff:1`, "--no-mise", "-o", "out"], { cwd: dir, env: env() })
    expect(a.code).toBe(1)
    expect(a.stderr).toContain(
      `pulled base image ${registry.host}/bad/nodiff:1 has no rootfs.diff_ids in its config — cannot produce a valid OCI image on top of it`
    )
    const b = await engine(["build", "--from", `${registry.host}/bad/short:1`, "--no-mise", "-o", "out"], { cwd: dir, env: env() })
    expect(b.code).toBe(1)
    expect(b.stderr).toContain(
      `base image ${registry.host}/bad/short:1 has 2 layers in its manifest but 1 diff_ids in its config — refusing to emit an OCI-spec-violating image`
    )
    expect(fs.existsSync(path.join(dir, "out"))).toBe(false)
  })
})

describe("engine push", () => {
  let dir: string

  beforeAll(() => {
    dir = project("push")
  })

  it("builds and pushes; the registry serves the pushed digest; base layers are mounted from the base's repository", async () => {
    const dest = `${registry.host}/apps/hello:v1`
    const r = await engine(["push", dest, "--from", `${registry.host}/base/busybox:1`, "--no-mise"], { cwd: dir, env: env() })
    expect(r.code, r.stderr).toBe(0)
    const m = /^pushed (sha256:[0-9a-f]{64}) to (\S+) \((\d+) blob\(s\) uploaded, (\d+) already present, 1 mounted from base repo\)$/.exec(r.stdout.trim())
    expect(m, r.stdout).not.toBeNull()
    expect(m?.[2]).toBe(dest)
    expect(m?.[3]).toBe("3")
    const inspected = JSON.parse(await skopeo("inspect", "--tls-verify=false", `docker://${dest}`)) as { Digest: string; Layers: Array<string> }
    expect(inspected.Digest).toBe(m?.[1])
    expect(inspected.Layers).toHaveLength(3)

    // The same build again: nothing to upload, and the tool layer is taken from the image being replaced.
    const again = await engine(["push", dest, "--from", `${registry.host}/base/busybox:1`, "--no-mise"], { cwd: dir, env: env() })
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout.trim()).toBe(`pushed ${m?.[1]} to ${dest} (0 blob(s) uploaded, 4 already present, 1 tool layer(s) reused from previous image)`)
    expect(again.stderr).toContain("reusing http:hello@1.0.0 layer from the cache image (unchanged)")
  })

  it("push is a task after the layout: a recorded push of the same manifest asks one HEAD of the tag and nothing about blobs", async () => {
    const dest = `${proxy.host}/apps/recorded:v1`
    const first = await engine(["push", dest, "--from", "scratch", "--no-mise"], { cwd: dir, env: env() })
    expect(first.code, first.stderr).toBe(0)
    const digest = /^pushed (sha256:[0-9a-f]{64})/.exec(first.stdout)?.[1]
    expect(first.stdout).toMatch(/\(3 blob\(s\) uploaded, 0 already present\)/)

    const before = proxy.log.length
    const again = await engine(["push", dest, "--from", "scratch", "--no-mise", "--json"], { cwd: dir, env: env() })
    expect(again.code, again.stderr).toBe(0)
    const result = JSON.parse(again.stdout) as { manifestDigest: string; uploaded: number; present: number }
    expect(result).toMatchObject({ manifestDigest: digest, uploaded: 0, present: 3 })
    const asked = proxy.log.slice(before).map((q) => `${q.method} ${q.path.replace(/\?.*$/, "")}`)
    // Remote reuse reads the image at the tag; the push itself only checks the tag still holds its manifest.
    expect(asked.filter((q) => q.includes("/blobs/") && !q.startsWith("GET"))).toEqual([])
    expect(asked.filter((q) => q.startsWith("HEAD"))).toEqual(["HEAD /v2/apps/recorded/manifests/v1"])
    expect(asked.filter((q) => q.startsWith("PUT") || q.startsWith("POST") || q.startsWith("PATCH"))).toEqual([])

    // Someone else pushed to the tag: the record no longer holds, so the next push checks every blob and puts its manifest back.
    await pushWithSkopeo(path.join(work, "base"), `${registry.host}/apps/recorded:v1`)
    const moved = proxy.log.length
    const third = await engine(["push", dest, "--from", "scratch", "--no-mise"], { cwd: dir, env: env() })
    expect(third.code, third.stderr).toBe(0)
    expect(third.stdout.trim()).toBe(`pushed ${digest} to ${dest} (0 blob(s) uploaded, 3 already present)`)
    const later = proxy.log.slice(moved).map((q) => `${q.method} ${q.path}`)
    expect(later.filter((q) => q.startsWith("HEAD /v2/apps/recorded/blobs/"))).toHaveLength(3)
    expect(later).toContain("PUT /v2/apps/recorded/manifests/v1")
    const inspected = JSON.parse(await skopeo("inspect", "--tls-verify=false", `docker://${registry.host}/apps/recorded:v1`)) as { Digest: string }
    expect(inspected.Digest).toBe(digest)
  })

  it("re-pushing an image dir the tag already holds asks one HEAD of the tag and sends nothing", async () => {
    const built = await engine(["build", "--from", "scratch", "--no-mise", "-o", "dir-push"], { cwd: dir, env: env() })
    expect(built.code, built.stderr).toBe(0)
    const dest = `${proxy.host}/apps/from-dir:v1`
    const first = await engine(["push", dest, "--image-dir", "dir-push"], { cwd: dir, env: env() })
    expect(first.code, first.stderr).toBe(0)
    expect(first.stdout).toMatch(/\(3 blob\(s\) uploaded, 0 already present\)/)
    const digest = /^pushed (sha256:[0-9a-f]{64})/.exec(first.stdout)?.[1]
    const before = proxy.log.length
    const again = await engine(["push", dest, "--image-dir", "dir-push"], { cwd: dir, env: env() })
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout.trim()).toBe(`pushed ${digest} to ${dest} (0 blob(s) uploaded, 3 already present)`)
    // Besides the version check every client starts with (GET /v2/), one HEAD: no blob asked about, nothing put.
    const asked = proxy.log.slice(before).map((q) => `${q.method} ${q.path}`)
    expect(asked.filter((q) => q !== "GET /v2/")).toEqual(["HEAD /v2/apps/from-dir/manifests/v1"])
  })

  it("a tool layer of the image at the destination is reused without installing the tool", async () => {
    const dest = `${registry.host}/apps/noinstall:v1`
    const first = await engine(["push", dest, "--from", "scratch", "--no-mise"], { cwd: dir, env: env() })
    expect(first.code, first.stderr).toBe(0)
    const digest = /^pushed (sha256:[0-9a-f]{64})/.exec(first.stdout)?.[1]

    // Another machine: empty data dir and cache, so nothing is installed or cached there.
    const fresh = fs.mkdtempSync(path.join(work, "fresh-"))
    const requests = server.requests.length
    const r = await engine(["push", dest, "--from", "scratch", "--no-mise"], {
      cwd: dir,
      env: env({ ENGINE_DATA_DIR: path.join(fresh, "data"), ENGINE_CACHE_DIR: path.join(fresh, "cache") })
    })
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toContain("reusing http:hello@1.0.0 layer from the cache image (unchanged)")
    expect(fs.existsSync(path.join(fresh, "data", "installs", "http-hello"))).toBe(false)
    expect(server.requests.slice(requests)).toEqual([])
    // The same image: the PATH entry comes from the cache image's config instead of the install.
    expect(r.stdout.trim()).toBe(`pushed ${digest} to ${dest} (0 blob(s) uploaded, 3 already present, 1 tool layer(s) reused from previous image)`)
  })

  it("engine build --push writes the layout and pushes it in the same run", async () => {
    const dest = `${registry.host}/apps/built:v1`
    const r = await engine(["build", "--from", "scratch", "--no-mise", "-o", "pushed-out", "--push", dest], { cwd: dir, env: env() })
    expect(r.code, r.stderr).toBe(0)
    const { index } = readLayout(path.join(dir, "pushed-out"))
    const digest = index.manifests[0]?.digest
    expect(r.stdout).toContain(`wrote OCI image layout to ${path.join(dir, "pushed-out")}`)
    expect(r.stdout).toContain(`pushed ${digest} to ${dest} (3 blob(s) uploaded, 0 already present)`)
    const inspected = JSON.parse(await skopeo("inspect", "--tls-verify=false", `docker://${dest}`)) as { Digest: string }
    expect(inspected.Digest).toBe(digest)
  })

  it("--update-index puts the manifest into the tag's image index", async () => {
    const dest = `${registry.host}/apps/multi:v1`
    const r = await engine(["push", dest, "--from", "scratch", "--no-mise", "--update-index"], { cwd: dir, env: env() })
    expect(r.code, r.stderr).toBe(0)
    const [pushed, updated] = r.stdout.trim().split("\n")
    expect(pushed).toMatch(/^pushed sha256:[0-9a-f]{64} to .* \(\d+ blob\(s\) uploaded, \d+ already present\)$/)
    const indexDigest = /^updated image index: (sha256:[0-9a-f]{64})$/.exec(updated ?? "")?.[1]
    expect(indexDigest).toBeDefined()
    const raw = await skopeo("inspect", "--tls-verify=false", "--raw", `docker://${dest}`)
    expect(sha256(raw)).toBe(indexDigest)
    const index = JSON.parse(raw) as { manifests: Array<{ digest: string; platform: { os: string } }> }
    expect(index.manifests).toHaveLength(1)
    expect(index.manifests[0]?.digest).toBe(pushed?.split(" ")[1])

    // Recorded: the tag still holds the index this push wrote, so nothing is sent again (the tool layer is read through the index).
    const again = await engine(["push", dest, "--from", "scratch", "--no-mise", "--update-index"], { cwd: dir, env: env() })
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout.trim().split("\n")).toEqual([
      pushed?.replace(/\(\d+ blob\(s\) uploaded, \d+ already present\)/, "(0 blob(s) uploaded, 3 already present, 1 tool layer(s) reused from previous image)"),
      updated
    ])
  })

  it("pushes through 500s, a 429 and a cut upload", async () => {
    proxy.addRule({ fault: { kind: "status", status: 500, times: 2 }, match: (m, p) => m === "HEAD" && p.includes("/blobs/") })
    proxy.addRule({ fault: { kind: "status", status: 429, retryAfter: "0", times: 1 }, match: (m) => m === "POST" })
    proxy.addRule({ fault: { kind: "drop", direction: "request", bytes: 100_000, times: 1 }, match: (m) => m === "PUT" })
    const dest = `${proxy.host}/apps/faulty:v1`
    const r = await engine(["push", dest, "--from", `${registry.host}/base/busybox:1`, "--no-mise"], { cwd: dir, env: env() })
    expect(r.code, r.stderr).toBe(0)
    expect(proxy.log.map((q) => q.outcome)).toEqual(expect.arrayContaining([500, 429, "dropped"]))
    const digest = /^pushed (sha256:\S+)/.exec(r.stdout)?.[1]
    const inspected = JSON.parse(await skopeo("inspect", "--tls-verify=false", `docker://${registry.host}/apps/faulty:v1`)) as { Digest: string }
    expect(inspected.Digest).toBe(digest)
  })

  it("bad references, layouts and flag combinations give mise's messages and exit 2", async () => {
    const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
      [["push", "justname"], "push destination must be a fully-qualified reference (e.g. `ghcr.io/you/devenv:tag`); got \"justname\""],
      [["push", `${registry.host}/a/b:v1`, "--image-dir", work], `${work}: does not look like an OCI image layout (missing index.json)`],
      [["push", `${registry.host}/a/b:v1`, "--cache-from", `${registry.host}/a/other:v1`, "--from", "scratch", "--no-mise"],
        `--cache-from must reference the same repository as the destination (got ${registry.host}/a/other, destination is ${registry.host}/a/b)`]
    ]
    for (const [args, message] of cases) {
      const r = await engine(args, { cwd: dir, env: env() })
      expect(r.stderr, args.join(" ")).toContain(message)
      expect(r.code, args.join(" ")).toBe(2)
    }
    const built = await engine(["build", "--from", "scratch", "--no-mise", "-o", "built"], { cwd: dir, env: env() })
    expect(built.code, built.stderr).toBe(0)
    const conflict = await engine(["push", `${registry.host}/a/b:v1`, "--image-dir", "built", "--from", "scratch"], { cwd: dir, env: env() })
    expect(conflict.stderr).toContain("--image-dir cannot be used with --from")
    expect(conflict.code).toBe(2)
  })
})

describe("remote layer reuse across mise 2026.9.15 and the engine", () => {
  let mise: string
  let dir: string

  /** Runs the real mise asynchronously: the tools' fixture server lives in this process. */
  const runMise = (args: ReadonlyArray<string>) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(mise, args, {
        cwd: dir,
        env: {
          PATH: process.env.PATH,
          HOME: path.join(work, "home"),
          MISE_EXPERIMENTAL: "1",
          MISE_DATA_DIR: path.join(work, "data"),
          MISE_CACHE_DIR: path.join(work, "mise-cache"),
          MISE_CONFIG_DIR: path.join(work, "mise-config"),
          MISE_TRUSTED_CONFIG_PATHS: dir,
          SOURCE_DATE_EPOCH: "1700000000"
        }
      })
      let stdout = ""
      let stderr = ""
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
      child.on("close", (code) => resolve({ code, stdout, stderr }))
    })

  const toolLayerOf = async (ref: string) => {
    const manifest = JSON.parse(await skopeo("inspect", "--tls-verify=false", "--raw", `docker://${ref}`)) as {
      layers: Array<{ digest: string; annotations?: Record<string, string> }>
    }
    return manifest.layers.find((l) => l.annotations?.["dev.mise.tool.short"] === "http:hello")?.digest
  }

  /** What a push sent the registry about one blob: `HEAD 200`, `PUT` (an upload of it). */
  const blobRequests = (from: number, digest: string) =>
    proxy.log.slice(from).flatMap((q) =>
      q.method === "HEAD" && q.path.endsWith(`/blobs/${digest}`)
        ? [`HEAD ${q.outcome}`]
        : q.method === "PUT" && (q.path.includes(encodeURIComponent(digest)) || q.path.includes(digest))
        ? ["PUT"]
        : []
    )

  beforeAll(async () => {
    mise = ensureMise()
    dir = project("mise-compat")
    const r = await engine(["install"], { cwd: dir, env: env() })
    expect(r.code, r.stderr).toBe(0)
  }, 300_000)

  it("an image pushed by `mise oci push` serves `engine push --cache-from`: the tool layer is mise's, not installed, not uploaded", async () => {
    const cache = `${proxy.host}/compat/by-mise:cache`
    const pushed = await runMise(["oci", "push", cache, "--from", "scratch", "--no-mise"])
    expect(pushed.code, pushed.stderr).toBe(0)
    const layer = await toolLayerOf(cache)
    expect(layer).toMatch(/^sha256:/)

    const fresh = fs.mkdtempSync(path.join(work, "fresh-"))
    const before = proxy.log.length
    const r = await engine(["push", `${proxy.host}/compat/by-mise:engine`, "--cache-from", cache, "--from", "scratch", "--no-mise"], {
      cwd: dir,
      env: env({ ENGINE_DATA_DIR: path.join(fresh, "data"), ENGINE_CACHE_DIR: path.join(fresh, "cache") })
    })
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toContain("reusing http:hello@1.0.0 layer from the cache image (unchanged)")
    expect(r.stdout).toMatch(/, 1 tool layer\(s\) reused from previous image\)$/m)
    expect(fs.existsSync(path.join(fresh, "data", "installs", "http-hello"))).toBe(false)
    expect(await toolLayerOf(`${registry.host}/compat/by-mise:engine`)).toBe(layer)
    expect(blobRequests(before, layer!)).toEqual(["HEAD 200"])
  })

  it("an image pushed by `engine push` serves `mise oci push --cache-from`: mise references the engine's tool layer", async () => {
    const cache = `${proxy.host}/compat/by-engine:cache`
    const r = await engine(["push", cache, "--from", "scratch", "--no-mise"], { cwd: dir, env: env() })
    expect(r.code, r.stderr).toBe(0)
    const layer = await toolLayerOf(cache)
    expect(layer).toMatch(/^sha256:/)

    const before = proxy.log.length
    const pushed = await runMise(["oci", "push", `${proxy.host}/compat/by-engine:mise`, "--cache-from", cache, "--from", "scratch", "--no-mise"])
    expect(pushed.code, pushed.stderr).toBe(0)
    expect(pushed.stderr).toContain("reusing http:hello@1.0.0 layer from the cache image (unchanged)")
    expect(pushed.stdout).toMatch(/, 1 tool layer\(s\) reused from previous image\)$/m)
    expect(await toolLayerOf(`${registry.host}/compat/by-engine:mise`)).toBe(layer)
    expect(blobRequests(before, layer!)).toEqual(["HEAD 200"])
  })
})

describe("engine push with htpasswd auth", () => {
  let secured: RunningRegistry

  beforeAll(async () => {
    const htpasswd = path.join(work, "htpasswd")
    fs.writeFileSync(htpasswd, `alice:${bcrypt.hashSync("s3cret", 5)}\n`)
    secured = await startRegistry({ kind: "htpasswd", path: htpasswd })
  })

  afterAll(async () => {
    await secured?.stop()
  })

  it("uses the credentials of a DOCKER_CONFIG config.json, and hints at a login without them", async () => {
    const dir = project("auth")
    const dest = `${secured.host}/team/app:v1`
    const anonymous = await engine(["push", dest, "--from", "scratch", "--no-mise"], { cwd: dir, env: env() })
    expect(anonymous.code).toBe(1)
    expect(anonymous.stderr).toContain("401 — no credentials were found; run `docker login`")
    const dockerConfig = path.join(work, "docker-config")
    put(path.join(dockerConfig, "config.json"), JSON.stringify({ auths: { [secured.host]: { auth: Buffer.from("alice:s3cret").toString("base64") } } }))
    const r = await engine(["push", dest, "--from", "scratch", "--no-mise"], { cwd: dir, env: env({ DOCKER_CONFIG: dockerConfig }) })
    expect(r.code, r.stderr).toBe(0)
    const digest = /^pushed (sha256:\S+)/.exec(r.stdout)?.[1]
    const inspected = JSON.parse(
      await skopeo("inspect", "--tls-verify=false", "--creds", "alice:s3cret", `docker://${dest}`)
    ) as { Digest: string }
    expect(inspected.Digest).toBe(digest)
  })
})

describe("engine run", () => {
  let image: string

  beforeAll(async () => {
    const dir = project("run")
    const r = await engine(["build", "--from", `${registry.host}/base/busybox:1`, "--no-mise", "-o", "image"], { cwd: dir, env: env() })
    expect(r.code, r.stderr).toBe(0)
    image = path.join(dir, "image")
  })

  it("docker: streams a docker-archive (config, decompressed layers, manifest.json) into `docker load` and returns the command's exit code", async () => {
    const fake = path.join(work, "fake-docker")
    put(
      path.join(fake, "bin", "docker"),
      [
        "#!/bin/sh",
        "echo \"$@\" >> \"$FAKE/calls\"",
        "for a in \"$@\"; do case \"$a\" in load) cat > \"$FAKE/archive.tar\"; exit 0;; run) exit 7;; rmi) exit 0;; esac; done",
        ""
      ].join("\n"),
      0o755
    )
    const r = await engine(
      ["run", "--engine", "docker", "--image-dir", image, "--engine-arg", "--log-level=error", "-e", "A=1", "--volume", "/h:/c", "-w", "/x", "--", "hello", "arg"],
      { cwd: work, env: { ...env({ FAKE: fake }), PATH: `${path.join(fake, "bin")}:/usr/bin:/bin` } }
    )
    expect(r.code, r.stderr).toBe(7)
    const calls = fs.readFileSync(path.join(fake, "calls"), "utf8").trim().split("\n")
    expect(calls[0]).toBe("--log-level=error load --quiet")
    expect(calls[1]).toMatch(/^--log-level=error run --rm -e A=1 -v \/h:\/c -w \/x engine:run-\d+-\d+ hello arg$/)
    expect(calls[2]).toMatch(/^--log-level=error rmi --force engine:run-/)
    const { manifest } = readLayout(image)
    const listing = execFileSync("tar", ["-tvf", path.join(fake, "archive.tar")], { encoding: "utf8" }).trim().split("\n")
    const names = listing.map((l) => l.split(/\s+/).pop())
    expect(names).toEqual([`${manifest.config.digest.slice(7)}.json`, "0/layer.tar", "1/layer.tar", "2/layer.tar", "manifest.json"])
    expect(listing.every((l) => l.startsWith("-rw-r--r-- 0/0"))).toBe(true)
    const extracted = path.join(work, "archive")
    fs.mkdirSync(extracted)
    execFileSync("tar", ["-xf", path.join(fake, "archive.tar"), "-C", extracted])
    const { config } = readLayout(image)
    for (const [i, diffId] of config.rootfs.diff_ids.entries()) {
      expect(sha256(fs.readFileSync(path.join(extracted, String(i), "layer.tar")))).toBe(diffId)
    }
    const dockerManifest = JSON.parse(fs.readFileSync(path.join(extracted, "manifest.json"), "utf8")) as Array<Record<string, unknown>>
    expect(dockerManifest).toEqual([{
      Config: `${manifest.config.digest.slice(7)}.json`,
      RepoTags: [expect.stringMatching(/^engine:run-/)],
      Layers: ["0/layer.tar", "1/layer.tar", "2/layer.tar"]
    }])
  })

  it("names the missing engine as mise does", async () => {
    const none = await engine(["run", "--image-dir", image, "--", "true"], { cwd: work, env: { ...env(), PATH: "/nonexistent" } })
    expect(none.stderr).toContain("no supported container engine found. Install podman or docker.")
    expect(none.code).toBe(1)
    const podman = await engine(["run", "--engine", "podman", "--image-dir", image, "--", "true"], { cwd: work, env: { ...env(), PATH: "/nonexistent" } })
    expect(podman.stderr).toContain("--engine podman requested but `podman` was not found on PATH")
  })

  it.runIf(hasCommand("podman") && hasCommand("runc"))("podman: builds into a lowercase temp dir, runs the tool on the busybox base, returns its exit code", async () => {
    // This machine's podman needs runc, cgroupfs, vfs, file events and explicit ulimits (README: podman settings).
    const conf = path.join(work, "podman")
    put(
      path.join(conf, "containers.conf"),
      "[containers]\nnetns = \"none\"\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n[engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n"
    )
    put(path.join(conf, "storage.conf"), `[storage]\ndriver = "vfs"\ngraphroot = "${conf}/root"\nrunroot = "${conf}/runroot"\n`)
    const podmanEnv = env({ CONTAINERS_CONF: path.join(conf, "containers.conf"), CONTAINERS_STORAGE_CONF: path.join(conf, "storage.conf") })
    const r = await engine(
      ["run", "--engine", "podman", "--from", `${registry.host}/base/busybox:1`, "--no-mise", "-e", "X=1", "--", "sh", "-c", "hello; echo \"$FOO $X $PWD\"; exit 3"],
      { cwd: path.join(work, "run"), env: podmanEnv }
    )
    expect(r.stdout).toBe("hello 1.0.0\nbar 1 /srv\n")
    expect(r.code, r.stderr).toBe(3)
    const left = execFileSync("podman", ["images", "-q"], { env: { ...process.env, ...podmanEnv }, encoding: "utf8" })
    expect(left.trim()).toBe("")
  })
})
