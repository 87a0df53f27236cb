import { Options } from "@effect/cli"
import type { BuildOptions } from "@engine/engine"
import { Option } from "effect"
import { cd, includeGlobal } from "./Shared"

/** The flags that decide what an image build does: `engine build` and `engine explain` take the same ones. */
export const buildFlags = {
  output: Options.text("output").pipe(
    Options.withAlias("o"),
    Options.withDescription("Output directory for the OCI image layout"),
    Options.withDefault("./mise-oci")
  ),
  from: Options.text("from").pipe(
    Options.withDescription("Base image reference (overrides [oci].from and oci.default_from); `scratch` for none"),
    Options.optional
  ),
  tag: Options.text("tag").pipe(
    Options.withAlias("t"),
    Options.withDescription("Tag written to index.json as org.opencontainers.image.ref.name"),
    Options.optional
  ),
  mountPoint: Options.text("mount-point").pipe(
    Options.withDescription("Where tool installs live inside the image (default /mise); must be absolute"),
    Options.optional
  ),
  noMise: Options.boolean("no-mise").pipe(Options.withDescription("Do not embed a mise binary at /usr/local/bin/mise")),
  miseBin: Options.file("mise-bin").pipe(
    Options.withDescription("The mise binary to embed (default: `mise` found on PATH)"),
    Options.optional
  ),
  owner: Options.text("owner").pipe(
    Options.withDescription("UID[:GID] owning the tool files in the image (default [oci].user_id/group_id, else 0:0)"),
    Options.optional
  ),
  copy: Options.text("copy").pipe(
    Options.withDescription("HOST:IMAGE — copy a host file or dir into the image (repeatable)"),
    Options.repeated
  ),
  includeGlobal,
  noCache: Options.boolean("no-cache").pipe(
    Options.withDescription(
      "Layer tasks neither read nor write the local cache: every layer is compressed again (installs and the layout still use it)"
    )
  ),
  force: Options.boolean("force").pipe(Options.withDescription("Run every task again, ignoring cache hits; results are still cached")),
  verify: Options.boolean("verify").pipe(
    Options.withDescription("Re-hash install trees and cached blobs instead of trusting file stats and sizes")
  ),
  cd
}

type Parsed = {
  readonly [K in keyof typeof buildFlags]: (typeof buildFlags)[K] extends Options.Options<infer A> ? A : never
}

/** `engine push` and `engine run` build into a temp dir they name and tag themselves: no `-o`, no `-t`. */
const { output: _output, tag: _tag, ...withoutOutput } = buildFlags
export const imageFlags = withoutOutput

type ImageParsed = Omit<Parsed, "output" | "tag">

export const toImageBuildOptions = (o: ImageParsed): Omit<BuildOptions, "output" | "tag"> => {
  const { output: _o, tag: _t, ...rest } = toBuildOptions({ ...o, output: "", tag: Option.none() })
  return rest
}

/** The build-only flags given, as mise names them in its conflicts with `--image-dir`. */
export const buildFlagsGiven = (o: ImageParsed): ReadonlyArray<string> => [
  ...(Option.isSome(o.from) ? ["--from"] : []),
  ...(Option.isSome(o.mountPoint) ? ["--mount-point"] : []),
  ...(o.noMise ? ["--no-mise"] : []),
  ...(Option.isSome(o.owner) ? ["--owner"] : []),
  ...(o.includeGlobal ? ["--include-global"] : []),
  ...(o.copy.length > 0 ? ["--copy"] : [])
]

export const toBuildOptions = (o: Parsed): BuildOptions => ({
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
  force: o.force,
  verify: o.verify,
  env: process.env
})
