import { Effect, Either } from "effect"
import * as path from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import type { ConfigError } from "../../src/config/ConfigError"
import { lockedVersionFor } from "../../src/config/Lockfile"
import { loadProject, NO_PROJECT_CONFIG_MESSAGE, type LoadProjectOptions, type Project } from "../../src/config/Project"
import { makeTree, removeTree } from "./TempTree"

const roots: Array<string> = []
afterEach(() => {
  for (const root of roots.splice(0)) removeTree(root)
})

const tree = (files: Readonly<Record<string, string>>): string => {
  const root = makeTree(files)
  roots.push(root)
  return root
}

const options = (root: string, cwd: string, overrides: Partial<LoadProjectOptions> = {}): LoadProjectOptions => ({
  cwd: path.join(root, cwd),
  home: path.join(root, "home"),
  includeGlobal: false,
  arch: "x64",
  ...overrides,
  env: {
    PATH: "/usr/bin",
    MISE_SYSTEM_CONFIG_DIR: path.join(root, "etc/mise"),
    MISE_CEILING_PATHS: path.dirname(root),
    ...overrides.env
  }
})

const load = (root: string, cwd: string, overrides: Partial<LoadProjectOptions> = {}): Promise<Project> =>
  Effect.runPromise(loadProject(options(root, cwd, overrides)))

const loadError = async (root: string, cwd: string, overrides: Partial<LoadProjectOptions> = {}): Promise<ConfigError> => {
  const result = await Effect.runPromise(Effect.either(loadProject(options(root, cwd, overrides))))
  if (Either.isRight(result)) throw new Error("expected loadProject to fail")
  return result.left
}

const versions = (project: Project) => project.tools.map((t) => `${t.short}@${t.version}`)

