import { Effect } from "effect"
import { treeEntries, writeLayer } from "../../src/index"

/** Child-process probe: builds one tool layer from argv[2] into argv[3] and reports the blob and peak RSS. */
const [root, tempDir] = process.argv.slice(2)
if (root === undefined || tempDir === undefined) {
  process.stderr.write("usage: memoryProbe <install dir> <temp dir>\n")
  process.exit(2)
}
const prefix = "mise/installs/http-big/1.0.0"
const program = treeEntries({ root, prefix, relocation: { hostRoot: root, imageRoot: `/${prefix}` } }).pipe(
  Effect.flatMap(({ entries }) => writeLayer(entries, { owner: { uid: 0, gid: 0 }, tempDir }))
)
Effect.runPromiseExit(program).then((exit) => {
  if (exit._tag === "Failure") {
    process.stderr.write(`${String(exit.cause)}\n`)
    process.exit(1)
  }
  process.stdout.write(JSON.stringify({ ...exit.value, maxRssKiB: process.resourceUsage().maxRSS }))
})
