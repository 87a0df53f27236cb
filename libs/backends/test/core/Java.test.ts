import { execFileSync } from "node:child_process"
import * as path from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { type Member, tarGz } from "../support/Fixtures"
import { sha256Hex, useHarness } from "./Harness"

const h = useHarness("java")

// A Temurin JDK tarball's layout (one `jdk-<version>/` directory); bin/java prints what `java -version` prints.
const jdkTree = (openjdk: string, build: string): ReadonlyArray<Member> => [
  { name: `jdk-${openjdk}+${build}/`, type: "directory" },
  { name: `jdk-${openjdk}+${build}/release`, content: `JAVA_VERSION="${openjdk}"\nIMPLEMENTOR="Eclipse Adoptium"\n` },
  { name: `jdk-${openjdk}+${build}/bin/`, type: "directory" },
  { name: `jdk-${openjdk}+${build}/bin/java`, content: `#!/bin/sh\necho 'openjdk version "${openjdk}" LTS' >&2\n`, mode: 0o755 },
  { name: `jdk-${openjdk}+${build}/lib/modules`, content: "modules\n" }
]

interface Release {
  readonly semver: string
  readonly link: string
  readonly checksum: string
  readonly imageType?: string
}

const release = (r: Release) => ({
  release_name: `jdk-${r.semver.replace(/\.0\.LTS$|\.LTS$/, "")}`,
  release_type: "ga",
  vendor: "eclipse",
  version_data: { semver: r.semver, openjdk_version: r.semver.replace(/\.0\.LTS$/, "-LTS"), major: Number(r.semver.split(".")[0]) },
  binaries: [{
    os: "linux",
    architecture: "x64",
    image_type: r.imageType ?? "jdk",
    jvm_impl: "hotspot",
    heap_size: "normal",
    project: "jdk",
    package: { name: path.posix.basename(r.link), link: r.link, checksum: r.checksum, size: 1 }
  }]
})

/** `/v3/assets/feature_releases/<major>/ga` as the API pages it: 20 at most, 404 past the last page. */
const paged = (releases: ReadonlyArray<ReturnType<typeof release>>) => (req: { url?: string }, res: { writeHead: (s: number) => { end: (b: string) => void } }) => {
  const query = new URL(req.url ?? "/", "http://x").searchParams
  const size = Math.min(20, Number(query.get("page_size") ?? "10"))
  const page = Number(query.get("page") ?? "0")
  const slice = releases.slice(page * size, (page + 1) * size)
  if (slice.length === 0) res.writeHead(404).end("Page not available")
  else res.writeHead(200).end(JSON.stringify(slice))
}

let api = ""

