import { NodeContext } from "@effect/platform-node"
import { CommandExecutor } from "@effect/platform"
import { type Backend, Downloader, layerDownloader, makeNpmBackend } from "@engine/backends"
import { Effect, Layer, ManagedRuntime } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { tempDir, testContext, tree, toolsOf } from "./support/Context"
import { miseSemverTree } from "./support/MiseNpmTree"
import { startServer, type TestServer } from "./support/Server"

let server: TestServer
let root: string
let runtime: ManagedRuntime.ManagedRuntime<Downloader | CommandExecutor.CommandExecutor, never>
let n = 0

const packument = {
  name: "@acme/tool",
  "dist-tags": { latest: "2.1.0", next: "3.0.0-beta.2" },
  versions: {
    "1.0.0": {},
    "1.10.0": {},
    "1.2.0": {},
    "2.0.0": {},
    "2.1.0": {},
    "2.2.0": { deprecated: "broken release" },
    "3.0.0-beta.2": {}
  }
}

beforeAll(async () => {
  server = await startServer()
  root = tempDir("npm")
  server.route("/@acme%2ftool", JSON.stringify(packument))
  server.route("/plain", JSON.stringify({ "dist-tags": {}, versions: { "0.1.0": { deprecated: "old" }, "0.2.0": { deprecated: "old" } } }))
  server.route("/garbage", "<html>not json</html>")
  runtime = ManagedRuntime.make(Layer.merge(layerDownloader({ retries: 0 }), NodeContext.layer))
})
afterAll(async () => {
  await runtime.dispose()
  await server.close()
  fs.rmSync(root, { recursive: true, force: true })
})

const backend = (): Promise<Backend> =>
  runtime.runPromise(Effect.zipWith(Downloader, CommandExecutor.CommandExecutor, makeNpmBackend))

const { request, resolved } = toolsOf("npm")

const fake = (env: Record<string, string> = {}) =>
  testContext(root, { settings: { "npm.registry": server.url }, env: { ...process.env, ...env } })

describe("npm backend: registry metadata (loopback registry)", () => {
  it("lists versions ascending without deprecated ones, from the npm.registry setting", async () => {
    const b = await backend()
    expect(await runtime.runPromise(b.listVersions(request("@acme/tool"), fake()))).toEqual(
      ["1.0.0", "1.2.0", "1.10.0", "2.0.0", "2.1.0", "3.0.0-beta.2"]
    )
    expect(server.requests.at(-1)?.headers.accept).toContain("application/vnd.npm.install-v1+json")
  })

  it("keeps deprecated versions when every version is deprecated (as mise does)", async () => {
    const b = await backend()
    expect(await runtime.runPromise(b.listVersions(request("plain"), fake()))).toEqual(["0.1.0", "0.2.0"])
  })

  it("resolves latest by dist-tag, other tags by name, and prefixes to the newest stable match", async () => {
    const b = await backend()
    const resolve = (spec: string) => runtime.runPromise(b.resolveVersion!(request("@acme/tool", spec), fake()))
    expect(await resolve("latest")).toBe("2.1.0")
    expect(await resolve("next")).toBe("3.0.0-beta.2")
    expect(await resolve("1")).toBe("1.10.0")
    expect(await resolve("2")).toBe("2.1.0")
    expect(await resolve("1.2.0")).toBe("1.2.0")
    const e = await runtime.runPromise(Effect.flip(b.resolveVersion!(request("@acme/tool", "4"), fake())))
    expect(e.message).toBe(
      "npm:@acme/tool@4: no version matches (available: 1.0.0, 1.2.0, 1.10.0, 2.0.0, 2.1.0, 3.0.0-beta.2)"
    )
  })

  it("uses npm's own config for the registry (scoped first) when no setting is given", async () => {
    const b = await backend()
    const ctx = testContext(root, { env: { ...process.env, "npm_config_@acme:registry": server.url } })
    expect(await runtime.runPromise(b.resolveVersion!(request("@acme/tool"), ctx))).toBe("2.1.0")
  })

  it("sends the .npmrc auth token of that registry", async () => {
    const npmrc = path.join(root, "auth.npmrc")
    const host = new URL(server.url).host
    fs.writeFileSync(npmrc, `registry=${server.url}\n//${host}/:_authToken=\${ACME_TOKEN}\n`)
    const b = await backend()
    await runtime.runPromise(b.listVersions(request("@acme/tool"), fake({ NPM_CONFIG_USERCONFIG: npmrc, ACME_TOKEN: "s3cret" })))
    expect(server.requests.at(-1)?.headers.authorization).toBe("Bearer s3cret")
  })

  it("says when a package does not exist or the answer is not a packument", async () => {
    const b = await backend()
    const missing = await runtime.runPromise(Effect.flip(b.listVersions(request("nope"), fake())))
    expect(missing.message).toBe(
      `npm:nope@latest: package nope was not found in the registry ${server.url}/ (${server.url}/nope: HTTP 404)`
    )
    const garbage = await runtime.runPromise(Effect.flip(b.listVersions(request("garbage"), fake())))
    expect(garbage.message).toContain(`npm:garbage@latest: the registry's answer for ${server.url}/garbage is not a package document`)
  })
})

