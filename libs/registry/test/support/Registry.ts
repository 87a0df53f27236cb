import { Either } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { closeSync, openSync } from "node:fs"
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseReference, type Reference } from "../../src/Reference"

/** Debian's CNCF distribution 2.8 binary (apt package docker-registry). */
export const REGISTRY_BIN = "/usr/bin/docker-registry"

export type RegistryAuth =
  | { readonly kind: "htpasswd"; readonly path: string }
  | {
    readonly kind: "token"
    readonly realm: string
    readonly service: string
    readonly issuer: string
    /** PEM certificate(s) whose public keys verify the token signatures. */
    readonly rootCertBundle: string
  }

export interface RunningRegistry {
  /** `127.0.0.1:<port>`, as a reference's registry part. */
  readonly host: string
  readonly port: number
  readonly url: string
  readonly dir: string
  readonly pid: number
  /** Stops the process by its PID and deletes its storage. */
  readonly stop: () => Promise<void>
}

/** A free loopback port (released just before the registry binds it). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

const authYaml = (auth: RegistryAuth | undefined): string => {
  if (auth === undefined) return ""
  if (auth.kind === "htpasswd") {
    return `auth:\n  htpasswd:\n    realm: engine-test\n    path: ${auth.path}\n`
  }
  return [
    "auth:",
    "  token:",
    `    realm: ${auth.realm}`,
    `    service: ${auth.service}`,
    `    issuer: ${auth.issuer}`,
    `    rootcertbundle: ${auth.rootCertBundle}`,
    ""
  ].join("\n")
}

const exited = (child: ChildProcess): Promise<void> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve()
    else child.once("exit", () => resolve())
  })

/**
 * Starts `docker-registry serve` on 127.0.0.1 with a fresh port and storage dir (one per test file), and waits
 * until `/v2/` answers. Storage deletion is enabled so tests can remove manifests.
 */
export const startRegistry = async (auth?: RegistryAuth): Promise<RunningRegistry> => {
  const dir = await mkdtemp(join(tmpdir(), "engine-registry-"))
  const port = await freePort()
  const config = [
    "version: 0.1",
    "log:",
    "  level: warn",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${join(dir, "data")}`,
    "  delete:",
    "    enabled: true",
    "http:",
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${randomBytes(16).toString("hex")}`,
    authYaml(auth)
  ].join("\n")
  const configPath = join(dir, "config.yml")
  await writeFile(configPath, config)
  const logPath = join(dir, "registry.log")
  const log = openSync(logPath, "w")
  const child = spawn(REGISTRY_BIN, ["serve", configPath], { stdio: ["ignore", log, log] })
  closeSync(log)
  const pid = child.pid
  if (pid === undefined) throw new Error(`could not start ${REGISTRY_BIN}`)
  const url = `http://127.0.0.1:${port}`
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(pid, "SIGTERM")
      await exited(child)
    }
    await rm(dir, { recursive: true, force: true })
  }
  const deadline = Date.now() + 15_000
  for (;;) {
    if (child.exitCode !== null) {
      const text = await readFile(logPath, "utf8").catch(() => "")
      await stop()
      throw new Error(`docker-registry exited with ${child.exitCode}:\n${text}`)
    }
    const up = await fetch(`${url}/v2/`).then(() => true, () => false)
    if (up) break
    if (Date.now() > deadline) {
      await stop()
      throw new Error("docker-registry did not answer within 15 s")
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  return { host: `127.0.0.1:${port}`, port, url, dir, pid, stop }
}

/** `name:tag` (or `name@digest`) on the running registry, parsed; a reference that does not parse is a test bug. */
export const referenceOn = (registry: RunningRegistry, name: string): Reference => {
  const r = parseReference(`${registry.host}/${name}`)
  if (Either.isLeft(r)) throw r.left
  return r.right
}
