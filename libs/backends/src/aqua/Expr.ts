import { Either } from "effect"
import { compareVersions } from "../Versions"

type Value = string | boolean | ReadonlyArray<Value>

type Token =
  | { readonly t: "str"; readonly value: string }
  | { readonly t: "ident"; readonly name: string }
  | { readonly t: "op"; readonly op: string }

const OPERATORS = ["&&", "||", "==", "!=", "!", "(", ")", "[", "]", ","]

const lex = (source: string): Either.Either<ReadonlyArray<Token>, string> => {
  const out: Array<Token> = []
  let i = 0
  while (i < source.length) {
    const c = source[i]!
    if (/\s/.test(c)) {
      i++
      continue
    }
    if (c === "\"" || c === "'" || c === "`") {
      let value = ""
      let j = i + 1
      for (; j < source.length && source[j] !== c; j++) {
        if (source[j] === "\\" && c !== "`" && j + 1 < source.length) j++
        value += source[j]
      }
      if (j >= source.length) return Either.left(`unterminated string in ${source}`)
      out.push({ t: "str", value })
      i = j + 1
      continue
    }
    const op = OPERATORS.find((o) => source.startsWith(o, i))
    if (op !== undefined) {
      out.push({ t: "op", op })
      i += op.length
      continue
    }
    const ident = /^[A-Za-z_][A-Za-z0-9_]*/.exec(source.slice(i))
    if (ident === null) return Either.left(`unexpected "${c}" in ${source}`)
    out.push({ t: "ident", name: ident[0] })
    i += ident[0].length
  }
  return Either.right(out)
}

/** hashicorp/go-version's reading of a version: numeric segments, then a pre-release after `-` (or a letter). */
const parseVersion = (v: string) => {
  const m = /^(\d+(?:\.\d+)*)(?:[-+.]?([0-9A-Za-z.+-]*))?$/.exec(v)
  return m === null ? undefined : { nums: m[1]!.split(".").map(Number), pre: m[2] ?? "" }
}

const compareParsed = (a: NonNullable<ReturnType<typeof parseVersion>>, b: NonNullable<ReturnType<typeof parseVersion>>) => {
  for (let i = 0; i < Math.max(a.nums.length, b.nums.length); i++) {
    const d = (a.nums[i] ?? 0) - (b.nums[i] ?? 0)
    if (d !== 0) return Math.sign(d)
  }
  if (a.pre === b.pre) return 0
  if (a.pre === "") return 1
  if (b.pre === "") return -1
  return compareVersions(a.pre, b.pre)
}

/** The version part of a tag: from the first digit that starts it or follows `-`, `_`, `/`, `.`, `v` (mise's split). */
export const versionPart = (tag: string): string => {
  for (let i = 0; i < tag.length; i++) {
    if (/\d/.test(tag[i]!) && (i === 0 || /[-_/.vV]/.test(tag[i - 1]!))) return tag.slice(i)
  }
  return tag
}

/** Upper bound of `~x.y.z` / `^x.y.z` as versions crate reads them. */
const upperBound = (op: "~" | "^", nums: ReadonlyArray<number>): ReadonlyArray<number> => {
  if (op === "~") return nums.length <= 1 ? [(nums[0] ?? 0) + 1] : [nums[0]!, nums[1]! + 1]
  const first = nums.findIndex((n) => n !== 0)
  const at = first < 0 ? nums.length - 1 : first
  return [...nums.slice(0, at), nums[at]! + 1]
}

/** aqua's `semver(">= 1.2.0, < 2")` on a version: every comma-separated requirement must hold. */
export const semverMatches = (constraint: string, version: string): Either.Either<boolean, string> => {
  const v = parseVersion(versionPart(version))
  if (v === undefined) return Either.left(`"${version}" is not a version`)
  for (const raw of constraint.replace(/\s+/g, "").split(",")) {
    if (raw === "*") continue
    const m = /^(>=|<=|!=|>|<|=|~|\^)(.+)$/.exec(raw)
    const bound = m === null ? undefined : parseVersion(m[2]!.replace(/^v/, ""))
    if (m === null || bound === undefined) return Either.left(`invalid semver requirement "${raw}"`)
    const c = compareParsed(v, bound)
    const op = m[1]!
    const ok = op === ">=" ? c >= 0
      : op === "<=" ? c <= 0
      : op === ">" ? c > 0
      : op === "<" ? c < 0
      : op === "=" ? c === 0
      : op === "!=" ? c !== 0
      : c >= 0 && compareParsed(v, { nums: [...upperBound(op as "~" | "^", bound.nums)], pre: "" }) < 0
    if (!ok) return Either.right(false)
  }
  return Either.right(true)
}

