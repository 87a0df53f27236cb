import { Either } from "effect"

/** A value templates can read: strings, and maps of them (`env`, `vars`). */
export type TemplateValue = string | { readonly [key: string]: TemplateValue | undefined }

export type TemplateContext = { readonly [name: string]: TemplateValue | undefined }

/** mise renders a string with Tera only when it contains template syntax. */
export const hasTemplateSyntax = (input: string): boolean =>
  input.includes("{{") || input.includes("{%") || input.includes("{#")

type Token =
  | { readonly kind: "ident"; readonly text: string }
  | { readonly kind: "string"; readonly text: string }
  | { readonly kind: "number"; readonly text: string }
  | { readonly kind: "punct"; readonly text: string }

const tokenize = (source: string): Either.Either<Array<Token>, string> => {
  const tokens: Array<Token> = []
  let i = 0
  while (i < source.length) {
    const c = source[i] ?? ""
    if (/\s/.test(c)) {
      i += 1
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(source.slice(i))?.[0] ?? c
      tokens.push({ kind: "ident", text: m })
      i += m.length
    } else if (/[0-9]/.test(c)) {
      const m = /^[0-9]+(\.[0-9]+)?/.exec(source.slice(i))?.[0] ?? c
      tokens.push({ kind: "number", text: m })
      i += m.length
    } else if (c === '"' || c === "'" || c === "`") {
      const end = source.indexOf(c, i + 1)
      if (end < 0) return Either.left(`unterminated string in \`${source.trim()}\``)
      tokens.push({ kind: "string", text: source.slice(i + 1, end) })
      i = end + 1
    } else if ("|.(),=[]~".includes(c)) {
      tokens.push({ kind: "punct", text: c })
      i += 1
    } else {
      return Either.left(`unsupported syntax \`${c}\` in \`${source.trim()}\``)
    }
  }
  return Either.right(tokens)
}

/** `undefined` marks a variable that is not defined, which only `default` may absorb. */
type Evaluated = { readonly value: string | undefined; readonly name: string }

