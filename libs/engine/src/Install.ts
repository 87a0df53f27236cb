import { Effect } from "effect"
import * as NodePath from "node:path"
import { loadProject } from "./config"
import { Paths } from "./Paths"
import { prepareTools } from "./Toolset"

export interface InstallOptions {
  readonly cwd: string
  readonly includeGlobal: boolean
  readonly env: Readonly<Record<string, string | undefined>>
}

export interface InstallResult {
  readonly tools: ReadonlyArray<{ tool: string; version: string; installDir: string; installed: boolean }>
}

/** `engine install`: resolve and install the project's tools, nothing else. */
export const install = (opts: InstallOptions) =>
  Effect.gen(function*() {
    const paths = yield* Paths
    const project = yield* loadProject({
      cwd: NodePath.resolve(opts.cwd),
      env: opts.env,
      home: paths.home,
      includeGlobal: opts.includeGlobal
    })
    const ctx = paths.backendContext(project.settings, opts.env, (m) => process.stderr.write(`warning: ${m}\n`))
    const tools = yield* prepareTools(project, ctx, { install: true })
    const result: InstallResult = {
      tools: tools.map((t) => ({
        tool: t.request.short,
        version: t.resolved.resolved,
        installDir: t.installDir,
        installed: t.installedNow
      }))
    }
    return result
  })