/**
 * The subset of expr-lang that aqua's `version_constraint` and `version_filter` use: `Version` (the tag),
 * string literals, `true`/`false`, lists, `semver("...")`, `==`, `!=`, `in`, `startsWith`, `endsWith`, `contains`,
 * `matches`, `!`/`not`, `&&`/`and`, `||`/`or` and parentheses.
 */
export const evalAquaExpr = (source: string, version: string): Either.Either<Value, string> =>
  Either.flatMap(lex(source), (tokens) => {
    let i = 0
    const peek = () => tokens[i]
    const isOp = (op: string) => {
      const t = peek()
      return t !== undefined && ((t.t === "op" && t.op === op) || (t.t === "ident" && t.name === op))
    }
    const fail = (what: string) => Either.left(`${what} in ${source}`)

    const primary = (): Either.Either<Value, string> => {
      const t = tokens[i++]
      if (t === undefined) return fail("unexpected end")
      if (t.t === "str") return Either.right(t.value)
      if (t.t === "op" && t.op === "(") {
        const inner = or()
        if (Either.isLeft(inner)) return inner
        if (!isOp(")")) return fail("missing )")
        i++
        return inner
      }
      if (t.t === "op" && t.op === "[") {
        const items: Array<Value> = []
        while (!isOp("]")) {
          const item = or()
          if (Either.isLeft(item)) return item
          items.push(item.right)
          if (isOp(",")) i++
          else if (!isOp("]")) return fail("missing ]")
        }
        i++
        return Either.right(items)
      }
      if (t.t !== "ident") return fail(`unexpected "${t.op}"`)
      if (t.name === "true" || t.name === "false") return Either.right(t.name === "true")
      if (t.name === "Version") return Either.right(version)
      if (t.name === "semver") {
        if (!isOp("(")) return fail("semver needs (")
        i++
        const arg = or()
        if (Either.isLeft(arg)) return arg
        if (!isOp(")")) return fail("semver takes one argument")
        i++
        return typeof arg.right === "string" ? semverMatches(arg.right, version) : fail("semver takes a string")
      }
      return fail(`unknown name ${t.name}`)
    }

    const comparison = (): Either.Either<Value, string> => {
      const left = primary()
      if (Either.isLeft(left)) return left
      const t = peek()
      const op = t === undefined ? undefined : t.t === "op" ? t.op : t.t === "ident" ? t.name : undefined
      if (op === undefined || !["==", "!=", "in", "startsWith", "endsWith", "contains", "matches"].includes(op)) return left
      i++
      const right = primary()
      if (Either.isLeft(right)) return right
      const a = left.right
      const b = right.right
      if (op === "==") return Either.right(a === b)
      if (op === "!=") return Either.right(a !== b)
      if (op === "in") return Array.isArray(b) ? Either.right(b.includes(a)) : fail("in needs a list")
      if (typeof a !== "string" || typeof b !== "string") return fail(`${op} needs strings`)
      if (op === "startsWith") return Either.right(a.startsWith(b))
      if (op === "endsWith") return Either.right(a.endsWith(b))
      if (op === "contains") return Either.right(a.includes(b))
      return Either.try({ try: () => new RegExp(b).test(a), catch: () => `invalid regular expression "${b}" in ${source}` })
    }

    const unary = (): Either.Either<Value, string> => {
      if (isOp("!") || isOp("not")) {
        i++
        return Either.flatMap(unary(), (v) => typeof v === "boolean" ? Either.right(!v) : fail("! needs a boolean"))
      }
      return comparison()
    }

    const binary = (ops: ReadonlyArray<string>, next: () => Either.Either<Value, string>, isAnd: boolean) => (): Either.Either<Value, string> => {
      let left = next()
      while (Either.isRight(left) && ops.some(isOp)) {
        i++
        const right = next()
        if (Either.isLeft(right)) return right
        if (typeof left.right !== "boolean" || typeof right.right !== "boolean") return fail(`${ops[0]} needs booleans`)
        left = Either.right(isAnd ? left.right && right.right : left.right || right.right)
      }
      return left
    }
    const and = binary(["&&", "and"], unary, true)
    const or: () => Either.Either<Value, string> = binary(["||", "or"], and, false)

    const result = or()
    return Either.isRight(result) && i < tokens.length ? fail("unexpected tokens") : result
  })