const evaluate = (source: string, ctx: TemplateContext): Either.Either<string, string> =>
  Either.flatMap(tokenize(source), (tokens) => {
    let i = 0
    const peek = (): Token | undefined => tokens[i]
    const isPunct = (text: string): boolean => {
      const t = peek()
      return t !== undefined && t.kind === "punct" && t.text === text
    }
    const expectPunct = (text: string): Either.Either<void, string> => {
      if (!isPunct(text)) return Either.left(`expected \`${text}\` in \`${source.trim()}\``)
      i += 1
      return Either.right(undefined)
    }

    const kwargs = (): Either.Either<Map<string, Evaluated>, string> => {
      const args = new Map<string, Evaluated>()
      if (!isPunct("(")) return Either.right(args)
      i += 1
      while (!isPunct(")")) {
        const name = peek()
        if (name === undefined || name.kind !== "ident") return Either.left(`expected a keyword argument in \`${source.trim()}\``)
        i += 1
        const eq = expectPunct("=")
        if (Either.isLeft(eq)) return Either.left(eq.left)
        const value = concat()
        if (Either.isLeft(value)) return Either.left(value.left)
        args.set(name.text, value.right)
        if (isPunct(",")) i += 1
        else if (!isPunct(")")) return Either.left(`expected \`,\` or \`)\` in \`${source.trim()}\``)
      }
      i += 1
      return Either.right(args)
    }

    const lookup = (path: ReadonlyArray<string>): string | undefined => {
      let value: TemplateValue | undefined = ctx[path[0] ?? ""]
      for (const part of path.slice(1)) {
        if (value === undefined || typeof value === "string") return undefined
        value = Object.hasOwn(value, part) ? value[part] : undefined
      }
      return typeof value === "string" ? value : undefined
    }

    const call = (name: string): Either.Either<Evaluated, string> =>
      Either.flatMap(kwargs(), (args) => {
        if (name !== "get_env") return Either.left(`unsupported function \`${name}()\``)
        const varName = args.get("name")?.value
        if (varName === undefined) return Either.left("get_env() needs a `name` argument")
        const env = ctx["env"]
        const found = env !== undefined && typeof env !== "string" ? env[varName] : undefined
        const value = typeof found === "string" ? found : args.get("default")?.value
        if (value === undefined) return Either.left(`environment variable \`${varName}\` is not defined and get_env() has no default`)
        return Either.right({ value, name: `get_env(name="${varName}")` })
      })

    const primary = (): Either.Either<Evaluated, string> => {
      const t = peek()
      if (t === undefined) return Either.left(`empty expression in \`${source.trim()}\``)
      i += 1
      if (t.kind === "string" || t.kind === "number") return Either.right({ value: t.text, name: t.text })
      if (t.kind !== "ident") return Either.left(`unexpected \`${t.text}\` in \`${source.trim()}\``)
      if (isPunct("(")) return call(t.text)
      const path = [t.text]
      for (;;) {
        if (isPunct(".")) {
          i += 1
          const next = peek()
          if (next === undefined || (next.kind !== "ident" && next.kind !== "number")) {
            return Either.left(`expected a name after \`.\` in \`${source.trim()}\``)
          }
          i += 1
          path.push(next.text)
        } else if (isPunct("[")) {
          i += 1
          const next = peek()
          if (next === undefined || next.kind !== "string") return Either.left(`expected a quoted key in \`${source.trim()}\``)
          i += 1
          path.push(next.text)
          const close = expectPunct("]")
          if (Either.isLeft(close)) return Either.left(close.left)
        } else break
      }
      return Either.right({ value: lookup(path), name: path.join(".") })
    }

    const applyFilter = (input: Evaluated, filter: string, args: Map<string, Evaluated>): Either.Either<Evaluated, string> => {
      if (filter === "default") {
        const fallback = args.get("value")
        if (fallback === undefined) return Either.left("the `default` filter needs a `value` argument")
        return Either.right(input.value === undefined ? fallback : input)
      }
      if (input.value === undefined) return Either.left(`variable \`${input.name}\` is not defined`)
      const value = input.value
      switch (filter) {
        case "lower":
          return Either.right({ ...input, value: value.toLowerCase() })
        case "upper":
          return Either.right({ ...input, value: value.toUpperCase() })
        case "trim":
          return Either.right({ ...input, value: value.trim() })
        case "replace": {
          const from = args.get("from")?.value
          const to = args.get("to")?.value
          if (from === undefined || to === undefined) return Either.left("the `replace` filter needs `from` and `to` arguments")
          return Either.right({ ...input, value: value.split(from).join(to) })
        }
        default:
          return Either.left(`unsupported filter \`${filter}\``)
      }
    }

    const filtered = (): Either.Either<Evaluated, string> => {
      let current = primary()
      while (Either.isRight(current) && isPunct("|")) {
        i += 1
        const name = peek()
        if (name === undefined || name.kind !== "ident") return Either.left(`expected a filter name after \`|\` in \`${source.trim()}\``)
        i += 1
        const input = current.right
        current = Either.flatMap(kwargs(), (args) => applyFilter(input, name.text, args))
      }
      return current
    }

    // Tera's `~` joins operands as strings.
    const concat = (): Either.Either<Evaluated, string> => {
      let current = filtered()
      while (Either.isRight(current) && isPunct("~")) {
        i += 1
        const left = current.right
        current = Either.flatMap(filtered(), (right) => {
          if (left.value === undefined) return Either.left(`variable \`${left.name}\` is not defined`)
          if (right.value === undefined) return Either.left(`variable \`${right.name}\` is not defined`)
          return Either.right({ value: left.value + right.value, name: `${left.name} ~ ${right.name}` })
        })
      }
      return current
    }

    return Either.flatMap(concat(), (result) => {
      if (i < tokens.length) return Either.left(`unexpected \`${tokens[i]?.text ?? ""}\` in \`${source.trim()}\``)
      if (result.value === undefined) return Either.left(`variable \`${result.name}\` is not defined`)
      return Either.right(result.value)
    })
  })

/**
 * Renders the subset of Tera that mise configs use for env values and versions: `{{ path.to.var }}`,
 * string literals, `~`, `get_env(name=, default=)`, and the filters default/lower/upper/trim/replace.
 * A variable that is not defined is an error, as in Tera. Left carries a message without location.
 */
export const renderTemplate = (input: string, ctx: TemplateContext): Either.Either<string, string> => {
  if (!hasTemplateSyntax(input)) return Either.right(input)
  let out = ""
  let i = 0
  while (i < input.length) {
    const open = input.indexOf("{", i)
    const next = input[open + 1]
    if (open < 0) {
      out += input.slice(i)
      break
    }
    if (next !== "{" && next !== "%" && next !== "#") {
      out += input.slice(i, open + 1)
      i = open + 1
      continue
    }
    const closer = next === "{" ? "}}" : next === "%" ? "%}" : "#}"
    const close = input.indexOf(closer, open + 2)
    if (close < 0) return Either.left(`unclosed \`{${next}\` in template`)
    let text = input.slice(i, open)
    let inner = input.slice(open + 2, close)
    // `{{-` and `-}}` trim the whitespace around the tag, as in Tera.
    if (inner.startsWith("-")) {
      text = text.trimEnd()
      inner = inner.slice(1)
    }
    const trimAfter = inner.endsWith("-")
    if (trimAfter) inner = inner.slice(0, -1)
    out += text
    i = close + 2
    if (trimAfter) while (i < input.length && /\s/.test(input[i] ?? "")) i += 1
    if (next === "#") continue
    if (next === "%") return Either.left(`unsupported template tag \`{%${inner}%}\` (only {{ expressions }} are supported)`)
    const value = evaluate(inner, ctx)
    if (Either.isLeft(value)) return value
    out += value.right
  }
  return Either.right(out)
}
