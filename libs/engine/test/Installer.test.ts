import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import type { Backend, BackendContext, ResolvedTool } from "@engine/backends"
import { BackendError } from "@engine/backends"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { incompleteMarker, installLock, installTool, isInstalled } from "../src/Installer"

let dir: string
beforeEach(() => {
  dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "engine-installer-")))
})
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }))

const tool: ResolvedTool = { short: "http:hello", backend: "http", name: "hello", version: "1.0.0", options: {}, resolved: "1.0.0", versionDir: "1.0.0" }

const ctx = (logs: Array<string>): BackendContext => ({
  settings: {},
  env: {},
  dataDir: dir,
  downloadDir: path.join(dir, "downloads"),
  platform: { os: "linux", arch: "x64" },
  log: (m) => void logs.push(m),
  warn: (m) => void logs.push(m)
})

/** A backend whose install takes a while and counts how often it ran. */
const slowBackend = (installs: { n: number }, fail = false): Backend => ({
  id: "http",
  specForm: "http:<name>",
  options: [],
  description: "test",
  listVersions: () => Effect.succeed(["1.0.0"]),
  install: (_tool, installDir) =>
    Effect.gen(function*() {
      installs.n++
      yield* Effect.sleep("150 millis")
      if (fail) return yield* new BackendError({ tool: "http:hello", message: "http:hello@1.0.0: download failed" })
      fs.mkdirSync(path.join(installDir, "bin"), { recursive: true })
      fs.writeFileSync(path.join(installDir, "bin", "hello"), "#!/bin/sh\n")
    }),
  binPaths: (_tool, installDir) => Effect.succeed([path.join(installDir, "bin")]),
  execEnv: () => Effect.succeed([])
})

describe("installTool", () => {
  it("two installs of one version at once install it once: the second waits for the lock, then finds it installed", async () => {
    const installs = { n: 0 }
    const logs: Array<string> = []
    const target = path.join(dir, "installs", "http-hello", "1.0.0")
    const one = installTool(slowBackend(installs), tool, target, ctx(logs))
    await Effect.runPromise(Effect.all([one, one], { concurrency: 2 }).pipe(Effect.provide(NodeFileSystem.layer)))
    expect(installs.n).toBe(1)
    expect(logs).toContain("http:hello@1.0.0: waiting for another engine process that is installing it")
    expect(await Effect.runPromise(isInstalled(target).pipe(Effect.provide(NodeFileSystem.layer)))).toBe(true)
    expect(fs.existsSync(installLock(target))).toBe(false)
  })

  it("a failed install leaves its marker (so the next run starts clean) but not its lock", async () => {
    const target = path.join(dir, "installs", "http-hello", "1.0.0")
    const error = await Effect.runPromise(
      Effect.flip(installTool(slowBackend({ n: 0 }, true), tool, target, ctx([]))).pipe(Effect.provide(NodeFileSystem.layer))
    )
    expect(error.message).toContain("download failed")
    expect(fs.existsSync(incompleteMarker(target))).toBe(true)
    expect(fs.existsSync(installLock(target))).toBe(false)
  })

  it("takes over a lock whose holder is dead", async () => {
    const target = path.join(dir, "installs", "http-hello", "1.0.0")
    fs.mkdirSync(path.dirname(target), { recursive: true })
    // A pid far above any pid_max is never alive.
    fs.writeFileSync(installLock(target), "999999999")
    const installs = { n: 0 }
    await Effect.runPromise(installTool(slowBackend(installs), tool, target, ctx([])).pipe(Effect.provide(NodeFileSystem.layer)))
    expect(installs.n).toBe(1)
  })
})
