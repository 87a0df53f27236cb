// Bundles the CLI into one CommonJS file so `engine` starts without resolving hundreds of modules.
import { build } from "esbuild"
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const here = fileURLToPath(new URL(".", import.meta.url))

/**
 * CommonJS packages that only some commands call (config-file formats of @effect/cli, archive readers, semver,
 * dotenv): bundled, but evaluated on first use. Each import is answered by a stand-in module exporting the
 * package's functions as forwarders; a build that needs one of its non-function exports fails here, loudly.
 */
const LAZY = ["fast-check", "yaml", "toml", "ini", "tar-stream", "yauzl", "semver", "dotenv", "fzstd", "unbzip2-stream"]
const lazyPackages = {
  name: "lazy-packages",
  setup(b) {
    const filter = new RegExp(`^(${LAZY.map((n) => n.replace(/[-/]/g, "\\$&")).join("|")})$`)
    b.onResolve({ filter }, (args) =>
      args.namespace === "lazy" ? undefined : { path: args.path, namespace: "lazy", pluginData: { resolveDir: args.resolveDir } })
    b.onLoad({ filter: /.*/, namespace: "lazy" }, (args) => {
      const { resolveDir } = args.pluginData
      const real = createRequire(join(resolveDir, "x.js"))(args.path)
      const names = Object.keys(real).filter((k) => typeof real[k] === "function" && /^[A-Za-z_$][\w$]*$/.test(k) && k !== "default")
      const contents = [
        `let real`,
        `const load = () => (real ??= require(${JSON.stringify(args.path)}))`,
        `const forward = (name) => function (...args) { const f = load()[name]; return new.target ? Reflect.construct(f, args) : f.apply(this, args) }`,
        ...names.map((k) => `export const ${k} = forward(${JSON.stringify(k)})`),
        `export default new Proxy(function () {}, { get: (_, k) => load()[k], has: (_, k) => k in load(), apply: (_, self, args) => load().apply(self, args), construct: (_, args) => Reflect.construct(load(), args) })`
      ].join("\n")
      return { contents, loader: "js", resolveDir }
    })
  }
}

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
  // So an import()ed module (each backend) is wrapped and evaluated on first use, not at start-up.
  supported: { "dynamic-import": false },
  plugins: [lazyPackages],
  logLevel: "warning"
})

// The daemon's Node client, alone: `bin/engine.cjs` loads it before (and often instead of) the bundle.
await build({
  entryPoints: [`${here}src/daemon/Client.ts`],
  outfile: `${here}dist/client.cjs`,
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  minify: true,
  logLevel: "warning"
})

// The launcher reads the bundle as latin1 (no UTF-8 decoding at start-up): that is the same string only for ASCII,
// which esbuild writes by default (charset: ascii escapes the rest).
if (readFileSync(`${here}dist/engine.cjs`).some((byte) => byte > 0x7f)) throw new Error("dist/engine.cjs is not ASCII: bin/engine.cjs reads it as latin1")

// This build's id: its daemon's socket is named after it, so a client never talks to a daemon of another build.
const buildId = createHash("sha256").update(readFileSync(`${here}dist/engine.cjs`)).digest("hex").slice(0, 16)
writeFileSync(`${here}dist/build-id`, `${buildId}\n`)

// Record V8's code cache for the launcher (bin/engine.cjs) by running the CLI once; stale caches are removed first.
rmSync(`${here}dist/engine.cjs.v8cache`, { force: true })
// The cache is written when that process exits, so it holds what the command compiled as well: the command is a build
// (the usual one) of a one-tool project from a local dir, offline, in a temp dir (a few percent off every later start).
const recording = mkdtempSync(join(tmpdir(), "engine-code-cache-"))
try {
  mkdirSync(join(recording, "project", "tool", "bin"), { recursive: true })
  writeFileSync(join(recording, "project", "tool", "bin", "hello"), "#!/bin/sh\necho hello\n", { mode: 0o755 })
  writeFileSync(join(recording, "project", "mise.toml"), `[tools]\n"http:hello" = "path:./tool"\n`)
  execFileSync(process.execPath, [`${here}bin/engine.cjs`, "build", "--from", "scratch", "--no-mise", "-q", "-o", "out"], {
    cwd: join(recording, "project"),
    env: {
      ...process.env,
      ENGINE_WRITE_CODE_CACHE: "1",
      ENGINE_DAEMON: "0",
      HOME: recording,
      ENGINE_CACHE_DIR: join(recording, "cache"),
      ENGINE_DATA_DIR: join(recording, "data"),
      MISE_DATA_DIR: join(recording, "data"),
      MISE_CONFIG_DIR: join(recording, "config"),
      XDG_CONFIG_HOME: join(recording, "config")
    },
    stdio: "ignore"
  })
} catch (e) {
  // The cache is written at exit all the same; only what the build compiled before failing is missing from it.
  console.warn(`build: recording the code cache, the sample build failed (${e.message.split("\n")[0]}); start-up may be slower`)
} finally {
  rmSync(recording, { recursive: true, force: true })
}

// The native client (bin/engine runs it when present): a warm `engine` through the daemon without starting Node.
// Where there is no C compiler, bin/engine uses bin/engine.cjs, which talks to the daemon too.
rmSync(`${here}dist/engine-client`, { force: true })
const cc = process.env.CC ?? "cc"
try {
  execFileSync(cc, ["-O2", "-Wall", "-Werror", `-DENGINE_BUILD_ID="${buildId}"`, "-o", `${here}dist/engine-client.tmp`, `${here}client/engine-client.c`], {
    stdio: ["ignore", "ignore", "inherit"]
  })
  renameSync(`${here}dist/engine-client.tmp`, `${here}dist/engine-client`)
} catch (e) {
  console.warn(`build: no native client (${cc}: ${e.message.split("\n")[0]}); bin/engine will start Node for every command`)
}
