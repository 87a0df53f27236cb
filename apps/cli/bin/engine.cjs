#!/usr/bin/env node
"use strict"
// Start-up is on every warm build's path, so this launcher (1) answers `--version` without loading the bundle,
// (2) hands the command to this build's daemon when one runs (dist/client.cjs: a few KB, no Effect), and otherwise
// (3) loads the bundle with V8's code cache (written by `npm run build`), skipping most of the compile of 1.7 MB of JS,
// and starts the daemon in the background when this command is done, for the next one.
const argv = process.argv.slice(2)
if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-v")) {
  process.stdout.write(require("../package.json").version + "\n")
  return
}
const fs = require("node:fs")
const path = require("node:path")

const dist = path.join(__dirname, "..", "dist")

const runLocal = () => {
  const vm = require("node:vm")
  const Module = require("node:module")
  const file = path.join(dist, "engine.cjs")
  const cacheFile = `${file}.v8cache`
  // The bundle is ASCII (the build checks): latin1 makes the same string as utf8 without the UTF-8 decoder.
  const source = fs.readFileSync(file, "latin1")
  let cachedData
  try {
    cachedData = fs.readFileSync(cacheFile)
  } catch {
    cachedData = undefined
  }
  const importModuleDynamically = vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER
  const script = new vm.Script(Module.wrap(source), { filename: file, cachedData, importModuleDynamically })
  const bundle = new Module(file, module)
  bundle.filename = file
  bundle.paths = Module._nodeModulePaths(path.dirname(file))
  // `npm run build` runs a build with this variable to record the cache, at exit: it then holds the functions the
  // command compiled too, not only the bundle's top level. A rejected cache (another node) is just slower.
  if (process.env.ENGINE_WRITE_CODE_CACHE === "1") process.once("exit", () => fs.writeFileSync(cacheFile, script.createCachedData()))
  script.runInThisContext().call(bundle.exports, bundle.exports, Module.createRequire(file), bundle, file, path.dirname(file))
}

let client
try {
  client = require(path.join(dist, "client.cjs"))
} catch {
  client = undefined
}
if (client === undefined || !client.daemonEnabled(process.env) || !client.servedByDaemon(argv)) {
  runLocal()
} else {
  let where
  try {
    where = client.locate(dist)
  } catch {
    where = undefined
  }
  if (where === undefined) runLocal()
  else {
    client.exchange(where.socket, client.runRequest(argv)).then((outcome) => {
      if (outcome.kind === "exit") return process.exit(outcome.code)
      // No daemon yet: start one once this command is done, so it does not compete with it for the cores.
      if (outcome.kind === "unavailable") process.once("exit", () => client.startDaemon(__filename, where.dir, where.socket))
      runLocal()
    })
  }
}
