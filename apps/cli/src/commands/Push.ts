import { Args, Command, Options } from "@effect/cli"
import { push, type PushOutcome } from "@engine/engine"
import { Console, Effect, Option } from "effect"
import { buildFlagsGiven, imageFlags, toImageBuildOptions } from "../BuildFlags"
import { withProgress } from "../Progress"
import { json } from "../Shared"

const destination = Args.text({ name: "REF" }).pipe(
  Args.withDescription("Where to push, fully qualified: `ghcr.io/you/devenv:tag`, `127.0.0.1:5000/x/y:tag`")
)
const imageDir = Options.directory("image-dir").pipe(
  Options.withDescription("Push this OCI image layout instead of building one"),
  Options.optional
)
const cacheFrom = Options.text("cache-from").pipe(
  Options.withDescription("Reuse unchanged tool layers from this image (same repository) instead of the destination's current one"),
  Options.optional
)
const updateIndex = Options.boolean("update-index").pipe(
  Options.withDescription("Push the manifest by digest and add or replace this platform's entry in the image index at the tag")
)

export const pushCommand = Command.make(
  "push",
  { destination, imageDir, cacheFrom, updateIndex, ...imageFlags, json },
  (o) =>
    Effect.gen(function*() {
      const result = yield* withProgress(false, (hooks) =>
        push({
          destination: o.destination,
          imageDir: Option.getOrUndefined(o.imageDir),
          cacheFrom: Option.getOrUndefined(o.cacheFrom),
          updateIndex: o.updateIndex,
          build: { ...toImageBuildOptions(o), ...hooks },
          buildFlagsGiven: buildFlagsGiven(o)
        }))
      yield* Console.log(o.json ? JSON.stringify({ ...result, build: undefined }, null, 2) : renderPush(result))
    })
).pipe(Command.withDescription("Build the image (or take --image-dir) and push it to a registry"))

/** mise's summary line, then the index line with --update-index. */
export const renderPush = (r: PushOutcome): string => {
  const extras = [
    ...(r.mounted > 0 ? [`${r.mounted} mounted from base repo`] : []),
    ...(r.reused > 0 ? [`${r.reused} tool layer(s) reused from previous image`] : [])
  ]
  const line = `pushed ${r.manifestDigest} to ${r.destination} (${r.uploaded} blob(s) uploaded, ${r.present} already present${
    extras.map((e) => `, ${e}`).join("")
  })`
  return r.indexDigest !== undefined ? `${line}\nupdated image index: ${r.indexDigest}` : line
}