describe("npm backend: install with the real npm and registry", () => {
  it("lists and resolves a real package", async () => {
    const b = await backend()
    const ctx = testContext(root)
    const versions = await runtime.runPromise(b.listVersions(request("is-number"), ctx))
    expect(versions).toContain("7.0.0")
    expect(await runtime.runPromise(b.resolveVersion!(request("is-number", "7"), ctx))).toBe("7.0.0")
  })

  it("installs semver@7.6.0 into the same tree mise makes, and its bin runs", async () => {
    const b = await backend()
    const ctx = testContext(root)
    const dir = path.join(root, `install-${n++}`, "7.6.0")
    fs.mkdirSync(dir, { recursive: true })
    const tool = resolved("semver", "7.6.0")
    await runtime.runPromise(b.install(tool, dir, ctx))
    expect(tree(dir)).toEqual(miseSemverTree)
    const bins = await runtime.runPromise(b.binPaths(tool, dir, ctx))
    expect(bins).toEqual([path.join(dir, "bin")])
    expect(execFileSync(path.join(dir, "bin", "semver"), ["1.2.3", "-i", "minor"], { encoding: "utf8" })).toBe("1.3.0\n")
    expect(fs.readdirSync(path.dirname(dir))).toEqual(["7.6.0"])
  })

  it("fails with npm's own words when the install fails", async () => {
    const b = await backend()
    const dir = path.join(root, `install-${n++}`)
    fs.mkdirSync(dir)
    const e = await runtime.runPromise(Effect.flip(b.install(resolved("is-number", "999.0.0"), dir, testContext(root))))
    expect(e.message).toMatch(
      /^npm:is-number@999\.0\.0: npm install failed: `\S*npm install -g is-number@999\.0\.0 --prefix \S+ --ignore-scripts=true` exited with code 1:\n/
    )
    expect(e.message).toContain("No matching version found for is-number@999.0.0")
  })

  it("explains a missing npm", async () => {
    const b = await backend()
    const dir = path.join(root, `install-${n++}`)
    fs.mkdirSync(dir)
    const ctx = testContext(root, { env: { PATH: path.join(root, "empty-bin") } })
    const e = await runtime.runPromise(Effect.flip(b.install(resolved("is-number", "7.0.0"), dir, ctx)))
    expect(e.message).toBe(
      "npm:is-number@7.0.0: npm was not found on PATH. The npm backend installs packages with the real npm: install Node.js " +
        "(it ships npm), e.g. `mise use -g node` or your system's nodejs/npm packages, and make sure `npm` is on PATH."
    )
  })
})
