import { Data, Effect, Either, Schema } from "effect"
import * as fsp from "node:fs/promises"
import * as NodePath from "node:path"
import { fileURLToPath } from "node:url"
import { parse } from "yaml"
import type { BackendContext } from "../Backend"
import type { DownloaderShape } from "../Downloader"
import { type AquaPackage, AquaPackageSchema, packageId } from "./Package"

/** Why the registry could not answer; the backend words it for the tool. */
export class AquaRegistryError extends Data.TaggedError("AquaRegistryError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

const SETTINGS_HINT =
  "set aqua.registry_url (env MISE_AQUA_REGISTRY_URL) or aqua.registries (env MISE_AQUA_REGISTRIES, comma-separated) " +
  "in [settings] to an aqua-registry checkout, a registry.yaml, or the http(s) URL of either"

/** The configured registry sources, in the order they are searched: `aqua.registries`, else `aqua.registry_url`. */
export const registrySources = (ctx: BackendContext): Either.Either<ReadonlyArray<string>, AquaRegistryError> => {
  const list = (value: unknown): ReadonlyArray<string> =>
    (Array.isArray(value) ? value.map(String) : typeof value === "string" ? value.split(",") : [])
      .map((s) => s.trim())
      .filter((s) => s !== "")
  const fromEnv = list(ctx.env["MISE_AQUA_REGISTRIES"])
  const fromSettings = list(ctx.settings["aqua.registries"])
  const single = list(ctx.env["MISE_AQUA_REGISTRY_URL"] ?? ctx.settings["aqua.registry_url"])
  const sources = fromEnv.length > 0 ? fromEnv : fromSettings.length > 0 ? fromSettings : single
  if (sources.length === 0) {
    return Either.left(new AquaRegistryError({ message: `no aqua registry is configured (the engine ships none); ${SETTINGS_HINT}` }))
  }
  const relative = sources.find((s) => !/^(https?|file):\/\//i.test(s) && !NodePath.isAbsolute(s))
  return relative !== undefined
    ? Either.left(new AquaRegistryError({ message: `aqua registry "${relative}" is a relative path; give an absolute path, a file:// URL or an http(s) URL` }))
    : Either.right(sources)
}

/** One registry YAML's `packages`, indexed by id and alias, decoded only when asked for. */
interface Index {
  readonly byId: ReadonlyMap<string, unknown>
  readonly aliases: ReadonlyMap<string, string>
}

const RegistryYaml = Schema.Struct({ packages: Schema.Array(Schema.Unknown) })

const isRecord = (v: unknown): v is Readonly<Record<string, unknown>> => typeof v === "object" && v !== null && !Array.isArray(v)

const indexOf = (text: string, where: string): Effect.Effect<Index, AquaRegistryError> =>
  Effect.gen(function*() {
    const raw = yield* Effect.try({
      try: () => parse(text) as unknown,
      catch: (e) => new AquaRegistryError({ message: `aqua registry ${where} is not valid YAML: ${String(e)}`, cause: e })
    })
    const doc = yield* Schema.decodeUnknown(RegistryYaml)(raw).pipe(
      Effect.mapError((e) => new AquaRegistryError({ message: `aqua registry ${where} has no packages list: ${e.message}`, cause: e }))
    )
    const byId = new Map<string, unknown>()
    const aliases = new Map<string, string>()
    for (const row of doc.packages) {
      if (!isRecord(row)) continue
      const id = packageId(row)
      if (id === undefined) continue
      byId.set(id, row)
      for (const alias of Array.isArray(row["aliases"]) ? row["aliases"] : []) {
        if (isRecord(alias) && typeof alias["name"] === "string") aliases.set(alias["name"], id)
      }
    }
    for (const id of byId.keys()) aliases.delete(id)
    return { byId, aliases }
  })

/** A package found in a registry, with where it came from (for messages). */
export interface FoundPackage {
  readonly id: string
  readonly pkg: AquaPackage
  readonly source: string
}

const lookup = (index: Index, id: string, where: string): Effect.Effect<FoundPackage | undefined, AquaRegistryError> => {
  const canonical = index.byId.has(id) ? id : index.aliases.get(id)
  if (canonical === undefined) return Effect.succeed(undefined)
  return Schema.decodeUnknown(AquaPackageSchema)(index.byId.get(canonical)).pipe(
    Effect.map((pkg) => ({ id: canonical, pkg, source: where })),
    Effect.mapError((e) => new AquaRegistryError({ message: `the entry for ${canonical} in aqua registry ${where} is malformed: ${e.message}`, cause: e }))
  )
}

const isYamlFile = (location: string) => /\.ya?ml$/i.test(location)

/** Package ids name registry paths (`pkgs/<id>/registry.yaml`): plain segments only. */
const ID_SHAPE = /^[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)+$/

export interface AquaRegistry {
  /** The package `id` (or an alias of it) from the first configured registry that has it. */
  readonly find: (id: string, ctx: BackendContext) => Effect.Effect<FoundPackage, AquaRegistryError>
}

/**
 * Reads aqua registries: a local or http(s) `registry.yaml`, or a directory laid out like aqua-registry
 * (`pkgs/<owner>/<repo>/registry.yaml`, with the merged `registry.yaml` at its root for aliases). Each file is read
 * once per instance.
 */
export const makeAquaRegistry = (downloader: DownloaderShape): AquaRegistry => {
  const indexes = new Map<string, Effect.Effect<Index | undefined, AquaRegistryError>>()

  /** A file's text, or undefined when it does not exist (404 / ENOENT). */
  const read = (location: string): Effect.Effect<string | undefined, AquaRegistryError> =>
    /^https?:\/\//i.test(location)
      ? downloader.fetchText(location).pipe(
        Effect.map((r) => r.body),
        Effect.catchIf((e) => e.status === 404, () => Effect.succeed(undefined)),
        Effect.mapError((e) => new AquaRegistryError({ message: `cannot read aqua registry ${location}: ${e.message}`, cause: e }))
      )
      : Effect.tryPromise({
        try: () => fsp.readFile(location, "utf8").catch((e: NodeJS.ErrnoException) => (e.code === "ENOENT" ? undefined : Promise.reject(e))),
        catch: (e) => new AquaRegistryError({ message: `cannot read aqua registry ${location}: ${String(e)}`, cause: e })
      })

  const indexAt = (location: string) => {
    let cached = indexes.get(location)
    if (cached === undefined) {
      cached = Effect.cached(
        Effect.flatMap(read(location), (text) => (text === undefined ? Effect.succeed(undefined) : indexOf(text, location)))
      ).pipe(Effect.runSync)
      indexes.set(location, cached)
    }
    return cached
  }

  const join = (base: string, ...parts: ReadonlyArray<string>) =>
    /^https?:\/\//i.test(base) ? `${base.replace(/\/+$/, "")}/${parts.join("/")}` : NodePath.join(base, ...parts)

  /** The package in one source, undefined when that source does not have it. */
  const findIn = (source: string, id: string): Effect.Effect<FoundPackage | undefined, AquaRegistryError> =>
    Effect.gen(function*() {
      const base = /^file:\/\//i.test(source) ? fileURLToPath(source) : source
      if (!/^https?:\/\//i.test(base)) {
        const stat = yield* Effect.promise(() => fsp.stat(base).catch(() => undefined))
        if (stat === undefined) return yield* new AquaRegistryError({ message: `aqua registry ${source} does not exist` })
        if (stat.isFile()) return yield* fromFile(base, id, source)
      } else if (isYamlFile(base)) {
        return yield* fromFile(base, id, source)
      }
      if (ID_SHAPE.test(id) && !id.split("/").includes("..")) {
        const own = yield* indexAt(join(base, "pkgs", ...id.split("/"), "registry.yaml"))
        const found = own === undefined ? undefined : yield* lookup(own, id, join(base, "pkgs", ...id.split("/"), "registry.yaml"))
        if (found !== undefined) return found
      }
      for (const name of ["registry.yaml", "registry.yml"]) {
        const merged = yield* indexAt(join(base, name))
        if (merged !== undefined) return yield* lookup(merged, id, join(base, name))
      }
      return undefined
    })

  const fromFile = (location: string, id: string, source: string) =>
    Effect.flatMap(indexAt(location), (index) =>
      index === undefined
        ? Effect.fail(new AquaRegistryError({ message: `aqua registry ${source} does not exist (HTTP 404 or no such file)` }))
        : lookup(index, id, source))

  return {
    find: (id, ctx) =>
      Effect.gen(function*() {
        const sources = yield* registrySources(ctx)
        for (const source of sources) {
          const found = yield* findIn(source, id)
          if (found !== undefined) return found
        }
        return yield* new AquaRegistryError({
          message: `package ${id} is not in the aqua registry (searched ${sources.join(", ")}); check the name: aqua packages are ` +
            `named <owner>/<repo> as in pkgs/<owner>/<repo>/registry.yaml`
        })
      })
  }
}