beforeAll(async () => {
  const server = h.server()
  const jdk21 = await tarGz(jdkTree("21.0.4", "7"))
  const jdk23 = await tarGz(jdkTree("23.0.1", "11"))
  const bin = `${server.url}/temurin`
  server.route("/adoptium/v3/info/available_releases", JSON.stringify({
    available_lts_releases: [8, 11, 17, 21],
    available_releases: [8, 11, 17, 21, 22, 23],
    most_recent_feature_release: 23,
    most_recent_feature_version: 24,
    most_recent_lts: 21,
    tip_version: 24
  }))
  const jdk21Name = "OpenJDK21U-jdk_x64_linux_hotspot_21.0.4_7.tar.gz"
  // 21 has more releases than one page holds; the oldest ones are fixtures without archives.
  const old21 = Array.from({ length: 19 }, (_, i) => release({ semver: `21.0.0+${19 - i}.0.LTS`, link: `${bin}/missing.tar.gz`, checksum: "e".repeat(64) }))
  server.route("/adoptium/v3/assets/feature_releases/21/ga", paged([
    release({ semver: "21.0.4+7.0.LTS", link: `${bin}/${jdk21Name}`, checksum: sha256Hex(jdk21) }),
    release({ semver: "21.0.3+9.0.LTS", link: `${bin}/${jdk21Name}`, checksum: "0".repeat(64) }),
    release({ semver: "21.0.2+13.0.LTS", link: `${bin}/OpenJDK21U-jdk_x64_linux_hotspot_21.0.2_13.tar.gz`, checksum: "d".repeat(64) }),
    release({ semver: "21.0.1+12.0.LTS", link: `${bin}/jre.tar.gz`, checksum: "c".repeat(64), imageType: "jre" }),
    ...old21
  ]))
  // An API mirror may hand out links relative to itself.
  server.route("/adoptium/v3/assets/feature_releases/23/ga", paged([
    release({ semver: "23.0.1+11", link: "binaries/OpenJDK23U-jdk_x64_linux_hotspot_23.0.1_11.tar.gz", checksum: sha256Hex(jdk23) })
  ]))
  server.route("/adoptium/v3/assets/feature_releases/17/ga", paged([
    release({ semver: "17.0.12+7", link: `${bin}/missing17.tar.gz`, checksum: "f".repeat(64) })
  ]))
  for (const major of [8, 11, 22]) server.route(`/adoptium/v3/assets/feature_releases/${major}/ga`, paged([]))
  server.route(`/temurin/${jdk21Name}`, jdk21)
  server.route("/adoptium/binaries/OpenJDK23U-jdk_x64_linux_hotspot_23.0.1_11.tar.gz", jdk23)
  api = `${server.url}/adoptium`
})

const settings = (more: Record<string, unknown> = {}) => ({ "java.adoptium_api_url": api, ...more })

describe("core java: versions from the Adoptium API", () => {
  it("resolves temurin-<prefix> and mise's bare shorthand (as with java.shorthand_vendor = temurin)", async () => {
    const ctx = h.ctx(settings())
    expect(await h.resolve("java", "temurin-21", ctx)).toBe("temurin-21.0.4+7.0.LTS")
    expect(await h.resolve("java", "21", ctx)).toBe("21.0.4+7.0.LTS")
    expect(await h.resolve("java", "temurin-21.0.2", ctx)).toBe("temurin-21.0.2+13.0.LTS")
    expect(await h.resolve("java", "21.0.3+9.0.LTS", ctx)).toBe("21.0.3+9.0.LTS")
    expect(await h.resolve("java", "lts", ctx)).toBe("21.0.4+7.0.LTS")
    expect(await h.resolve("java", "latest", ctx)).toBe("23.0.1+11")
    expect(await h.resolve("java", "temurin-17", h.ctx(settings({ "java.shorthand_vendor": "temurin" })))).toBe("temurin-17.0.12+7")
  })

  it("reads every page: the oldest 21 release is on the second one", async () => {
    const ctx = h.ctx(settings())
    expect(await h.resolve("java", "21.0.0+1.0.LTS", ctx)).toBe("21.0.0+1.0.LTS")
    expect(h.server().requests.filter((r) => r.path === "/adoptium/v3/assets/feature_releases/21/ga").length).toBeGreaterThanOrEqual(2)
  })

  it("lists every release of every feature version, bare and temurin-", async () => {
    const versions = await h.versions("java", h.ctx(settings()))
    expect(versions).toHaveLength(2 * (4 + 19 + 1 + 1))
    expect(versions).toContain("temurin-23.0.1+11")
    expect(versions).toContain("17.0.12+7")
  })
})

