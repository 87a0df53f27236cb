import { Effect } from "effect"
import type { Backend, ToolRequest } from "../Backend"
import type { DownloaderShape } from "../Downloader"
import { BUN_SETTINGS, makeBun } from "./Bun"
import { type CoreTool, fail, makeUpstream } from "./CoreTool"
import { DENO_SETTINGS, makeDeno } from "./Deno"
import { GO_SETTINGS, makeGo } from "./Go"
import { JAVA_SETTINGS, makeJava } from "./Java"
import { NODE_SETTINGS, makeNode } from "./Node"
import { PYTHON_SETTINGS, makePython } from "./Python"
import { ZIG_SETTINGS, makeZig } from "./Zig"

export const CORE_TOOL_NAMES = ["bun", "deno", "go", "java", "node", "python", "zig"] as const

export const coreInfo = {
  id: "core",
  specForm: "<core tool>, e.g. node",
  options: [],
  settings: [...BUN_SETTINGS, ...DENO_SETTINGS, ...GO_SETTINGS, ...JAVA_SETTINGS, ...NODE_SETTINGS, ...PYTHON_SETTINGS, ...ZIG_SETTINGS],
  description: `mise's core tools ${CORE_TOOL_NAMES.join(", ")} from their upstream downloads, checksummed; mirrors via settings`
} as const

/** The `core` backend: bare `node`, `go`, ... dispatched to one CoreTool each, all downloading through `downloader`. */
export const makeCoreBackend = (downloader: DownloaderShape): Backend => {
  const upstream = makeUpstream(downloader)
  const tools = new Map<string, CoreTool>(
    [makeBun, makeDeno, makeGo, makeJava, makeNode, makePython, makeZig].map((make) => {
      const tool = make(upstream)
      return [tool.name, tool] as const
    })
  )
  const toolFor = (tool: ToolRequest) => {
    const found = tools.get(tool.name)
    return found !== undefined ? Effect.succeed(found) : Effect.fail(fail(
      tool,
      `engine has no core plugin for ${tool.name} yet (core tools: ${CORE_TOOL_NAMES.join(", ")}); ` +
        `install it through another backend, e.g. "github:<owner>/${tool.name}" or "http:${tool.name}"`
    ))
  }
  return {
    ...coreInfo,
    listVersions: (tool, ctx) => Effect.flatMap(toolFor(tool), (t) => t.listVersions(tool, ctx)),
    resolveVersion: (tool, ctx) => Effect.flatMap(toolFor(tool), (t) => t.resolveVersion(tool, ctx)),
    install: (tool, dir, ctx) => Effect.flatMap(toolFor(tool), (t) => t.install(tool, dir, ctx)),
    binPaths: (tool, dir) => Effect.map(toolFor(tool), (t) => t.binPaths(dir)),
    execEnv: (tool, dir, ctx) => Effect.map(toolFor(tool), (t) => t.execEnv(dir, ctx))
  }
}

export { type ChecksumSource, type CoreTool, makeUpstream, parseShasums, type Upstream } from "./CoreTool"
export { bunAsset, DEFAULT_BUN_INDEX, DEFAULT_BUN_MIRROR } from "./Bun"
export { DEFAULT_DENO_INDEX, DEFAULT_DENO_MIRROR, denoAsset } from "./Deno"
export { DEFAULT_GO_INDEX, DEFAULT_GO_MIRROR, goExecEnv, goTarball } from "./Go"
export { DEFAULT_ADOPTIUM_API } from "./Java"
export { DEFAULT_NODE_MIRROR, nodeMirror, nodeTarball, UNOFFICIAL_NODE_MIRROR } from "./Node"
export { DEFAULT_PYTHON_INDEX, DEFAULT_PYTHON_MIRROR, pythonBuilds, pythonPlatform } from "./Python"
export { DEFAULT_ZIG_INDEX, zigPlatform } from "./Zig"
