import { parse as parseDotenv } from "dotenv"
import { Effect, Either } from "effect"
import * as path from "node:path"
import { parse as parseToml } from "smol-toml"
import { ConfigError } from "./ConfigError"
import type { EnvDirective } from "./EnvDirective"
import { renderTemplate, type TemplateContext } from "./Template"
import { formatKeyPath, type KeyPath, type SourcePosition } from "./TomlLocator"

/** The `[env]` that goes into the image config, resolved on the host. */
export interface ResolvedEnv {
  /** In mise's order: vars the host env already had keep its (sorted) position, new ones follow in declaration order. */
  readonly vars: ReadonlyArray<readonly [string, string]>
  /** How many `[env]` vars are baked, for `mise oci build: baking N [env] var(s) into the image config. …`. */
  readonly bakedCount: number
  /** Keys set to `false` (and not set again later). */
  readonly unset: ReadonlyArray<string>
}

/** One config file's `[env]` or `[vars]` directives; files are given least specific first. */
export interface EnvSource {
  readonly file: string
  /** `{{ config_root }}`, and the base of relative `_.file` paths. */
  readonly root: string
  readonly directives: ReadonlyArray<EnvDirective>
  readonly locate: (path: KeyPath) => SourcePosition | undefined
}

export interface EnvResolveContext {
  /** The build host's environment: the starting env, what `{{ env.X }}` reads, and what satisfies `required`. */
  readonly hostEnv: Readonly<Record<string, string | undefined>>
  readonly cwd: string
  readonly home: string
  /** Resolved `[vars]`, for `{{ vars.x }}`. */
  readonly vars: Readonly<Record<string, string>>
  /** Merged `[oci.env]`: for `mise oci`, a var defined there satisfies `required`. */
  readonly ociEnv: Readonly<Record<string, string>>
  /** Reads a file for `_.file`; `undefined` when it does not exist (mise globs, so a missing file adds nothing). */
  readonly readFile: (file: string) => Effect.Effect<string | undefined, ConfigError>
}

export interface EnvResolution {
  readonly env: ResolvedEnv
  readonly warnings: ReadonlyArray<string>
}

const errorAt = (source: EnvSource, at: KeyPath, reason: string): ConfigError => {
  const position = source.locate(at)
  return new ConfigError({
    file: source.file,
    ...(position === undefined ? {} : { line: position.line, column: position.column }),
    key: formatKeyPath(at),
    reason
  })
}

const render = (source: EnvSource, at: KeyPath, input: string, ctx: TemplateContext): Effect.Effect<string, ConfigError> =>
  Either.match(renderTemplate(input, ctx), {
    onLeft: (reason) => Effect.fail(errorAt(source, at, `invalid template ${JSON.stringify(input)}: ${reason}`)),
    onRight: Effect.succeed
  })

/** mise's `normalize_path`: `./x` and `x` are relative to the config root, `~/x` to the home directory. */
const resolveDirectivePath = (input: string, root: string, home: string): string => {
  const p = input.startsWith("./") ? input.slice(2) : input
  if (p.startsWith("~/")) return path.join(home, p.slice(2))
  return path.isAbsolute(p) ? p : path.join(root, p)
}

const structuredValues = (parsed: unknown, file: string): Either.Either<ReadonlyArray<readonly [string, string]>, string> => {
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return Either.left(`${file} must hold a table of variables`)
  const out: Array<readonly [string, string]> = []
  for (const [key, value] of Object.entries(parsed)) {
    if (key === "sops") return Either.left(`sops-encrypted env files are not supported: ${file}`)
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") out.push([key, String(value)])
    else return Either.left(`unsupported value for ${key} in ${file}: only strings, numbers and booleans can be env vars`)
  }
  return Either.right(out)
}

