import bcrypt from "bcryptjs"
import { Cause, Effect } from "effect"
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { inspect } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { makeCredentialStore } from "../src/Credentials"
import { directorySink, pullImage } from "../src/Pull"
import { pushLayout } from "../src/Push"
import type { Reference } from "../src/Reference"
import { pseudoRandom, skopeo, type TestImage, writeTestImage } from "./support/Images"
import { type RunningRegistry, referenceOn, startRegistry } from "./support/Registry"
import { failWith, runWith } from "./support/Run"

const PASSWORD = "htpasswd-s3cret!"
const WRONG = "not-the-htpasswd-s3cret"

let registry: RunningRegistry
let work: string
let image: TestImage

const ref = (s: string): Reference => referenceOn(registry, s)
const linuxAmd64 = { os: "linux", architecture: "amd64" }

/** Credentials as `docker login` leaves them: a config.json in $DOCKER_CONFIG with base64 user:password. */
const dockerConfig = async (name: string, password: string) => {
  const dir = join(work, name)
  await mkdir(dir, { recursive: true })
  const key = `http://${registry.host}`
  await writeFile(join(dir, "config.json"), JSON.stringify({ auths: { [key]: { auth: Buffer.from(`alice:${password}`).toString("base64") } } }))
  return { credentials: makeCredentialStore({ env: { DOCKER_CONFIG: dir }, homeDir: join(work, "nohome") }) }
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "engine-basic-auth-"))
  const htpasswd = join(work, "htpasswd")
  await writeFile(htpasswd, `alice:${bcrypt.hashSync(PASSWORD, 5)}\n`)
  registry = await startRegistry({ kind: "htpasswd", path: htpasswd })
  image = await writeTestImage(join(work, "image"), { layers: [pseudoRandom("b-1", 10_000), pseudoRandom("b-2", 30_000)] })
})

afterAll(async () => {
  await registry?.stop()
  if (work !== undefined) await rm(work, { recursive: true, force: true })
})

describe("distribution with htpasswd (Basic) auth", () => {
  it("pushes and pulls with credentials from a docker config.json", async () => {
    const creds = await dockerConfig("good", PASSWORD)
    const result = await runWith(pushLayout({ layoutDir: image.dir }, ref("team/app:v1")), creds)
    expect(result).toMatchObject({ uploaded: 3, present: 0 })
    const pulled = await runWith(pullImage(ref("team/app:v1"), linuxAmd64, directorySink(join(work, "pulled"))), creds)
    expect(pulled.manifestDigest).toBe(image.descriptor.digest)
    const raw = await skopeo("inspect", "--tls-verify=false", "--creds", `alice:${PASSWORD}`, "--raw", `docker://${registry.host}/team/app:v1`)
    expect(raw).toBe(new TextDecoder().decode(image.manifestBytes))
  })

  it("explains an anonymous pull", async () => {
    const error = await failWith(pullImage(ref("team/app:v1"), linuxAmd64, directorySink(join(work, "anon"))))
    expect(error).toMatchObject({ _tag: "RegistryResponseError", status: 401 })
    expect(error.message).toContain("failed: 401 — the image may be private; run `docker login` (or `podman login`) for this registry")
  })

  it("explains an anonymous push", async () => {
    const error = await failWith(pushLayout({ layoutDir: image.dir }, ref("team/anon:v1")))
    expect(error.message).toContain("failed: 401 — no credentials were found; run `docker login`")
  })

  it("rejects a wrong password without ever printing it", async () => {
    const logs: Array<string> = []
    const exit = await runWith(
      Effect.exit(pullImage(ref("team/app:v1"), linuxAmd64, directorySink(join(work, "bad")))),
      await dockerConfig("bad", WRONG),
      logs
    )
    expect(exit._tag).toBe("Failure")
    if (exit._tag !== "Failure") return
    const error = Cause.squash(exit.cause)
    expect((error as Error).message).toContain("failed: 401 — the stored credentials were rejected or lack access to this image")
    const everything = [...logs, Cause.pretty(exit.cause), JSON.stringify(error), inspect(exit, { depth: 10, showHidden: true })].join("\n")
    expect(logs.length).toBeGreaterThan(0)
    expect(everything).not.toContain(WRONG)
    expect(everything).not.toContain(Buffer.from(`alice:${WRONG}`).toString("base64"))
  })
})
