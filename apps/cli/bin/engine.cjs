#!/usr/bin/env node
"use strict"
// Start-up is on every warm build's path, so this launcher (1) answers `--version` without loading the bundle and
// (2) loads the bundle with V8's code cache (written by `npm run build`), skipping most of the compile of 1.6 MB of JS.
const argv = process.argv.slice(2)
if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-v")) {
  process.stdout.write(require("../package.json").version + "\n")
  return
}
const fs = require("node:fs")
const path = require("node:path")
const vm = require("node:vm")
const Module = require("node:module")

const file = path.join(__dirname, "..", "dist", "engine.cjs")
const cacheFile = `${file}.v8cache`
const source = fs.readFileSync(file, "utf8")
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
script.runInThisContext().call(bundle.exports, bundle.exports, Module.createRequire(file), bundle, file, path.dirname(file))
// `npm run build` runs the CLI once with this variable to record the cache; a rejected cache (other node) is just slower.
if (process.env.ENGINE_WRITE_CODE_CACHE === "1") fs.writeFileSync(cacheFile, script.createCachedData())
