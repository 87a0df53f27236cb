const OS_TOKENS = [
  "linux",
  "manylinux",
  "musllinux",
  "darwin",
  "macos",
  "osx",
  "windows",
  "win",
  "freebsd",
  "openbsd",
  "netbsd",
  "android",
  "unknown"
]
const ARCH_TOKENS = [
  "x86_64",
  "aarch64",
  "ppc64le",
  "ppc64",
  "armv7",
  "armv6",
  "arm64",
  "amd64",
  "mipsel",
  "riscv64",
  "s390x",
  "i686",
  "i386",
  "x64",
  "mips",
  "arm",
  "x86"
]
const NAME_OS_TOKENS = [
  "ubuntu",
  "debian",
  "fedora",
  "centos",
  "rhel",
  "alpine",
  "arch",
  "mac",
  "macosx",
  "win32",
  "win64",
  "mingw",
  "mingw32",
  "mingw64",
  "w64"
]
const QUALIFIER_TOKENS = ["gnu", "glibc", "musl", "msvc", "pc", "apple"]
const EXECUTABLE_EXTENSIONS = ["exe", "bat", "cmd", "sh", "ps1", "app", "AppImage", "run", "bin"]
const VERSION_SUFFIX = /[-_]v?\d+(\.\d+)*(-[a-zA-Z0-9]+(\.\d+)?)?$/

const isOsToken = (t: string) =>
  t.startsWith("manylinux") || t.startsWith("musllinux") || OS_TOKENS.includes(t) || NAME_OS_TOKENS.includes(t)
const isArchToken = (t: string) => ARCH_TOKENS.includes(t) || t === "64"
const isPlatformOrVersionToken = (t: string) =>
  t === "" || isOsToken(t) || isArchToken(t) || QUALIFIER_TOKENS.includes(t) || /^v?\d/.test(t)

/**
 * The name mise gives a downloaded single binary (`clean_binary_name`): platform and version suffixes go,
 * executable extensions stay. `docker-compose-linux-x86_64` → `docker-compose`, `app-2.0.0-linux-x64` → `app`
 * (with tool `app`), `tool-darwin-arm64.exe` → `tool.exe`.
 */
export const cleanBinaryName = (name: string, toolName?: string): string => {
  const dot = name.lastIndexOf(".")
  const hasExt = dot >= 0 && EXECUTABLE_EXTENSIONS.includes(name.slice(dot + 1))
  const stem = hasExt ? name.slice(0, dot) : name
  const withExt = (s: string) => (hasExt ? s + name.slice(dot) : s)
  const done = (s: string) => withExt(cleanVersionSuffix(s, toolName))

  const stripped = stripPlatformTokenSuffix(stem)
  if (stripped !== undefined) return done(stripped)

  for (const os of OS_TOKENS) {
    if (!stem.includes(os)) continue
    for (const arch of ARCH_TOKENS) {
      if (!stem.includes(arch)) continue
      for (const p of [`-${os}-${arch}`, `-${os}_${arch}`, `_${os}-${arch}`, `_${os}_${arch}`, `-${arch}-${os}`, `_${arch}_${os}`]) {
        const pos = stem.lastIndexOf(p)
        if (pos >= 0) return done(stem.slice(0, pos))
      }
    }
  }
  // mise tries every OS suffix before any arch suffix; the order of this list keeps that.
  for (const token of [...OS_TOKENS, ...ARCH_TOKENS]) {
    for (const p of [`-${token}`, `_${token}`]) {
      const pos = stem.lastIndexOf(p)
      if (pos < 0) continue
      const after = stem.slice(pos + p.length)
      const before = stem.slice(0, pos)
      if ((after === "" || after.startsWith("-") || after.startsWith("_")) && before !== "") return done(before)
    }
  }
  return done(stem)
}

/** Drop a trailing run of platform/version tokens (`-linux-x64`, `_v1.2_darwin_arm64`) holding an OS and an arch. */
const stripPlatformTokenSuffix = (name: string): string | undefined => {
  const separators: Array<number> = []
  for (let i = 0; i < name.length; i++) if (name[i] === "-" || name[i] === "_") separators.push(i)
  for (const idx of separators.reverse()) {
    if (separatorInsidePlatformToken(name, idx)) continue
    const parts = name.slice(idx + 1).split(/[-_]/).filter((t) => t !== "")
    if (parts.length < 2) continue
    if (!parts.every(isPlatformOrVersionToken)) continue
    if (!parts.some(isOsToken) || !parts.some(isArchToken)) continue
    const prefix = name.slice(0, idx)
    if (prefix !== "") return prefix
  }
  return undefined
}

// `x86_64`, `musllinux_1_2`: an underscore inside one platform token is not a separator.
const separatorInsidePlatformToken = (name: string, idx: number): boolean => {
  if (name[idx] !== "_") return false
  const head = name.slice(0, idx)
  const start = Math.max(head.lastIndexOf("-"), head.lastIndexOf("_")) + 1
  const rest = name.slice(idx + 1).search(/[-_]/)
  const end = rest < 0 ? name.length : idx + 1 + rest
  return isPlatformOrVersionToken(name.slice(start, end))
}

const cleanVersionSuffix = (name: string, toolName?: string): string => {
  const m = VERSION_SUFFIX.exec(name)
  if (m === null) return name
  const without = name.slice(0, m.index)
  if (toolName !== undefined) {
    return without === toolName || toolName.includes(without) || without.includes(toolName) ? without : name
  }
  return without !== "" && !without.endsWith("-") && !without.endsWith("_") ? without : name
}
