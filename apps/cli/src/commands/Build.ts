import { Command, Options } from "@effect/cli"
import { build, type BuildResult } from "@engine/engine"
import { Console, Effect, Option } from "effect"
import { cd, includeGlobal, json } from "../Shared"

const output = Options.text("output").pipe(
  Options.withAlias("o"),
  Options.withDescription("Output directory for the OCI image layout"),
  Options.withDefault("./mise-oci")
)
const from = Options.text("from").pipe(
  Options.withDescription("Base image reference (overrides [oci].from and oci.default_from); `scratch` for none"),
  Options.optional
)
const tag = Options.text("tag").pipe(
  Options.withAlias("t"),
  Options.withDescription("Tag written to index.json as org.opencontainers.image.ref.name"),
  Options.optional
)
const mountPoint = Options.text("mount-point").pipe(
  Options.withDescription("Where tool installs live inside the image (default /mise); must be absolute"),
  Options.optional
)
const noMise = Options.boolean("no-mise").pipe(Options.withDescription("Do not embed a mise binary at /usr/local/bin/mise"))
const miseBin = Options.file("mise-bin").pipe(
  Options.withDescription("The mise binary to embed (default: `mise` found on PATH)"),
  Options.optional
)
const owner = Options.text("owner").pipe(
  Options.withDescription("UID[:GID] owning the tool files in the image (default [oci].user_id/group_id, else 0:0)"),
  Options.optional
)
const copy = Options.text("copy").pipe(
  Options.withDescription("HOST:IMAGE — copy a host file or dir into the image (repeatable)"),
  Options.repeated
)
const noCache = Options.boolean("no-cache").pipe(Options.withDescription("Rebuild every layer, ignoring the local cache"))

export const buildCommand = Command.make(
  "build",
  { output, from, tag, mountPoint, noMise, miseBin, owner, copy, includeGlobal, noCache, json, cd },
  (o) =>
    Effect.gen(function*() {
      const result = yield* build({
        cwd: Option.getOrElse(o.cd, () => process.cwd()),
        output: o.output,
        from: Option.getOrUndefined(o.from),
        tag: Option.getOrUndefined(o.tag),
        mountPoint: Option.getOrUndefined(o.mountPoint),
        noMise: o.noMise,
        miseBin: Option.getOrUndefined(o.miseBin),
        owner: Option.getOrUndefined(o.owner),
        copies: o.copy,
        includeGlobal: o.includeGlobal,
        noCache: o.noCache,
        env: process.env
      })
      yield* o.json ? Console.log(JSON.stringify(result, null, 2)) : Console.log(renderBuild(result))
    })
).pipe(Command.withDescription("Build an OCI image layout from the project's mise.toml, one layer per tool"))

const renderBuild = (r: BuildResult): string => {
  const lines = [`wrote OCI image layout to ${r.outputDir}`, `manifest: ${r.manifestDigest}`, "tool layers:"]
  for (const l of r.layers) {
    if (l.kind === "tool") lines.push(`  ${l.tool}@${l.version}  ${l.digest.slice(0, 19)}  ${l.size} bytes`)
  }
  return lines.join("\n")
}