/** Variables of one `_.file`, by extension: `.json`, `.toml`, anything else is dotenv. */
export const parseEnvFile = (file: string, text: string): Either.Either<ReadonlyArray<readonly [string, string]>, string> => {
  const ext = path.extname(file)
  try {
    if (ext === ".json") return structuredValues(JSON.parse(text), file)
    if (ext === ".toml") return structuredValues(parseToml(text), file)
    if (ext === ".yaml" || ext === ".yml") return Either.left(`YAML env files are not supported: ${file}`)
    return Either.right(Object.entries(parseDotenv(text)))
  } catch (cause) {
    return Either.left(`failed to parse ${ext === ".json" ? "json" : ext === ".toml" ? "toml" : "dotenv"} file: ${file}: ${cause instanceof Error ? cause.message.split("\n")[0] : String(cause)}`)
  }
}

const loadEnvFile = (
  source: EnvSource,
  at: KeyPath,
  file: string,
  readFile: EnvResolveContext["readFile"]
): Effect.Effect<ReadonlyArray<readonly [string, string]>, ConfigError> =>
  Effect.flatMap(readFile(file), (text) =>
    text === undefined
      ? Effect.succeed([])
      : Either.match(parseEnvFile(file, text), {
          onLeft: (reason) => Effect.fail(errorAt(source, at, reason)),
          onRight: Effect.succeed
        })
  )

const hostHas = (hostEnv: Readonly<Record<string, string | undefined>>, key: string): boolean => hostEnv[key] !== undefined
const nonEmpty = (value: string | undefined): value is string => value !== undefined && value !== ""

interface Requirement {
  readonly key: string
  readonly help?: string
  readonly source: EnvSource
  readonly at: KeyPath
}

const requirementError = (requirement: Requirement, kind: string): ConfigError =>
  errorAt(
    requirement.source,
    requirement.at,
    `Required ${kind} '${requirement.key}' is not defined. It must be set before mise runs or in a later config file. ` +
      `(Required in: ${requirement.source.file})${requirement.help === undefined ? "" : `\nHelp: ${requirement.help}`}`
  )

const sourceWarning = (source: EnvSource, what: string): string =>
  `mise oci build: ignoring ${what} in ${source.file}: it is not supported when resolving [env] for an image`

/**
 * Resolves `[env]` like mise's `Config::env()`: directives run from the least to the most specific file,
 * starting from the host env; a later value replaces an earlier one in place; only vars a directive set are
 * returned. `_.path` is not applied and `_.source` / env modules are skipped with a warning.
 */
export const resolveEnv = (sources: ReadonlyArray<EnvSource>, ctx: EnvResolveContext): Effect.Effect<EnvResolution, ConfigError> =>
  Effect.gen(function* () {
    // A JS Map keeps insertion order and keeps a key's position on re-set: mise's IndexMap. The host env
    // comes first in sorted order because mise starts from a BTreeMap of it.
    const env = new Map<string, { readonly value: string; readonly from?: string }>()
    for (const key of Object.keys(ctx.hostEnv).sort()) {
      const value = ctx.hostEnv[key]
      if (value !== undefined) env.set(key, { value })
    }
    const unset = new Set<string>()
    const requirements: Array<Requirement> = []
    const warnings: Array<string> = []
    const templateContext = (source: EnvSource): TemplateContext => ({
      env: Object.fromEntries([...env].map(([key, entry]) => [key, entry.value])),
      vars: ctx.vars,
      config_root: source.root,
      cwd: ctx.cwd
    })
    const assign = (key: string, value: string, from: string): void => {
      env.set(key, { value, from })
      unset.delete(key)
    }

    for (const source of sources) {
      for (const directive of source.directives) {
        if (directive.tools) continue
        switch (directive._tag) {
          case "Set":
            assign(directive.key, yield* render(source, directive.path, directive.value, templateContext(source)), source.file)
            break
          case "Default":
            if (!nonEmpty(env.get(directive.key)?.value)) {
              assign(directive.key, yield* render(source, directive.path, directive.value, templateContext(source)), source.file)
            }
            break
          case "Unset":
            env.delete(directive.key)
            unset.add(directive.key)
            break
          case "Required":
            requirements.push({ key: directive.key, ...(directive.help === undefined ? {} : { help: directive.help }), source, at: directive.path })
            break
          case "Age":
            return yield* Effect.fail(errorAt(source, directive.path, "age-encrypted [env] values are not supported"))
          case "File": {
            const file = resolveDirectivePath(yield* render(source, directive.path, directive.value, templateContext(source)), source.root, ctx.home)
            for (const [key, value] of yield* loadEnvFile(source, directive.path, file, ctx.readFile)) assign(key, value, file)
            break
          }
          case "Source":
            warnings.push(sourceWarning(source, `[env] _.source ${JSON.stringify(directive.value)}`))
            break
          case "Module":
            warnings.push(sourceWarning(source, `[env] module _.${directive.name}`))
            break
          case "Path":
          case "PythonVenv":
            // mise does not bake `_.path` into the image, and the venv is part of the tool env.
            break
        }
      }
    }

    for (const requirement of requirements) {
      const final = env.get(requirement.key)
      const definedLater = final?.from !== undefined && final.from !== requirement.source.file
      if (!hostHas(ctx.hostEnv, requirement.key) && !definedLater && !Object.hasOwn(ctx.ociEnv, requirement.key)) {
        return yield* Effect.fail(requirementError(requirement, "environment variable"))
      }
    }

    const vars = [...env].flatMap(([key, entry]) => (entry.from === undefined ? [] : [[key, entry.value] as const]))
    return { env: { vars, bakedCount: vars.length, unset: [...unset] }, warnings }
  })

