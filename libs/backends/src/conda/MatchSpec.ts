/**
 * conda's version order and match specs, as `depends` entries in repodata use them: `name`, `name >=1.2,<2`,
 * `name 1.2.*`, `name 1.2 build_string`, `name >=1|<0.5`.
 */

/** One version component: `1.1dev2` splits into [1], [1, "dev", 2]; strings compare lowercased. */
type Part = number | string
type Component = ReadonlyArray<Part>

export interface Version {
  readonly source: string
  readonly epoch: number
  readonly main: ReadonlyArray<Component>
  readonly local: ReadonlyArray<Component>
}

const components = (text: string): ReadonlyArray<Component> =>
  text.split(/[._]/).map((segment) => {
    const parts: Array<Part> = (segment.match(/\d+|[^\d]+/g) ?? []).map((p) => (/^\d+$/.test(p) ? Number(p) : p.toLowerCase()))
    // A component that starts with letters sorts as if a 0 came first (`1.a` is `1.0a`).
    return typeof parts[0] === "string" ? [0, ...parts] : parts
  })

export const parseVersion = (text: string): Version => {
  const trimmed = text.trim()
  const bang = trimmed.indexOf("!")
  const epoch = bang > 0 && /^\d+$/.test(trimmed.slice(0, bang)) ? Number(trimmed.slice(0, bang)) : 0
  const rest = bang > 0 ? trimmed.slice(bang + 1) : trimmed
  const plus = rest.indexOf("+")
  const main = plus >= 0 ? rest.slice(0, plus) : rest
  const local = plus >= 0 ? rest.slice(plus + 1) : ""
  return { source: text, epoch, main: components(main.replace(/-/g, "_")), local: local === "" ? [] : components(local) }
}

/** conda's rules: `dev` is below everything, `post` above every other string; strings sort below numbers. */
const comparePart = (a: Part, b: Part): number => {
  if (typeof a === "number" && typeof b === "number") return a - b
  if (a === b) return 0
  if (a === "dev") return -1
  if (b === "dev") return 1
  if (a === "post") return 1
  if (b === "post") return -1
  if (typeof a === "number") return 1
  if (typeof b === "number") return -1
  // `*` (from a `1.2.*` spec) is never compared here: prefix matching strips it first.
  return a < b ? -1 : 1
}

const compareComponent = (a: Component, b: Component): number => {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const c = comparePart(a[i] ?? 0, b[i] ?? 0)
    if (c !== 0) return c
  }
  return 0
}

const compareComponents = (a: ReadonlyArray<Component>, b: ReadonlyArray<Component>): number => {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const c = compareComponent(a[i] ?? [0], b[i] ?? [0])
    if (c !== 0) return c
  }
  return 0
}

/** conda's VersionOrder: epoch, then the version, then the local version (`1.1 == 1.1.0`, `1.0a1 < 1.0 < 1.0post1`). */
export const compareCondaVersions = (a: Version, b: Version): number =>
  a.epoch - b.epoch || compareComponents(a.main, b.main) || compareComponents(a.local, b.local)

/** `1.2.*` matches `1.2`, `1.2.0`, `1.2.7`, not `1.20`: the first components agree. */
const startsWith = (version: Version, prefix: Version): boolean =>
  version.epoch === prefix.epoch && prefix.main.every((c, i) => compareComponent(version.main[i] ?? [0], c) === 0)

type CompareOp = "==" | "!=" | ">=" | "<=" | ">" | "<"

export type VersionSpec =
  | { readonly kind: "any" }
  | { readonly kind: "or"; readonly specs: ReadonlyArray<VersionSpec> }
  | { readonly kind: "and"; readonly specs: ReadonlyArray<VersionSpec> }
  | { readonly kind: "compare"; readonly op: CompareOp; readonly version: Version }
  | { readonly kind: "prefix"; readonly negate: boolean; readonly version: Version }

export class MatchSpecError extends Error {}

