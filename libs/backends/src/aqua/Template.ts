import { Either } from "effect"

/** A value inside a template: text, or what `semver` makes of a version (with `.Major`, `.Minor`, `.Patch`). */
type Value = string | { readonly original: string; readonly major: number; readonly minor: number; readonly patch: number }

type Node =
  | { readonly kind: "var"; readonly name: string }
  | { readonly kind: "text"; readonly value: string }
  | { readonly kind: "call"; readonly fn: string; readonly args: ReadonlyArray<Node> }
  | { readonly kind: "field"; readonly of: Node; readonly name: string }

type Token =
  | { readonly t: "key"; readonly path: string }
  | { readonly t: "str"; readonly value: string }
  | { readonly t: "ident"; readonly name: string }
  | { readonly t: "field"; readonly name: string }
  | { readonly t: "(" | ")" | "|" }

const lex = (code: string): Either.Either<ReadonlyArray<Token>, string> => {
  const out: Array<Token> = []
  let i = 0
  while (i < code.length) {
    const c = code[i]!
    if (/\s/.test(c)) {
      i++
    } else if (c === "(" || c === ")" || c === "|") {
      out.push({ t: c })
      i++
    } else if (c === "\"" || c === "`") {
      const end = code.indexOf(c, i + 1)
      if (end < 0) return Either.left(`unterminated string in {{${code}}}`)
      out.push({ t: "str", value: code.slice(i + 1, end).replace(/\\"/g, "\"") })
      i = end + 1
    } else if (c === ".") {
      const m = /^\.([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)/.exec(code.slice(i))
      if (m === null) return Either.left(`unexpected "." in {{${code}}}`)
      // `.Major` right after a `)` reads a field of the parenthesised value; otherwise `.A.B` is a variable.
      out.push(out[out.length - 1]?.t === ")" ? { t: "field", name: m[1]! } : { t: "key", path: m[1]! })
      i += m[0].length
    } else {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(code.slice(i))
      if (m === null) return Either.left(`unexpected character "${c}" in {{${code}}}`)
      out.push({ t: "ident", name: m[0] })
      i += m[0].length
    }
  }
  return Either.right(out)
}

/** Go's text/template pipelines: `cmd arg... | cmd arg...`, the left result appended as the right command's last argument. */
const parse = (tokens: ReadonlyArray<Token>, source: string): Either.Either<Node, string> => {
  let i = 0
  const bad = (what: string) => Either.left(`${what} in {{${source}}}`)

  const operand = (): Either.Either<Node | undefined, string> => {
    const token = tokens[i]
    if (token === undefined || token.t === "|" || token.t === ")") return Either.right(undefined)
    i++
    let node: Node
    if (token.t === "key") node = { kind: "var", name: token.path }
    else if (token.t === "str") node = { kind: "text", value: token.value }
    else if (token.t === "ident") node = { kind: "call", fn: token.name, args: [] }
    else if (token.t === "(") {
      const inner = pipeline()
      if (Either.isLeft(inner)) return inner
      if (tokens[i]?.t !== ")") return bad("missing )")
      i++
      node = inner.right
    } else return bad("unexpected token")
    while (tokens[i]?.t === "field") {
      node = { kind: "field", of: node, name: (tokens[i] as { readonly name: string }).name }
      i++
    }
    return Either.right(node)
  }

  const command = (): Either.Either<Node, string> => {
    const head = operand()
    if (Either.isLeft(head)) return Either.left(head.left)
    if (head.right === undefined) return bad("missing value")
    if (head.right.kind !== "call") return Either.right(head.right)
    const args: Array<Node> = []
    for (;;) {
      const arg = operand()
      if (Either.isLeft(arg)) return Either.left(arg.left)
      if (arg.right === undefined) break
      args.push(arg.right)
    }
    return Either.right({ kind: "call", fn: head.right.fn, args })
  }

  const pipeline = (): Either.Either<Node, string> => {
    let left = command()
    while (Either.isRight(left) && tokens[i]?.t === "|") {
      i++
      const right = command()
      if (Either.isLeft(right)) return right
      if (right.right.kind !== "call") return bad("a pipe must end in a function")
      left = Either.right({ ...right.right, args: [...right.right.args, left.right] })
    }
    return left
  }

  const node = pipeline()
  if (Either.isRight(node) && i < tokens.length) return bad("unexpected tokens")
  return node
}

const text = (v: Value): string => (typeof v === "string" ? v : v.original)

/** Go's strings.Title: the first letter of each word upper-cased. */
const title = (s: string) => s.replace(/(^|[^A-Za-z0-9_])([a-z])/g, (_, sep: string, c: string) => sep + c.toUpperCase())

const FUNCTIONS: Readonly<Record<string, (args: ReadonlyArray<Value>) => Either.Either<Value, string>>> = {
  trimV: ([s]) => Either.right(text(s!).replace(/^v+/, "")),
  title: ([s]) => Either.right(title(text(s!))),
  trimPrefix: ([prefix, s]) => Either.right(text(s!).startsWith(text(prefix!)) ? text(s!).slice(text(prefix!).length) : text(s!)),
  trimSuffix: ([suffix, s]) =>
    Either.right(text(s!).endsWith(text(suffix!)) && text(suffix!) !== "" ? text(s!).slice(0, -text(suffix!).length) : text(s!)),
  replace: ([from, to, s]) => Either.right(text(s!).split(text(from!)).join(text(to!))),
  semver: ([s]) => {
    const original = text(s!).replace(/^v/, "")
    const m = /^(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(original)
    return m === null
      ? Either.left(`semver: "${text(s!)}" is not a version`)
      : Either.right({ original, major: Number(m[1]), minor: Number(m[2] ?? 0), patch: Number(m[3] ?? 0) })
  }
}

const ARITY: Readonly<Record<string, number>> = { trimV: 1, title: 1, trimPrefix: 2, trimSuffix: 2, replace: 3, semver: 1 }

const evaluate = (node: Node, ctx: Readonly<Record<string, string>>): Either.Either<Value, string> => {
  switch (node.kind) {
    case "text":
      return Either.right(node.value)
    case "var": {
      const value = ctx[node.name]
      return value === undefined ? Either.left(`.${node.name} is not defined here`) : Either.right(value)
    }
    case "field":
      return Either.flatMap(evaluate(node.of, ctx), (v) => {
        if (typeof v === "string") return Either.left(`.${node.name} of a string`)
        const field = ({ Major: v.major, Minor: v.minor, Patch: v.patch } as Record<string, number | undefined>)[node.name]
        return field === undefined ? Either.left(`unknown semver field .${node.name}`) : Either.right(String(field))
      })
    case "call": {
      const fn = FUNCTIONS[node.fn]
      if (fn === undefined) return Either.left(`unknown function ${node.fn} (known: ${Object.keys(FUNCTIONS).join(", ")})`)
      if (node.args.length !== ARITY[node.fn]) return Either.left(`${node.fn} takes ${ARITY[node.fn]} argument(s), got ${node.args.length}`)
      const args: Array<Value> = []
      for (const arg of node.args) {
        const value = evaluate(arg, ctx)
        if (Either.isLeft(value)) return value
        args.push(value.right)
      }
      return fn(args)
    }
  }
}

/**
 * The Go-template subset aqua registries use: `{{.Version}}`, `{{trimV .Version}}`, `{{title .OS}}`,
 * `{{.Version | trimPrefix "v"}}`, `{{(semver .Version).Major}}`, `{{- x -}}`; unknown names fail instead of
 * rendering empty, so a bad template never becomes a wrong URL.
 */
export const renderAquaTemplate = (template: string, ctx: Readonly<Record<string, string>>): Either.Either<string, string> => {
  let out = ""
  let at = 0
  for (;;) {
    const open = template.indexOf("{{", at)
    if (open < 0) return Either.right(out + template.slice(at))
    const close = template.indexOf("}}", open + 2)
    if (close < 0) return Either.left(`unclosed {{ in "${template}"`)
    let before = template.slice(at, open)
    let code = template.slice(open + 2, close)
    let next = close + 2
    if (code.startsWith("-")) {
      before = before.trimEnd()
      code = code.slice(1)
    }
    if (code.endsWith("-")) {
      code = code.slice(0, -1)
      while (next < template.length && /\s/.test(template[next]!)) next++
    }
    const value = Either.flatMap(Either.flatMap(lex(code), (tokens) => parse(tokens, code)), (node) => evaluate(node, ctx))
    if (Either.isLeft(value)) return Either.left(value.left)
    out += before + text(value.right)
    at = next
  }
}
