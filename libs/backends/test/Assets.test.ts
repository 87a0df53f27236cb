import {
  assetPatternMatches,
  checksumAssets,
  checksumFromFile,
  nextPageUrl,
  pickAsset,
  pickUbiAsset,
  rankAssets,
  tagCandidates,
  versionOfTag
} from "@engine/backends"
import { Either } from "effect"
import { describe, expect, it } from "vitest"

const x64 = { os: "linux", arch: "x64", libc: "gnu" } as const
const arm64 = { os: "linux", arch: "arm64", libc: "gnu" } as const

// Asset lists as the projects publish them (names only).
const ripgrep = [
  "ripgrep-14.1.0-aarch64-apple-darwin.tar.gz",
  "ripgrep-14.1.0-aarch64-apple-darwin.tar.gz.sha256",
  "ripgrep-14.1.0-aarch64-unknown-linux-gnu.tar.gz",
  "ripgrep-14.1.0-aarch64-unknown-linux-gnu.tar.gz.sha256",
  "ripgrep-14.1.0-arm-unknown-linux-gnueabihf.tar.gz",
  "ripgrep-14.1.0-armv7-unknown-linux-gnueabihf.tar.gz",
  "ripgrep-14.1.0-armv7-unknown-linux-musleabi.tar.gz",
  "ripgrep-14.1.0-i686-pc-windows-msvc.zip",
  "ripgrep-14.1.0-i686-unknown-linux-gnu.tar.gz",
  "ripgrep-14.1.0-powerpc64-unknown-linux-gnu.tar.gz",
  "ripgrep-14.1.0-s390x-unknown-linux-gnu.tar.gz",
  "ripgrep-14.1.0-x86_64-apple-darwin.tar.gz",
  "ripgrep-14.1.0-x86_64-pc-windows-gnu.zip",
  "ripgrep-14.1.0-x86_64-pc-windows-msvc.zip",
  "ripgrep-14.1.0-x86_64-unknown-linux-musl.tar.gz",
  "ripgrep-14.1.0-x86_64-unknown-linux-musl.tar.gz.sha256",
  "ripgrep_14.1.0-1_amd64.deb"
]
const gh = [
  "gh_2.40.0_checksums.txt",
  "gh_2.40.0_linux_386.deb",
  "gh_2.40.0_linux_386.tar.gz",
  "gh_2.40.0_linux_amd64.deb",
  "gh_2.40.0_linux_amd64.rpm",
  "gh_2.40.0_linux_amd64.tar.gz",
  "gh_2.40.0_linux_arm64.tar.gz",
  "gh_2.40.0_linux_armv6.tar.gz",
  "gh_2.40.0_macOS_amd64.zip",
  "gh_2.40.0_macOS_arm64.zip",
  "gh_2.40.0_macOS_universal.pkg",
  "gh_2.40.0_windows_386.msi",
  "gh_2.40.0_windows_amd64.zip"
]
const jq = [
  "jq-1.7.1.tar.gz",
  "jq-1.7.1.zip",
  "jq-linux-amd64",
  "jq-linux-arm64",
  "jq-linux-i386",
  "jq-linux64",
  "jq-macos-amd64",
  "jq-osx-amd64",
  "jq-win64.exe",
  "jq-windows-amd64.exe",
  "sha256sum.txt"
]
const fzf = [
  "fzf-0.46.0-darwin_amd64.zip",
  "fzf-0.46.0-linux_amd64.tar.gz",
  "fzf-0.46.0-linux_arm64.tar.gz",
  "fzf-0.46.0-linux_armv7.tar.gz",
  "fzf-0.46.0-linux_loong64.tar.gz",
  "fzf-0.46.0-linux_ppc64le.tar.gz",
  "fzf-0.46.0-windows_amd64.zip",
  "fzf_0.46.0_checksums.txt"
]

