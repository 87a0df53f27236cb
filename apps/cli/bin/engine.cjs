#!/usr/bin/env node
"use strict"
// `--version` is answered before the bundle loads: a build tool's start-up is on every warm build's path.
const argv = process.argv.slice(2)
if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-v")) {
  process.stdout.write(require("../package.json").version + "\n")
} else {
  require("../dist/engine.cjs")
}
