// Bundles the CLI into one CommonJS file so `engine` starts without resolving hundreds of modules.
import { build } from "esbuild"
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
  external: ["@napi-rs/lzma", "@napi-rs/lzma/*"],
  logLevel: "warning"
})
