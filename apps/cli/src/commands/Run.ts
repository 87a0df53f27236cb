import { Args, Command, Options } from "@effect/cli"
import { runContainer } from "@engine/engine"
import { Effect, Option } from "effect"
import { buildFlagsGiven, imageFlags, toImageBuildOptions } from "../BuildFlags"

const command = Args.text({ name: "CMD" }).pipe(
  Args.atLeast(1),
  Args.withDescription("The command to run in the container, after `--`")
)
const engineChoice = Options.choice("engine", ["auto", "podman", "docker"]).pipe(
  Options.withDescription("Container engine: auto prefers podman, then docker"),
  Options.withDefault("auto" as const)
)
const interactive = Options.boolean("interactive").pipe(Options.withAlias("i"), Options.withDescription("Keep stdin open"))
const tty = Options.boolean("tty").pipe(Options.withAlias("t"), Options.withDescription("Allocate a terminal"))
const env = Options.text("env").pipe(Options.withAlias("e"), Options.withDescription("K=V in the container (repeatable)"), Options.repeated)
const volume = Options.text("volume").pipe(
  Options.withAlias("mount"),
  Options.withDescription("HOST:CONTAINER bind mount (repeatable)"),
  Options.repeated
)
const workdir = Options.text("workdir").pipe(Options.withAlias("w"), Options.withDescription("Working directory in the container"), Options.optional)
const keep = Options.boolean("keep").pipe(Options.withDescription("Keep the container and the loaded image"))
const imageDir = Options.directory("image-dir").pipe(
  Options.withDescription("Run this OCI image layout instead of building one"),
  Options.optional
)
const engineArg = Options.text("engine-arg").pipe(
  Options.withDescription("An argument put before the engine's subcommand on every call, e.g. --engine-arg=--runtime=runc (repeatable)"),
  Options.repeated
)

export const runCommand = Command.make(
  "run",
  { engineChoice, interactive, tty, env, volume, workdir, keep, imageDir, engineArg, ...imageFlags, command },
  (o) =>
    Effect.gen(function*() {
      const code = yield* runContainer({
        engine: o.engineChoice,
        interactive: o.interactive,
        tty: o.tty,
        env: o.env,
        volumes: o.volume,
        workdir: Option.getOrUndefined(o.workdir),
        keep: o.keep,
        imageDir: Option.getOrUndefined(o.imageDir),
        engineArgs: o.engineArg,
        command: o.command,
        build: { ...toImageBuildOptions(o), quiet: true },
        buildFlagsGiven: buildFlagsGiven(o)
      })
      process.exitCode = code
    })
).pipe(Command.withDescription("Build the image (or take --image-dir), load it into podman or docker and run CMD in it"))