describe("core java: install", () => {
  it("installs the JDK from the API's link, verified with its checksum; JAVA_HOME is the install dir", async () => {
    const out = await h.install("java", "temurin-21.0.4+7.0.LTS", h.ctx(settings()))
    expect(out.tree).toEqual(["d bin", "f bin/java 755", "d lib", "f lib/modules 644", "f release 644"])
    expect(execFileSync("sh", ["-c", `"${path.join(out.dir, "bin", "java")}" -version 2>&1`], { encoding: "utf8" })).toBe(
      "openjdk version \"21.0.4\" LTS\n"
    )
    expect(out.bins).toEqual(["bin"])
    expect(out.env).toEqual([["JAVA_HOME", "<install>"]])
  })

  it("a link relative to the API (a mirror of it) is fetched from there", async () => {
    const out = await h.install("java", "23.0.1+11", h.ctx(settings()))
    expect(out.tree).toContain("f bin/java 755")
    expect(h.server().hits("/adoptium/binaries/OpenJDK23U-jdk_x64_linux_hotspot_23.0.1_11.tar.gz")).toBe(1)
  })
})

describe("core java: errors a user can act on", () => {
  it("another vendor, or a shorthand vendor other than temurin", async () => {
    expect((await h.resolveError("java", "zulu-21", h.ctx(settings()))).message).toBe(
      `java@zulu-21: engine installs Java from Eclipse Temurin (Adoptium) only, not zulu; write "temurin-21"`
    )
    expect((await h.resolveError("java", "21", h.ctx(settings(), { MISE_JAVA_SHORTHAND_VENDOR: "openjdk" }))).message).toBe(
      `java@21: java.shorthand_vendor is "openjdk", but engine installs Java from Eclipse Temurin (Adoptium) only; ` +
        `write "temurin-21" or set java.shorthand_vendor = "temurin"`
    )
  })

  it("a feature version with no JDK for this platform (the API answers 404 on its first page)", async () => {
    expect((await h.resolveError("java", "temurin-22", h.ctx(settings()))).message).toBe(
      "java@temurin-22: Temurin publishes no GA JDK of Java 22 for linux-x64"
    )
  })

  it("a feature version Temurin does not ship", async () => {
    expect((await h.resolveError("java", "temurin-99", h.ctx(settings()))).message).toBe(
      "java@temurin-99: Temurin has no Java 99 (available: 8, 11, 17, 21, 22, 23)"
    )
  })

  it("a checksum mismatch, a missing archive", async () => {
    expect((await h.installError("java", "temurin-21.0.3+9.0.LTS", h.ctx(settings()))).message).toMatch(
      /^java@temurin-21\.0\.3\+9\.0\.LTS: checksum mismatch for .*\/temurin\/OpenJDK21U-jdk_x64_linux_hotspot_21\.0\.4_7\.tar\.gz: expected sha256:0{64}, got sha256:[0-9a-f]{64}$/
    )
    expect((await h.installError("java", "21.0.2+13.0.LTS", h.ctx(settings()))).message).toBe(
      `java@21.0.2+13.0.LTS: download of ${h.server().url}/temurin/OpenJDK21U-jdk_x64_linux_hotspot_21.0.2_13.tar.gz failed: HTTP 404 Not Found ` +
        "(the API is set by java.adoptium_api_url (MISE_JAVA_ADOPTIUM_API_URL))"
    )
  })

  it("no JDK for this platform", async () => {
    expect((await h.installError("java", "21.0.1+12.0.LTS", h.ctx(settings()))).message).toBe(
      "java@21.0.1+12.0.LTS: Temurin jdk-21.0.1+12 has no JDK archive for linux-x64"
    )
    expect((await h.installError("java", "21.0.4+7.0.LTS", h.ctx(settings(), {}, { os: "linux", arch: "arm64" }))).message).toBe(
      "java@21.0.4+7.0.LTS: Temurin jdk-21.0.4+7 has no JDK archive for linux-aarch64"
    )
  })

  it("an API that is not there", async () => {
    expect((await h.resolveError("java", "21", h.ctx({ "java.adoptium_api_url": `${h.server().url}/nowhere` }))).message).toBe(
      `java@21: request to ${h.server().url}/nowhere/v3/info/available_releases failed: HTTP 404 Not Found ` +
        "(the API is set by java.adoptium_api_url (MISE_JAVA_ADOPTIUM_API_URL))"
    )
  })
})