describe("loadProject", () => {
  it("loads tools, [env], [oci], settings and mise.lock of a project", async () => {
    const root = tree({
      "app/mise.toml": `[tools]
"http:hello" = { version = "1.0.0", url = "http://127.0.0.1/hello.tgz", bin_path = "bin", strip_components = 1 }
node = "20"

[env]
FOO = "bar"
ROOT = "{{ config_root }}"

[oci]
workdir = "/app"

[oci.env]
NODE_ENV = "production"

[oci.labels]
"org.opencontainers.image.source" = "https://example.com/x"

[settings.oci]
default_from = "scratch"
`,
      "app/mise.lock": `[[tools."http:hello"]]
version = "1.0.0"
backend = "http:hello"

[tools."http:hello".platforms.linux-x64]
checksum = "sha256:abc"
size = 123
url = "http://127.0.0.1/hello.tgz"

[[tools.node]]
version = "20.11.0"
backend = "core:node"
`
    })
    const project = await load(root, "app")
    expect(project.root).toBe(path.join(root, "app"))
    expect(project.files.map((f) => f.path)).toEqual([path.join(root, "app/mise.toml")])
    expect(versions(project)).toEqual(["http:hello@1.0.0", "node@20"])
    expect(project.tools[0]).toMatchObject({
      backend: "http",
      name: "hello",
      options: { url: "http://127.0.0.1/hello.tgz", bin_path: "bin", strip_components: 1 },
      source: { file: path.join(root, "app/mise.toml"), line: 2 },
      configDir: path.join(root, "app")
    })
    expect(project.env).toEqual({ vars: [["FOO", "bar"], ["ROOT", path.join(root, "app")]], bakedCount: 2, unset: [] })
    expect(project.oci).toEqual({
      workdir: "/app",
      copy: [],
      env: [["NODE_ENV", "production"]],
      labels: [["org.opencontainers.image.source", "https://example.com/x"]]
    })
    expect(project.ociOrigins.workdir).toEqual({ file: path.join(root, "app/mise.toml"), line: 10, column: 1, key: "oci.workdir" })
    expect(project.settings["oci.default_from"]).toBe("scratch")
    expect(project.settings["oci.default_mount_point"]).toBe("/mise")
    expect(project.lock?.tools["http:hello"]?.[0]?.platforms["linux-x64"]).toEqual({
      checksum: "sha256:abc",
      size: 123,
      url: "http://127.0.0.1/hello.tgz"
    })
    const node = project.tools[1]
    expect(node === undefined || project.lock === undefined ? undefined : lockedVersionFor(project.lock, node)?.version).toBe("20.11.0")
  })

  it("puts a sub-project's tools first, then the parent's, with the sub-project's entry winning", async () => {
    const root = tree({
      "mono/mise.toml": `[tools]
"http:hello" = "1.0.0"
"http:shared" = "1"

[oci]
from = "scratch"
user_id = 1
group_id = 2

[oci.env]
A = "parent"
B = "parent"

[[oci.copy]]
host = "assets"
image = "/srv/assets"
`,
      "mono/svc-b/mise.toml": `[tools]
"http:own" = "3"
"http:hello" = "1.1.0"

[oci]
user_id = 1000

[oci.env]
B = "child"

[[oci.copy]]
host = "dist"
image = "/app"
`
    })
    const project = await load(root, "mono/svc-b")
    expect(project.root).toBe(path.join(root, "mono/svc-b"))
    expect(versions(project)).toEqual(["http:own@3", "http:hello@1.1.0", "http:shared@1"])
    expect(project.oci.from).toBe("scratch")
    expect(project.oci.user_id).toBe(1000)
    expect(project.oci.group_id).toBeUndefined()
    expect(project.oci.env).toEqual([["B", "child"], ["A", "parent"]])
    expect(project.oci.copy).toEqual([
      { host: path.join(root, "mono/assets"), image: "/srv/assets" },
      { host: path.join(root, "mono/svc-b/dist"), image: "/app" }
    ])
  })

  it("leaves out global, system and $HOME configs unless includeGlobal, where they rank lowest", async () => {
    const root = tree({
      "home/.config/mise/config.toml": '[tools]\n"http:personal" = "1"\n"http:hello" = "0.1"\n\n[env]\nGLOBAL = "1"\n\n[oci]\nworkdir = "/global"\ntag = "g"\n',
      "home/mise.toml": '[tools]\n"http:home" = "1"\n',
      "etc/mise/config.toml": '[tools]\n"http:system" = "1"\n',
      "home/code/app/mise.toml": '[tools]\n"http:hello" = "1.0.0"\n\n[oci]\nworkdir = "/app"\n'
    })
    const scoped = await load(root, "home/code/app")
    expect(versions(scoped)).toEqual(["http:hello@1.0.0"])
    expect(scoped.env.vars).toEqual([])
    expect(scoped.oci.tag).toBeUndefined()

    const all = await load(root, "home/code/app", { includeGlobal: true })
    expect(versions(all)).toEqual(["http:hello@1.0.0", "http:home@1", "http:personal@1", "http:system@1"])
    expect(all.env.vars).toEqual([["GLOBAL", "1"]])
    expect([all.oci.workdir, all.oci.tag]).toEqual(["/app", "g"])
  })

  it("fails without a project config, unless includeGlobal", async () => {
    const root = tree({ "home/.config/mise/config.toml": '[tools]\n"http:personal" = "1"\n', "home/code/empty/.keep": "" })
    const error = await loadError(root, "home/code/empty")
    expect(error.message).toBe(NO_PROJECT_CONFIG_MESSAGE)
    expect(error.message).toBe(
      "mise oci: no project mise config found in the current directory or any parent. Add a `mise.toml` to the project, or pass `--include-global` to use tools and [oci] settings from your global config (note: asdf plugins remain unsupported)."
    )
    const all = await load(root, "home/code/empty", { includeGlobal: true })
    expect(all.root).toBe(path.join(root, "home/code/empty"))
    expect(versions(all)).toEqual(["http:personal@1"])
  })

  it("reads settings from every config and lets MISE_OCI_* override them", async () => {
    const root = tree({
      "home/.config/mise/config.toml": '[settings]\noci.default_mount_point = "/opt/mise"\nexperimental = true\n',
      "app/mise.toml": '[settings]\noci = { insecure_registries = ["registry.lan:5000"] }\n'
    })
    const project = await load(root, "app", { env: { MISE_OCI_DEFAULT_FROM: "busybox:1", MISE_OCI_INSECURE_REGISTRIES: "a:1, b:2" } })
    expect(project.settings["oci.default_mount_point"]).toBe("/opt/mise")
    expect(project.settings["experimental"]).toBe(true)
    expect(project.settings["oci.default_from"]).toBe("busybox:1")
    expect(project.settings["oci.insecure_registries"]).toEqual(["a:1", "b:2"])
  })

  it("filters tools by os for linux and the build arch", async () => {
    const root = tree({
      "app/mise.toml": `[tools]
"http:any" = "1"
"http:linux" = { version = "1", os = ["linux"] }
"http:x64" = { version = "1", os = ["linux/x64"] }
"http:arm" = { version = "1", os = ["linux/arm64"] }
"http:mac" = { version = "1", os = ["macos"] }
`
    })
    expect(versions(await load(root, "app"))).toEqual(["http:any@1", "http:linux@1", "http:x64@1"])
    expect(versions(await load(root, "app", { arch: "arm64" }))).toEqual(["http:any@1", "http:linux@1", "http:arm@1"])
  })

  it("uses MISE_ENV files and .tool-versions", async () => {
    const root = tree({
      "app/.tool-versions": "node 18\npython 3.11\n",
      "app/mise.toml": '[tools]\nnode = "20"\n',
      "app/mise.prod.toml": '[tools]\nnode = "22"\n'
    })
    expect(versions(await load(root, "app"))).toEqual(["node@20", "python@3.11"])
    expect(versions(await load(root, "app", { miseEnv: "prod" }))).toEqual(["node@22", "python@3.11"])
    expect(versions(await load(root, "app", { env: { MISE_ENV: "prod" } }))).toEqual(["node@22", "python@3.11"])
  })

  it("resolves [vars] before [env] and tool versions", async () => {
    const root = tree({
      "app/mise.toml": '[vars]\nv = "1.2.3"\n\n[tools]\n"http:x" = "{{ vars.v }}"\n\n[env]\nV = "{{ vars.v }}"\n'
    })
    const project = await load(root, "app")
    expect(versions(project)).toEqual(["http:x@1.2.3"])
    expect(project.env.vars).toEqual([["V", "1.2.3"]])
  })

  it("lets [oci.env] satisfy a required [env] var", async () => {
    const root = tree({
      "app/mise.toml": '[oci.env]\nAWS_ACCESS_KEY_ID = "placeholder"\n\n[env]\nAWS_ACCESS_KEY_ID = { required = "AWS access key ID for S3", redact = true }\n'
    })
    const project = await load(root, "app")
    expect(project.env.vars).toEqual([])
    expect(project.oci.env).toEqual([["AWS_ACCESS_KEY_ID", "placeholder"]])
  })
})