describe("mise's asset autodetection", () => {
  it("picks the linux build for the image's arch from real release asset lists", () => {
    expect(pickAsset(ripgrep, x64)).toBe("ripgrep-14.1.0-x86_64-unknown-linux-musl.tar.gz")
    expect(pickAsset(ripgrep, arm64)).toBe("ripgrep-14.1.0-aarch64-unknown-linux-gnu.tar.gz")
    expect(pickAsset(gh, x64)).toBe("gh_2.40.0_linux_amd64.tar.gz")
    expect(pickAsset(gh, arm64)).toBe("gh_2.40.0_linux_arm64.tar.gz")
    expect(pickAsset(jq, x64)).toBe("jq-linux-amd64")
    expect(pickAsset(jq, arm64)).toBe("jq-linux-arm64")
    expect(pickAsset(fzf, x64)).toBe("fzf-0.46.0-linux_amd64.tar.gz")
    expect(pickAsset(fzf, { os: "macos", arch: "x64", libc: "gnu" })).toBe("fzf-0.46.0-darwin_amd64.zip")
    expect(pickAsset(jq, { os: "windows", arch: "x64", libc: "gnu" })).toBe("jq-windows-amd64.exe")
  })

  it("prefers gnu over musl on a glibc target (and musl on a musl one)", () => {
    const names = ["t-x86_64-unknown-linux-musl.tar.gz", "t-x86_64-unknown-linux-gnu.tar.gz"]
    expect(pickAsset(names, x64)).toBe("t-x86_64-unknown-linux-gnu.tar.gz")
    expect(pickAsset(names, { ...x64, libc: "musl" })).toBe("t-x86_64-unknown-linux-musl.tar.gz")
  })

  it("prefers an archive to a bare binary, never takes an installer package, and ranks debug builds down", () => {
    expect(pickAsset(["t-linux-amd64", "t-linux-amd64.tar.gz"], x64)).toBe("t-linux-amd64.tar.gz")
    expect(pickAsset(["t_1.0_linux_amd64.deb", "t_1.0_linux_amd64.rpm", "t-linux-amd64.gz"], x64)).toBe("t-linux-amd64.gz")
    expect(pickAsset(["t-linux-amd64-debug.tar.gz", "t-linux-amd64.tar.gz"], x64)).toBe("t-linux-amd64.tar.gz")
    expect(rankAssets(["t-linux-x64.tar.gz", "t-linux-x64.zip", "t-linux.tar.gz"], x64).map((r) => r.score)).toEqual([160, 160, 110])
  })

  it("never takes checksums, signatures, SBOMs, attestations or source tarballs", () => {
    const metadata = [
      "t-linux-amd64.tar.gz.sha256",
      "t-linux-amd64.tar.gz.sig",
      "t-linux-amd64.tar.gz.asc",
      "t-linux-amd64.tar.gz.pem",
      "t-linux-amd64.sbom.json",
      "t-linux-amd64.spdx.json",
      "multiple.intoto.jsonl",
      "SHA256SUMS",
      "checksums.txt",
      "t-src.tar.gz"
    ]
    expect(pickAsset(metadata, x64)).toBeUndefined()
  })

  it("takes nothing built for another OS or arch (mise would run an arm64 binary on x64), nor Android for linux", () => {
    expect(pickAsset(["t-linux-arm64.tar.gz", "t-darwin-amd64.tar.gz", "t-windows-amd64.zip", "t-linux-386.tar.gz"], x64)).toBeUndefined()
    expect(pickAsset(["t-aarch64-linux-android.tar.gz"], arm64)).toBeUndefined()
    expect(pickAsset(["t-x86_64-unknown-freebsd.tar.gz"], x64)).toBeUndefined()
  })
})

describe("ubi's picker", () => {
  it("filters by OS then arch, keeps musl when it is all there is, skips packages", () => {
    expect(pickUbiAsset(ripgrep, x64)).toEqual(Either.right("ripgrep-14.1.0-x86_64-unknown-linux-musl.tar.gz"))
    expect(pickUbiAsset(gh, x64)).toEqual(Either.right("gh_2.40.0_linux_amd64.tar.gz"))
    expect(pickUbiAsset(jq, x64)).toEqual(Either.right("jq-linux-amd64"))
  })

  it("on x64 takes an asset naming no arch when none names x64; not on arm64", () => {
    expect(pickUbiAsset(["t-linux", "t-linux-arm64"], x64)).toEqual(Either.right("t-linux"))
    expect(pickUbiAsset(["t-linux", "t-linux-armv7"], arm64)).toEqual(Either.left("no linux asset names the architecture arm64"))
  })

  it("matching breaks ties, matching_regex filters first, and a bad regex is named", () => {
    const names = ["t-linux-amd64.tar.gz", "t-linux-amd64-static.tar.gz"]
    expect(pickUbiAsset(names, x64)).toEqual(Either.right("t-linux-amd64.tar.gz"))
    expect(pickUbiAsset(names, x64, { matching: "static" })).toEqual(Either.right("t-linux-amd64-static.tar.gz"))
    expect(pickUbiAsset(names, x64, { matchingRegex: "-static\\." })).toEqual(Either.right("t-linux-amd64-static.tar.gz"))
    expect(pickUbiAsset(names, x64, { matchingRegex: "-musl" })).toEqual(Either.left(`no asset matches matching_regex "-musl"`))
    expect(Either.isLeft(pickUbiAsset(names, x64, { matchingRegex: "(" }))).toBe(true)
  })
})

