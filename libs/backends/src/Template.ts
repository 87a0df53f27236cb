import { Either } from "effect"
import type { Platform } from "./Platform"

export interface TemplateValues {
  readonly version: string
  readonly platform: Platform
  readonly env: Readonly<Record<string, string | undefined>>
}

const CALL = /^(os|arch)\(\s*(.*?)\s*\)$/s
const KWARG = /^\s*([A-Za-z0-9_]+)\s*=\s*(?:"([^"]*)"|'([^']*)')\s*$/

/** `os(macos="darwin", x64="amd64")` keyword arguments: a remap keyed by mise's own name. */
const parseKwargs = (args: string): Either.Either<Readonly<Record<string, string>>, string> => {
  const remap: Record<string, string> = {}
  if (args.trim() === "") return Either.right(remap)
  for (const part of args.split(",")) {
    const m = KWARG.exec(part)
    if (m === null) return Either.left(`cannot read argument "${part.trim()}"`)
    remap[m[1]!] = m[2] ?? m[3] ?? ""
  }
  return Either.right(remap)
}

const evaluate = (expr: string, values: TemplateValues): Either.Either<string, string> => {
  if (expr === "version") return Either.right(values.version)
  const env = /^env\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(expr)
  if (env !== null) {
    const value = values.env[env[1]!]
    return value === undefined ? Either.left(`environment variable ${env[1]} is not set`) : Either.right(value)
  }
  const call = CALL.exec(expr)
  if (call !== null) {
    const own = call[1] === "os" ? values.platform.os : values.platform.arch
    return Either.map(parseKwargs(call[2]!), (remap) => remap[own] ?? own)
  }
  return Either.left(`unsupported expression {{ ${expr} }} (supported: version, os(), arch(), env.NAME)`)
}

/**
 * The subset of mise's Tera templating that URLs use: `{{ version }}`, `{{ os() }}`, `{{ arch(x64="amd64") }}`,
 * `{{ env.NAME }}`, and the legacy `{version}` (accepted quietly; mise warns about it even when it wrote it itself).
 */
export const renderTemplate = (template: string, values: TemplateValues): Either.Either<string, string> => {
  let failure: string | undefined
  const rendered = template.replace(/\{\{(.*?)\}\}/gs, (_, expr: string) => {
    const result = evaluate(expr.trim(), values)
    if (Either.isLeft(result)) {
      failure ??= result.left
      return ""
    }
    return result.right
  })
  if (failure !== undefined) return Either.left(failure)
  if (/\{%/.test(rendered)) return Either.left("template blocks ({% ... %}) are not supported")
  return Either.right(rendered.replaceAll("{version}", values.version))
}
