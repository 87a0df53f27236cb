// Bundles the CLI into one CommonJS file so `engine` starts without resolving hundreds of modules.
import { build } from "esbuild"
import { execFileSync } from "node:child_process"
import { rmSync } from "node:fs"
import { fileURLToPath } from "node:url"

const here = fileURLToPath(new URL(".", import.meta.url))

await build({
  entryPoints: [`${here}src/main.ts`],
  outfile: `${here}dist/engine.cjs`,
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  minify: true,
  sourcemap: "linked",
  // Loaded at run time from node_modules, and only by the commands that need them.
  external: ["@napi-rs/lzma", "@napi-rs/lzma/*", "undici", "@aws-sdk/*", "@smithy/*"],
  // The launcher runs the bundle through vm.Script (for the code cache), which has no dynamic import(): use require.
  supported: { "dynamic-import": false },
  logLevel: "warning"
})

// Record V8's code cache for the launcher (bin/engine.cjs) by running the CLI once; stale caches are removed first.
rmSync(`${here}dist/engine.cjs.v8cache`, { force: true })
execFileSync(process.execPath, [`${here}bin/engine.cjs`, "backends"], {
  env: { ...process.env, ENGINE_WRITE_CODE_CACHE: "1" },
  stdio: "ignore"
})