/**
 * Resolves `[vars]` (mise's vars mode): values land in the vars map, not the env; templates see the host env
 * and the vars so far; `default` prefers an existing var, then the host env.
 */
export const resolveVars = (
  sources: ReadonlyArray<EnvSource>,
  ctx: Omit<EnvResolveContext, "vars" | "ociEnv">
): Effect.Effect<Readonly<Record<string, string>>, ConfigError> =>
  Effect.gen(function* () {
    const vars = new Map<string, { readonly value: string; readonly from: string }>()
    const requirements: Array<Requirement> = []
    const templateContext = (source: EnvSource): TemplateContext => ({
      env: ctx.hostEnv,
      vars: Object.fromEntries([...vars].map(([key, entry]) => [key, entry.value])),
      config_root: source.root,
      cwd: ctx.cwd
    })
    for (const source of sources) {
      for (const directive of source.directives) {
        if (directive.tools) continue
        switch (directive._tag) {
          case "Set":
            vars.set(directive.key, { value: yield* render(source, directive.path, directive.value, templateContext(source)), from: source.file })
            break
          case "Default": {
            const existing = vars.get(directive.key)?.value
            const host = ctx.hostEnv[directive.key]
            const value = nonEmpty(existing) ? existing : nonEmpty(host) ? host : yield* render(source, directive.path, directive.value, templateContext(source))
            vars.set(directive.key, { value, from: source.file })
            break
          }
          case "Required": {
            const host = ctx.hostEnv[directive.key]
            if (!vars.has(directive.key) && host !== undefined) vars.set(directive.key, { value: host, from: source.file })
            requirements.push({ key: directive.key, ...(directive.help === undefined ? {} : { help: directive.help }), source, at: directive.path })
            break
          }
          case "File": {
            const file = resolveDirectivePath(yield* render(source, directive.path, directive.value, templateContext(source)), source.root, ctx.home)
            for (const [key, value] of yield* loadEnvFile(source, directive.path, file, ctx.readFile)) {
              vars.set(key, { value, from: file })
            }
            break
          }
          case "Age":
            return yield* Effect.fail(errorAt(source, directive.path, "age-encrypted [vars] values are not supported"))
          case "Unset":
          case "Path":
          case "Source":
          case "PythonVenv":
          case "Module":
            // In vars mode mise applies these to the env, not to vars: nothing to do here.
            break
        }
      }
    }
    for (const requirement of requirements) {
      const final = vars.get(requirement.key)
      const definedLater = final !== undefined && final.from !== requirement.source.file
      if (!hostHas(ctx.hostEnv, requirement.key) && !definedLater && !nonEmpty(final?.value)) {
        return yield* Effect.fail(requirementError(requirement, "variable"))
      }
    }
    return Object.fromEntries([...vars].map(([key, entry]) => [key, entry.value]))
  })
