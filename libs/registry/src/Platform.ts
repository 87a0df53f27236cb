import type { Platform } from "@engine/layout"

const ARCHITECTURES: Readonly<Record<string, string>> = {
  x86_64: "amd64",
  "x86-64": "amd64",
  aarch64: "arm64",
  armhf: "arm",
  armel: "arm",
  i386: "386",
  i686: "386"
}

/** containerd's normalization: `x86_64` → `amd64`, `aarch64` → `arm64`, `armhf`/`armel` → `arm`. */
export const normalizeArchitecture = (architecture: string): string =>
  ARCHITECTURES[architecture.toLowerCase()] ?? architecture.toLowerCase()

/** The variant a platform implies when it names none: arm64 is v8, 32-bit arm v7; amd64's v1 is no variant. */
export const normalizeVariant = (architecture: string, variant: string | undefined): string | undefined => {
  const arch = architecture.toLowerCase()
  if (arch === "armhf") return "v7"
  if (arch === "armel") return "v6"
  const v = variant === undefined || variant === "" ? undefined : /^[0-9]/.test(variant) ? `v${variant}` : variant.toLowerCase()
  switch (normalizeArchitecture(arch)) {
    case "arm64":
      return v === undefined || v === "v8.0" ? "v8" : v
    case "arm":
      return v ?? "v7"
    case "amd64":
      return v === "v1" ? undefined : v
    default:
      return v
  }
}

/** The key an image index is upserted and sorted by: (os, architecture, variant, os.version), normalized. */
export const platformIdentity = (p: Platform): readonly [string, string, string, string] => [
  p.os.toLowerCase(),
  normalizeArchitecture(p.architecture),
  normalizeVariant(p.architecture, p.variant) ?? "",
  p["os.version"] ?? ""
]

export const samePlatform = (a: Platform, b: Platform): boolean => {
  const x = platformIdentity(a)
  const y = platformIdentity(b)
  return x.every((v, i) => v === y[i])
}

/** Whether an index entry can serve `wanted`; a wanted platform without a variant accepts any variant. */
export const platformMatches = (candidate: Platform, wanted: Platform): boolean =>
  candidate.os.toLowerCase() === wanted.os.toLowerCase() &&
  normalizeArchitecture(candidate.architecture) === normalizeArchitecture(wanted.architecture) &&
  (wanted.variant === undefined || wanted.variant === "" ||
    normalizeVariant(candidate.architecture, candidate.variant) === normalizeVariant(wanted.architecture, wanted.variant))

/** `linux/arm64/v8`. */
export const formatPlatform = (p: Platform): string =>
  `${p.os}/${p.architecture}${p.variant !== undefined && p.variant !== "" ? `/${p.variant}` : ""}`
