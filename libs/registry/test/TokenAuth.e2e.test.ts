import { Cause, Effect, Redacted } from "effect"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { inspect } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { basicCredential, type Credential, staticCredentials } from "../src/Credentials"
import { directorySink, pullImage } from "../src/Pull"
import { pushLayout } from "../src/Push"
import type { Reference } from "../src/Reference"
import { pseudoRandom, skopeo, type TestImage, writeTestImage } from "./support/Images"
import { type RunningRegistry, referenceOn, startRegistry } from "./support/Registry"
import { failWith, runWith } from "./support/Run"
import { startTokenServer, type TokenServer } from "./support/TokenServer"

const PASSWORD = "correct horse battery staple"
const WRONG = "Tr0ub4dor&3-wrong"

let tokens: TokenServer
let registry: RunningRegistry
let work: string
let image: TestImage

const ref = (s: string): Reference => referenceOn(registry, s)
const linuxAmd64 = { os: "linux", architecture: "amd64" }
const as = (credential: Credential) => ({ credentials: staticCredentials({ [registry.host]: credential }) })

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "engine-token-auth-"))
  tokens = await startTokenServer(work, {
    users: { alice: PASSWORD, bob: "bobs password" },
    identityTokens: { "alice-refresh-token": "alice" },
    grant: (account, repository) =>
      account === "alice" ? ["pull", "push"] : account === "bob" || repository.startsWith("public/") ? ["pull"] : []
  })
  registry = await startRegistry({
    kind: "token",
    realm: tokens.realm,
    service: tokens.service,
    issuer: tokens.issuer,
    rootCertBundle: tokens.certPath
  })
  image = await writeTestImage(join(work, "image"), { layers: [pseudoRandom("t-1", 10_000), pseudoRandom("t-2", 30_000)] })
})

afterAll(async () => {
  await registry?.stop()
  await tokens?.close()
  if (work !== undefined) await rm(work, { recursive: true, force: true })
})

describe("distribution with token auth", () => {
  it("pushes with Basic credentials exchanged for a bearer token scoped pull,push", async () => {
    const result = await runWith(pushLayout({ layoutDir: image.dir }, ref("public/app:v1")), as(basicCredential("alice", PASSWORD)))
    expect(result).toMatchObject({ uploaded: 3, present: 0 })
    expect(tokens.requests).toContainEqual({
      method: "GET",
      account: "alice",
      scopes: ["repository:public/app:pull,push"],
      service: tokens.service
    })
    const raw = await skopeo("inspect", "--tls-verify=false", "--creds", `alice:${PASSWORD}`, "--raw", `docker://${registry.host}/public/app:v1`)
    expect(raw).toBe(new TextDecoder().decode(image.manifestBytes))
  })

  it("pulls a public repository anonymously", async () => {
    const before = tokens.requests.length
    const pulled = await runWith(pullImage(ref("public/app:v1"), linuxAmd64, directorySink(join(work, "anon"))))
    expect(pulled.manifestDigest).toBe(image.descriptor.digest)
    expect(tokens.requests.slice(before)).toContainEqual({
      method: "GET",
      account: undefined,
      scopes: ["repository:public/app:pull"],
      service: tokens.service
    })
  })

  it("mounts from another repository, asking for pull on it in the same token", async () => {
    await runWith(pushLayout({ layoutDir: image.dir }, ref("private/base:v1")), as(basicCredential("alice", PASSWORD)))
    const result = await runWith(
      pushLayout({ layoutDir: image.dir }, ref("private/derived:v1"), { mountFrom: "private/base" }),
      as(basicCredential("alice", PASSWORD))
    )
    expect(result).toMatchObject({ uploaded: 1, mounted: 2 })
    expect(tokens.requests.at(-1)?.scopes).toEqual(["repository:private/derived:pull,push", "repository:private/base:pull"])
  })

  it("exchanges an identity token with an OAuth2 refresh_token POST", async () => {
    const identity: Credential = { _tag: "IdentityToken", token: Redacted.make("alice-refresh-token") }
    const pulled = await runWith(pullImage(ref("private/base:v1"), linuxAmd64, directorySink(join(work, "idt"))), as(identity))
    expect(pulled.manifestDigest).toBe(image.descriptor.digest)
    expect(tokens.requests.at(-1)).toEqual({
      method: "POST",
      account: "alice",
      scopes: ["repository:private/base:pull"],
      grantType: "refresh_token",
      service: tokens.service
    })
  })

  it("explains a private image pulled anonymously", async () => {
    const error = await failWith(pullImage(ref("private/base:v1"), linuxAmd64, directorySink(join(work, "no"))))
    expect(error).toMatchObject({ _tag: "RegistryResponseError", status: 401, code: "UNAUTHORIZED" })
    expect(error.message).toContain(
      "failed: 401 — the image may be private; run `docker login` (or `podman login`) for this registry"
    )
  })

  it("explains a push refused for lack of the push right", async () => {
    const error = await failWith(
      pushLayout({ layoutDir: image.dir }, ref("private/bob:v1")),
      as(basicCredential("bob", "bobs password"))
    )
    expect(error).toMatchObject({ _tag: "RegistryResponseError", status: 401 })
    expect(error.message).toContain("— the stored credentials were rejected or lack push permission")
  })

  it("never shows the password, in errors or in debug logs, when it is rejected", async () => {
    const logs: Array<string> = []
    const exit = await runWith(
      Effect.exit(pullImage(ref("private/base:v1"), linuxAmd64, directorySink(join(work, "bad")))),
      as(basicCredential("alice", WRONG)),
      logs
    )
    expect(exit._tag).toBe("Failure")
    if (exit._tag !== "Failure") return
    const error = Cause.squash(exit.cause)
    expect(error).toMatchObject({ _tag: "AuthError", status: 401 })
    expect((error as Error).message).toContain(`authenticating to ${registry.host} at ${tokens.realm} failed: 401 — the stored credentials were rejected`)
    const everything = [
      ...logs,
      Cause.pretty(exit.cause),
      JSON.stringify(error),
      inspect(error, { depth: 10, showHidden: true }),
      inspect(exit, { depth: 10 })
    ].join("\n")
    expect(logs.length).toBeGreaterThan(0)
    expect(everything).not.toContain(WRONG)
    expect(everything).not.toContain(Buffer.from(`alice:${WRONG}`).toString("base64"))
  })
})