const constraint = (text: string): VersionSpec => {
  const m = /^(==|!=|>=|<=|~=|>|<|=)?\s*(.+)$/.exec(text.trim())
  if (m === null || m[2] === undefined) throw new MatchSpecError(`invalid version constraint "${text}"`)
  // The pattern admits only these operators.
  const op = m[1] as CompareOp | "~=" | "=" | undefined
  const raw = m[2].trim()
  if (raw === "*" && (op === undefined || op === "=" || op === "==")) return { kind: "any" }
  const glob = /\.?\*$/.test(raw)
  const bare = raw.replace(/\.?\*$/, "")
  if (bare === "" || /[\s*]/.test(bare)) throw new MatchSpecError(`invalid version constraint "${text}"`)
  const version = parseVersion(bare)
  if (op === "~=") {
    // `~=1.2.3` is `>=1.2.3,1.2.*`.
    const prefix = parseVersion(bare.split(".").slice(0, -1).join(".") || bare)
    return { kind: "and", specs: [{ kind: "compare", op: ">=", version }, { kind: "prefix", negate: false, version: prefix }] }
  }
  if (glob || op === "=") {
    if (op === undefined || op === "=" || op === "==") return { kind: "prefix", negate: false, version }
    if (op === "!=") return { kind: "prefix", negate: true, version }
    // `>=1.2.*` means `>=1.2`.
    return { kind: "compare", op, version }
  }
  return { kind: "compare", op: op ?? "==", version }
}

/** A version spec: `|` (or) binds looser than `,` (and); parentheses are not used in repodata and are refused. */
export const parseVersionSpec = (text: string): VersionSpec => {
  if (/[()]/.test(text)) throw new MatchSpecError(`version spec "${text}" uses parentheses, which are not supported`)
  const alternatives = text.split("|").map((alt) => {
    const all = alt.split(",").map(constraint)
    return all.length === 1 ? all[0]! : { kind: "and" as const, specs: all }
  })
  return alternatives.length === 1 ? alternatives[0]! : { kind: "or", specs: alternatives }
}

export const versionMatches = (spec: VersionSpec, version: Version): boolean => {
  switch (spec.kind) {
    case "any":
      return true
    case "or":
      return spec.specs.some((s) => versionMatches(s, version))
    case "and":
      return spec.specs.every((s) => versionMatches(s, version))
    case "prefix":
      return startsWith(version, spec.version) !== spec.negate
    case "compare": {
      const c = compareCondaVersions(version, spec.version)
      switch (spec.op) {
        case "==":
          return c === 0
        case "!=":
          return c !== 0
        case ">=":
          return c >= 0
        case "<=":
          return c <= 0
        case ">":
          return c > 0
        case "<":
          return c < 0
      }
    }
  }
}

export interface MatchSpec {
  /** As written, for messages. */
  readonly source: string
  /** Lowercase, as conda normalizes package names. */
  readonly name: string
  readonly version: VersionSpec
  /** A glob over the build string (`*_cpython`, `py_0`), when given. */
  readonly build?: RegExp
}

const globRegExp = (glob: string) => new RegExp(`^${glob.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`)

/**
 * A match spec as repodata's `depends` write it: `name [version [build]]`, or the compact `name>=1.2` and
 * `name==1.2=build` forms; a `channel::` prefix is dropped (one channel is used).
 */
export const parseMatchSpec = (text: string): MatchSpec => {
  const trimmed = text.trim().replace(/^[^\s:]+::/, "")
  if (/\[/.test(trimmed)) throw new MatchSpecError(`match spec "${text}" uses [key=value] brackets, which are not supported`)
  const m = /^([A-Za-z0-9_.\-]+)\s*(.*)$/.exec(trimmed)
  if (m === null || m[1] === undefined) throw new MatchSpecError(`invalid match spec "${text}"`)
  const name = m[1].toLowerCase()
  const rest = (m[2] ?? "").trim()
  if (rest === "") return { source: text, name, version: { kind: "any" } }
  // `name 1.2 build`: space separated; the version part itself has no spaces once operators are glued to it.
  const glued = rest.replace(/(==|!=|>=|<=|~=|>|<|=)\s+/g, "$1").replace(/\s*([,|])\s*/g, "$1")
  const fields = glued.split(/\s+/)
  if (fields.length > 2) throw new MatchSpecError(`invalid match spec "${text}"`)
  let versionText = fields[0]!
  let buildText = fields[1]
  // The compact `=1.2=build` / `==1.2=build` form carries the build after a second `=`.
  const compact = /^(==?)([^=,|<>!~]+)=([^=]+)$/.exec(versionText)
  if (buildText === undefined && compact !== null) {
    versionText = `${compact[1]}${compact[2]}`
    buildText = compact[3]
  }
  return {
    source: text,
    name,
    version: parseVersionSpec(versionText),
    ...(buildText !== undefined && buildText !== "*" ? { build: globRegExp(buildText) } : {})
  }
}

export const specMatches = (spec: MatchSpec, record: { readonly version: string; readonly build: string }): boolean =>
  versionMatches(spec.version, parseVersion(record.version)) && (spec.build === undefined || spec.build.test(record.build))
