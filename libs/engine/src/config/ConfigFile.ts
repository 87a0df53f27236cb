import { Effect, Either, Schema } from "effect"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { parse as parseToml } from "smol-toml"
import type { DiscoveredConfig } from "./ConfigDiscovery"
import { ConfigError, problemError, tomlSyntaxError, type ConfigProblem } from "./ConfigError"
import { envDirectivesFromToml, type EnvDirective } from "./EnvDirective"
import { ociConfigFromToml, OCI_KEYS, type OciConfig, type ValueOrigin } from "./OciConfig"
import { settingsFromToml, type Settings } from "./Settings"
import type { TemplateContext } from "./Template"
import { makeTomlLocator, type KeyPath, type TomlLocator } from "./TomlLocator"
import { toolsFromTable, toolsFromToolVersions, type ToolSpec } from "./Tools"
import { decodeAt, expecting, TomlString } from "./TomlValue"

/** A config file as loaded: where it is, what it applies to, and its sections decoded. */
export interface ConfigFileInfo extends DiscoveredConfig {
  /** Directory holding the file: the base of relative `[[oci.copy]]` hosts. */
  readonly dir: string
  /** The whole TOML document, for sections this layer does not own (`[dotfiles]`, `[bootstrap]`, `[tasks]`). */
  readonly raw: Readonly<Record<string, unknown>>
  /** The file's own `[tools]` (or `.tool-versions` lines), in declaration order, before any platform filter. */
  readonly tools: ReadonlyArray<ToolSpec>
  readonly env: ReadonlyArray<EnvDirective>
  readonly vars: ReadonlyArray<EnvDirective>
  readonly settings: Settings
  readonly oci?: OciConfig
  /** Where each `[oci]` key of this file is written. */
  readonly ociOrigins: Readonly<Partial<Record<(typeof OCI_KEYS)[number], ValueOrigin>>>
}

/** A parsed file whose `[tools]` still wait for `[vars]` (versions may be templates). */
export interface ParsedConfigFile extends Omit<ConfigFileInfo, "tools"> {
  readonly text: string
  readonly locator: TomlLocator
}

const DeprecatedEnvFiles = expecting(Schema.Union(Schema.String, Schema.Array(TomlString)), "a path or an array of paths")

/** Top-level `env_file` / `dotenv` (deprecated spellings of `_.file`); mise applies them before `[env]`. */
const deprecatedEnvFiles = (doc: Readonly<Record<string, unknown>>): Either.Either<ReadonlyArray<EnvDirective>, ConfigProblem> =>
  Either.gen(function* () {
    const out: Array<EnvDirective> = []
    for (const key of ["env_file", "dotenv"] as const) {
      if (doc[key] === undefined) continue
      const value = yield* decodeAt(DeprecatedEnvFiles, doc[key], [key], { strict: false })
      for (const file of typeof value === "string" ? [value] : value) out.push({ _tag: "File", value: file, tools: false, path: [key] })
    }
    return out
  })

/** Parses a config file's text: TOML syntax, then each section this layer owns through its Schema. */
export const parseConfigText = (config: DiscoveredConfig, text: string): Either.Either<ParsedConfigFile, ConfigError> => {
  const base = { ...config, dir: path.dirname(config.path), text, ociOrigins: {} }
  if (config.kind === ".tool-versions") {
    return Either.right({ ...base, raw: {}, env: [], vars: [], settings: {}, locator: { locate: () => undefined } })
  }
  let doc: Record<string, unknown>
  try {
    doc = { ...parseToml(text) }
  } catch (cause) {
    return Either.left(tomlSyntaxError(config.path, text, cause))
  }
  const locator = makeTomlLocator(text)
  const located = <A>(result: Either.Either<A, ConfigProblem>): Either.Either<A, ConfigError> =>
    Either.mapLeft(result, (problem) => problemError(config.path, locator, problem))
  return Either.gen(function* () {
    const envFiles = yield* located(deprecatedEnvFiles(doc))
    const env = doc["env"] === undefined ? [] : yield* located(envDirectivesFromToml(doc["env"], "env"))
    const vars = doc["vars"] === undefined ? [] : yield* located(envDirectivesFromToml(doc["vars"], "vars"))
    const settings = doc["settings"] === undefined ? {} : yield* located(settingsFromToml(doc["settings"]))
    const oci = doc["oci"] === undefined ? undefined : yield* located(ociConfigFromToml(doc["oci"], base.dir))
    const ociTable = doc["oci"]
    const ociOrigins: Partial<Record<(typeof OCI_KEYS)[number], ValueOrigin>> = {}
    if (oci !== undefined && typeof ociTable === "object" && ociTable !== null) {
      for (const key of OCI_KEYS.filter((k) => Object.hasOwn(ociTable, k))) {
        const position = locator.locate(["oci", key])
        ociOrigins[key] = { file: config.path, ...(position === undefined ? {} : { line: position.line, column: position.column }), key: `oci.${key}` }
      }
    }
    return {
      ...base,
      raw: doc,
      env: [...envFiles, ...env],
      vars,
      settings,
      ...(oci === undefined ? {} : { oci }),
      ociOrigins,
      locator
    }
  })
}

/** Decodes the file's tools; versions may use templates, so this runs once `[vars]` are known. */
export const withTools = (parsed: ParsedConfigFile, template: TemplateContext): Either.Either<ConfigFileInfo, ConfigError> => {
  const { text, locator, ...info } = parsed
  if (parsed.kind === ".tool-versions") {
    return Either.map(
      Either.mapLeft(toolsFromToolVersions(text, { file: parsed.path, configDir: parsed.dir, template }), (problem) =>
        new ConfigError({ file: parsed.path, line: problem.line, ...(problem.key === "" ? {} : { key: problem.key }), reason: problem.reason })
      ),
      (tools) => ({ ...info, tools })
    )
  }
  if (parsed.raw["tools"] === undefined) return Either.right({ ...info, tools: [] })
  const lineOf = (at: KeyPath): number => locator.locate(at)?.line ?? 1
  return Either.map(
    Either.mapLeft(toolsFromTable(parsed.raw["tools"], { file: parsed.path, configDir: parsed.dir, template, lineOf }), (problem) =>
      problemError(parsed.path, locator, problem)
    ),
    (tools) => ({ ...info, tools })
  )
}

/** Reads and parses one discovered config file. */
export const readConfigFile = (config: DiscoveredConfig): Effect.Effect<ParsedConfigFile, ConfigError> =>
  Effect.flatMap(
    Effect.tryPromise({
      try: () => fs.readFile(config.path, "utf8"),
      catch: (cause) => new ConfigError({ file: config.path, reason: `cannot read config file: ${cause instanceof Error ? cause.message : String(cause)}` })
    }),
    (text) => parseConfigText(config, text)
  )