describe("asset_pattern", () => {
  it("is a whole-name glob", () => {
    expect(assetPatternMatches("gh_*_linux_amd64.tar.gz", "gh_2.40.0_linux_amd64.tar.gz")).toBe(true)
    expect(assetPatternMatches("gh_*_linux_amd64.tar.gz", "gh_2.40.0_linux_amd64.tar.gz.sha256")).toBe(false)
    expect(assetPatternMatches("t-?.zip", "t-1.zip")).toBe(true)
    expect(assetPatternMatches("t-1.0.zip", "t-1x0.zip")).toBe(false)
  })
})

describe("published checksums", () => {
  it("looks in <asset>.sha256 first, then in checksum lists", () => {
    const names = ["t.tar.gz", "t.tar.gz.sha256", "SHA256SUMS", "SHA256SUMS.asc", "t_1.0_checksums.txt", "sha256sum.txt", "notes.txt"]
    expect(checksumAssets("t.tar.gz", names)).toEqual(["t.tar.gz.sha256", "SHA256SUMS", "t_1.0_checksums.txt", "sha256sum.txt"])
  })

  it("reads GNU (text and binary mode, ./ paths), BSD, and lone-digest files", () => {
    const a = "a".repeat(64)
    const b = "b".repeat(64)
    expect(checksumFromFile(`${a}  other.tar.gz\n${b} *t.tar.gz\n`, "t.tar.gz", false)).toEqual({ algorithm: "sha256", hex: b })
    expect(checksumFromFile(`${b}  ./dist/t.tar.gz\n`, "t.tar.gz", false)).toEqual({ algorithm: "sha256", hex: b })
    expect(checksumFromFile(`SHA256 (t.tar.gz) = ${a}\n`, "t.tar.gz", false)).toEqual({ algorithm: "sha256", hex: a })
    expect(checksumFromFile(`${"C".repeat(128)}\n`, "t.tar.gz", true)).toEqual({ algorithm: "sha512", hex: "c".repeat(128) })
    expect(checksumFromFile(`${a}\n`, "t.tar.gz", false)).toBeUndefined()
    expect(checksumFromFile(`${a}  other.tar.gz\n`, "t.tar.gz", false)).toBeUndefined()
  })
})

describe("release API plumbing", () => {
  it("follows Link rel=\"next\" wherever it sits, else GitLab's x-next-page", () => {
    const current = "https://api.github.com/repos/o/r/releases?per_page=100&page=2"
    const link = `<https://api.github.com/repos/o/r/releases?per_page=100&page=1>; rel="prev", ` +
      `<https://api.github.com/repos/o/r/releases?per_page=100&page=3>; rel="next", ` +
      `<https://api.github.com/repos/o/r/releases?per_page=100&page=5>; rel="last"`
    expect(nextPageUrl({ link }, current)).toBe("https://api.github.com/repos/o/r/releases?per_page=100&page=3")
    expect(nextPageUrl({ link: `<https://api.github.com/x?page=1>; rel="first"` }, current)).toBeUndefined()
    expect(nextPageUrl({ link: `<https://api.github.com/x?page=9>; rel="nextish"` }, current)).toBeUndefined()
    expect(nextPageUrl({ link: `</x?page=3>; rel=next` }, current)).toBe("https://api.github.com/x?page=3")
    expect(nextPageUrl({ "x-next-page": "3" }, "https://gitlab.com/api/v4/projects/1/releases?per_page=100&page=2")).toBe(
      "https://gitlab.com/api/v4/projects/1/releases?per_page=100&page=3"
    )
    expect(nextPageUrl({ "x-next-page": "" }, current)).toBeUndefined()
  })

  it("turns tags into versions as mise does", () => {
    expect(versionOfTag("v1.2.3", undefined)).toBe("1.2.3")
    expect(versionOfTag("1.2.3", undefined)).toBe("1.2.3")
    expect(versionOfTag("vim-9.1", undefined)).toBe("vim-9.1")
    expect(versionOfTag("cli-v1.0.0", "cli-v")).toBe("1.0.0")
    expect(versionOfTag("lib-v2.0.0", "cli-v")).toBeUndefined()
    expect(tagCandidates("1.0.0", undefined)).toEqual(["v1.0.0", "1.0.0"])
    expect(tagCandidates("1.0.0", "cli-v")).toEqual(["cli-v1.0.0"])
  })
})