describe("loadProject errors", () => {
  const errorFor = async (text: string, extra: Readonly<Record<string, string>> = {}): Promise<string> => {
    const root = tree({ "app/mise.toml": text, ...extra })
    const error = await loadError(root, "app")
    return error.message.replace(`${path.join(root, "app")}/`, "")
  }

  it("malformed TOML: file, line and column from the parser", async () => {
    expect(await errorFor('[tools]\nnode = "20"\nbroken = = 1\n')).toBe("mise.toml:3:10: invalid TOML: invalid value")
  })

  it("malformed TOML: an inline table left open points at the end of its line", async () => {
    expect(await errorFor('[tools]\n"http:hello" = { version = "1.0.0"\n')).toBe(
      "mise.toml:2:35: invalid TOML: expected comma or end of structure"
    )
  })

  it("wrong type: entrypoint as a string", async () => {
    expect(await errorFor('[tools]\n\n[oci]\nfrom = "scratch"\nentrypoint = "sh"\n')).toBe(
      'mise.toml:5:1: oci.entrypoint: invalid type: string "sh", expected a sequence'
    )
  })

  it("unknown [oci] key", async () => {
    expect(await errorFor('[oci]\nform = "scratch"\n')).toMatch(/^mise\.toml:2:1: oci\.form: unknown field `form`, expected one of `from`, `tag`/)
  })

  it("bad owner id", async () => {
    expect(await errorFor("[oci]\nuser_id = -1\n")).toBe("mise.toml:2:1: oci.user_id: invalid value: integer -1, expected u32")
  })

  it("bad copy", async () => {
    expect(await errorFor('[[oci.copy]]\nhost = "a"\nimage = "/a/../b"\n')).toBe(
      "mise.toml:1:1: oci.copy[0]: copy image path must not contain `.` or `..` components (got \"/a/../b\")"
    )
  })

  it("bad template", async () => {
    expect(await errorFor('[env]\nX = "{{ env.DEFINITELY_NOT_SET_123 }}"\n')).toBe(
      'mise.toml:2:1: env.X: invalid template "{{ env.DEFINITELY_NOT_SET_123 }}": variable `env.DEFINITELY_NOT_SET_123` is not defined'
    )
  })

  it("missing required env", async () => {
    expect(await errorFor("[env]\nSECRET_TOKEN_XYZ = { required = true }\n")).toMatch(
      /^mise\.toml:2:1: env\.SECRET_TOKEN_XYZ: Required environment variable 'SECRET_TOKEN_XYZ' is not defined\./
    )
  })

  it("unknown bare tool", async () => {
    expect(await errorFor('[tools]\nnode = "20"\njq = "1.7"\n')).toMatch(/^mise\.toml:3:1: tools\.jq: unknown tool "jq"/)
  })

  it("malformed mise.lock", async () => {
    expect(await errorFor('[tools]\nnode = "20"\n', { "app/mise.lock": "[[tools.node]]\nversion = 20\n" })).toBe(
      "mise.lock:2:1: tools.node[0].version: invalid type: integer 20, expected a string"
    )
  })
})
