import { FileSystem } from "@effect/platform"
import { Effect } from "effect"
import * as NodePath from "node:path"
import type { Reference } from "@engine/registry"
import { parseBase } from "./BaseImage"
import { BuildError } from "./BuildError"
import { parseCopy, parseOwner, type Project, validateMountPoint } from "./config"

export interface Owner {
  readonly uid: number
  readonly gid: number
}

export interface CopySpec {
  readonly host: string
  readonly image: string
}

/** Everything about the image that is decided before any tool is touched. */
export interface ImagePlan {
  /** As typed (CLI, `[oci].from` or `oci.default_from`); `scratch` or empty for none. */
  readonly from: string
  /** The parsed base reference; undefined for scratch. */
  readonly base: Reference | undefined
  readonly mountPoint: string
  readonly owner: Owner
  readonly tag?: string | undefined
  readonly copies: ReadonlyArray<CopySpec>
  readonly miseBinary?: string | undefined
  readonly oci: {
    readonly env: ReadonlyArray<readonly [string, string]>
    readonly labels: ReadonlyArray<readonly [string, string]>
    readonly user?: string | undefined
    readonly entrypoint?: ReadonlyArray<string> | undefined
    readonly cmd?: ReadonlyArray<string> | undefined
    readonly workdir?: string | undefined
  }
}

export interface PlanOptions {
  readonly cwd: string
  readonly from?: string | undefined
  readonly tag?: string | undefined
  readonly mountPoint?: string | undefined
  readonly owner?: string | undefined
  readonly copies: ReadonlyArray<string>
  readonly noMise: boolean
  readonly miseBin?: string | undefined
  readonly env: Readonly<Record<string, string | undefined>>
}

/** CLI flags over `[oci]` over settings, validated with mise's rules and messages. */
export const planImage = (project: Project, opts: PlanOptions) =>
  Effect.gen(function*() {
    const oci = project.oci
    const settingFrom = project.settings["oci.default_from"]
    const from = opts.from ?? oci.from ?? (typeof settingFrom === "string" ? settingFrom : "debian:bookworm-slim")
    const base = yield* parseBase(from)
    const settingMount = project.settings["oci.default_mount_point"]
    const mountPoint = opts.mountPoint !== undefined
      ? yield* validateMountPoint(opts.mountPoint).pipe(Effect.mapError(usage("--mount-point")))
      : yield* validateMountPoint(oci.mount_point ?? (typeof settingMount === "string" ? settingMount : "/mise"), project.ociOrigins.mount_point)
    const owner: Owner = opts.owner !== undefined
      ? yield* parseOwner(opts.owner).pipe(Effect.mapError(usage("--owner")))
      : { uid: oci.user_id ?? 0, gid: oci.group_id ?? oci.user_id ?? 0 }
    const cliCopies = yield* Effect.forEach(opts.copies, (c) => parseCopy(c, opts.cwd).pipe(Effect.mapError(usage("--copy"))))
    const copies = [...(oci.copy ?? []), ...cliCopies].map((c) => ({ host: c.host, image: c.image }))
    const miseBinary = opts.noMise ? undefined : yield* findMise(opts.miseBin, opts.env)
    const plan: ImagePlan = {
      from,
      base,
      mountPoint,
      owner,
      tag: opts.tag ?? oci.tag,
      copies,
      miseBinary,
      oci: {
        env: oci.env ?? [],
        labels: oci.labels ?? [],
        user: oci.user,
        entrypoint: oci.entrypoint,
        cmd: oci.cmd,
        workdir: oci.workdir
      }
    }
    return plan
  })

/** A bad flag value is a usage error (exit 2), not a config error: no file is at fault. */
const usage = (flag: string) => (e: { readonly message: string }) =>
  new BuildError({ reason: "Usage", message: `${flag}: ${e.message}` })

/** `--mise-bin PATH`, else `mise` on PATH; none found is a warning, not an error (as mise). */
const findMise = (explicit: string | undefined, env: Readonly<Record<string, string | undefined>>) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    if (explicit !== undefined) {
      const ok = yield* fs.exists(explicit).pipe(Effect.orElseSucceed(() => false))
      if (!ok) return yield* new BuildError({ reason: "Usage", message: `--mise-bin ${explicit}: no such file` })
      return NodePath.resolve(explicit)
    }
    for (const dir of (env.PATH ?? "").split(":")) {
      if (dir === "") continue
      const candidate = NodePath.join(dir, "mise")
      const info = yield* fs.stat(candidate).pipe(Effect.option)
      if (info._tag === "Some" && info.value.type === "File" && (info.value.mode & 0o111) !== 0) {
        return yield* fs.realPath(candidate).pipe(Effect.orElseSucceed(() => candidate))
      }
    }
    process.stderr.write(
      "warning: could not locate a mise binary to embed in the image (none on PATH); pass --mise-bin PATH, or --no-mise to silence this\n"
    )
    return undefined
  })
