import { Effect, Logger, Option, Redacted } from "effect"
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { authFilePaths, type Credential, keyMatches, makeCredentialStore } from "../src/Credentials"

let root: string
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "engine-creds-"))
})
afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

const b64 = (s: string) => Buffer.from(s).toString("base64")

const dirWith = async (name: string, files: Record<string, unknown>): Promise<string> => {
  const dir = join(root, name)
  for (const [file, content] of Object.entries(files)) {
    await mkdir(join(dir, file, ".."), { recursive: true })
    await writeFile(join(dir, file), typeof content === "string" ? content : JSON.stringify(content))
  }
  return dir
}

const show = (c: Option.Option<Credential>) =>
  Option.match(c, {
    onNone: () => "none",
    onSome: (v) => (v._tag === "Basic" ? `basic ${v.username}:${Redacted.value(v.password)}` : `${v._tag} ${Redacted.value(v.token)}`)
  })

const lookup = (env: Record<string, string | undefined>, home: string, registry: string) =>
  Effect.runPromise(
    makeCredentialStore({ env, homeDir: home }).lookup(registry).pipe(Effect.map(show), Effect.provide(Logger.remove(Logger.defaultLogger)))
  )

describe("auth files", () => {
  it("are consulted in podman's and docker's order", () => {
    expect(
      authFilePaths({ REGISTRY_AUTH_FILE: "/a.json", XDG_RUNTIME_DIR: "/run/u", XDG_CONFIG_HOME: "/cfg", DOCKER_CONFIG: "/d" }, "/h")
    ).toEqual(["/a.json", "/run/u/containers/auth.json", "/cfg/containers/auth.json", "/d/config.json"])
    expect(authFilePaths({}, "/h")).toEqual(["/h/.config/containers/auth.json", "/h/.docker/config.json"])
  })

  it("match keys with scheme prefixes, paths and Docker Hub aliases", () => {
    expect(keyMatches("https://index.docker.io/v1/", "docker.io")).toBe(true)
    expect(keyMatches("registry-1.docker.io", "docker.io")).toBe(true)
    expect(keyMatches("http://localhost:5000", "localhost:5000")).toBe(true)
    expect(keyMatches("localhost:5000", "localhost:5001")).toBe(false)
    expect(keyMatches("ghcr.io", "docker.io")).toBe(false)
  })

  it("read auth (base64), username/password, identitytoken and registrytoken entries", async () => {
    const home = await dirWith("entries", {
      ".docker/config.json": {
        auths: {
          "https://index.docker.io/v1/": { auth: b64("hub:pa:ss") },
          "ghcr.io": { username: "u", password: "p" },
          "https://quay.io": { identitytoken: "refresh-me" },
          "r.example": { registrytoken: "bearer-me" }
        }
      }
    })
    expect(await lookup({}, home, "docker.io")).toBe("basic hub:pa:ss")
    expect(await lookup({}, home, "ghcr.io")).toBe("basic u:p")
    expect(await lookup({}, home, "quay.io")).toBe("IdentityToken refresh-me")
    expect(await lookup({}, home, "r.example")).toBe("RegistryToken bearer-me")
    expect(await lookup({}, home, "other.io")).toBe("none")
  })

  it("let REGISTRY_AUTH_FILE win over podman's and docker's files, and DOCKER_CONFIG replace ~/.docker", async () => {
    const home = await dirWith("order", {
      "first.json": { auths: { "x.io": { auth: b64("first:1") } } },
      "run/containers/auth.json": { auths: { "x.io": { auth: b64("runtime:2") }, "y.io": { auth: b64("runtime:y") } } },
      "dc/config.json": { auths: { "z.io": { auth: b64("dockerconfig:3") } } },
      ".docker/config.json": { auths: { "z.io": { auth: b64("home:4") } } }
    })
    const env = { REGISTRY_AUTH_FILE: join(home, "first.json"), XDG_RUNTIME_DIR: join(home, "run"), DOCKER_CONFIG: join(home, "dc") }
    expect(await lookup(env, home, "x.io")).toBe("basic first:1")
    expect(await lookup(env, home, "y.io")).toBe("basic runtime:y")
    expect(await lookup(env, home, "z.io")).toBe("basic dockerconfig:3")
    expect(await lookup({}, home, "z.io")).toBe("basic home:4")
  })

  it("run credential helpers with the server on stdin (credHelpers before auths, credsStore last)", async () => {
    const home = await dirWith("helpers", {
      ".docker/config.json": {
        credHelpers: { "h.io": "fake" },
        auths: { "h.io": { auth: b64("ignored:x") }, "a.io": { auth: b64("file:a") } },
        credsStore: "fake"
      }
    })
    const bin = join(home, "bin")
    await mkdir(bin)
    // Echoes the server it was asked about, so the test sees what went to stdin.
    await writeFile(
      join(bin, "docker-credential-fake"),
      [
        "#!/bin/sh",
        "read server",
        "case \"$server\" in",
        "  h.io) echo '{\"ServerURL\":\"h.io\",\"Username\":\"helper\",\"Secret\":\"from-helper\"}' ;;",
        "  https://index.docker.io/v1/) echo '{\"ServerURL\":\"x\",\"Username\":\"<token>\",\"Secret\":\"hub-identity\"}' ;;",
        "  broken.io) echo 'boom' >&2; exit 3 ;;",
        "  *) echo 'credentials not found in native keychain'; exit 1 ;;",
        "esac"
      ].join("\n")
    )
    await chmod(join(bin, "docker-credential-fake"), 0o755)
    const env = { PATH: `${bin}:${process.env.PATH ?? ""}` }
    expect(await lookup(env, home, "h.io")).toBe("basic helper:from-helper")
    expect(await lookup(env, home, "a.io")).toBe("basic file:a")
    expect(await lookup(env, home, "docker.io")).toBe("IdentityToken hub-identity")
    expect(await lookup(env, home, "nothing.io")).toBe("none")
    const error = await Effect.runPromise(makeCredentialStore({ env, homeDir: home }).lookup("broken.io").pipe(Effect.flip))
    expect(error._tag).toBe("CredentialsError")
    expect(error.message).toContain("docker-credential-fake get for broken.io exited with 3: boom")
  })

  it("treat a helper that is not installed as no credentials", async () => {
    const home = await dirWith("nohelper", { ".docker/config.json": { credsStore: "not-installed-anywhere" } })
    expect(await lookup({ PATH: "/nonexistent" }, home, "x.io")).toBe("none")
  })

  it("report a malformed file with its path", async () => {
    const home = await dirWith("bad", { ".docker/config.json": "{ not json" })
    const error = await Effect.runPromise(makeCredentialStore({ env: {}, homeDir: home }).lookup("x.io").pipe(Effect.flip))
    expect(error.message).toContain(join(home, ".docker/config.json"))
    expect(error.registry).toBe("x.io")
  })

  it("never show a secret when a credential is printed", async () => {
    const home = await dirWith("print", { ".docker/config.json": { auths: { "p.io": { auth: b64("u:s3cr3t-pw") } } } })
    const found = await Effect.runPromise(makeCredentialStore({ env: {}, homeDir: home }).lookup("p.io"))
    expect(JSON.stringify(found)).not.toContain("s3cr3t-pw")
    expect(String(Option.getOrThrow(found)._tag === "Basic" ? Option.getOrThrow(found) : "")).not.toContain("s3cr3t-pw")
  })
})
