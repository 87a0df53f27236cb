import { execFileSync } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"

/** Writes a file, making its parent dirs, with an explicit mode. */
export const put = (file: string, content: string | Buffer, mode = 0o644): void => {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, content)
  fs.chmodSync(file, mode)
}

/** A deterministic .tar.gz of `dir` (GNU tar: sorted names, mtime 0, root owner, gzip -n). */
export const tarGz = (dir: string, out: string): string => {
  fs.mkdirSync(path.dirname(out), { recursive: true })
  const tar = execFileSync("tar", [
    "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-C", path.dirname(dir), "-cf", "-",
    path.basename(dir)
  ])
  fs.writeFileSync(out, execFileSync("gzip", ["-n", "-6"], { input: tar }))
  return out
}

export const sha256File = (file: string): string =>
  crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex")

/**
 * A `hello` tool as upstream would ship it: `hello-<v>/bin/hello` (a shell script printing its
 * version) and a README, packed as `hello-<v>.tar.gz` under `outDir`.
 */
export const makeHelloTool = (outDir: string, version: string): string => {
  const stage = fs.mkdtempSync(path.join(outDir, ".stage-"))
  const top = path.join(stage, `hello-${version}`)
  put(path.join(top, "bin", "hello"), `#!/bin/sh\necho "hello ${version}"\n`, 0o755)
  put(path.join(top, "README"), "hello!\n")
  const out = tarGz(top, path.join(outDir, `hello-${version}.tar.gz`))
  fs.rmSync(stage, { recursive: true })
  return out
}

/**
 * An install tree with every edge case the layer format must get right: relative, absolute-inside and
 * absolute-outside symlinks, long names and link targets, non-ASCII names, odd modes, hardlinks,
 * empty dirs, a zero-byte file and a `#!` script naming the install path.
 */
export const makeEdgeTree = (root: string): void => {
  fs.mkdirSync(root, { recursive: true })
  put(path.join(root, "bin", "edge"), `#!${root}/bin/sh-wrapper\necho edge\n`, 0o755)
  put(path.join(root, "bin", "sh-wrapper"), "#!/bin/sh\nexec /bin/sh \"$@\"\n", 0o755)
  put(path.join(root, "B.txt"), "B\n")
  put(path.join(root, "_u.txt"), "u\n")
  put(path.join(root, "a", "z.txt"), "z\n")
  put(path.join(root, "a-b.txt"), "ab\n")
  put(path.join(root, "a.txt"), "a\n")
  put(path.join(root, "10.txt"), "10\n")
  put(path.join(root, "9.txt"), "9\n")
  put(path.join(root, "private.txt"), "secret-ish\n", 0o600)
  put(path.join(root, "readonly.txt"), "ro\n", 0o444)
  put(path.join(root, "group-exec"), "#!/bin/sh\n", 0o750)
  put(path.join(root, "setuid"), "#!/bin/sh\n", 0o4711)
  put(path.join(root, "empty-file"), "")
  fs.mkdirSync(path.join(root, "empty", "nested"), { recursive: true })
  put(path.join(root, "héllo-wörld-日本語.txt"), "unicode\n")
  put(path.join(root, "with space.txt"), "space\n")
  const longDir = path.join(root, "d".repeat(60), "e".repeat(60))
  put(path.join(longDir, `${"f".repeat(120)}.txt`), "long\n")
  fs.symlinkSync("a.txt", path.join(root, "rel-link"))
  fs.symlinkSync("a", path.join(root, "dir-link"))
  fs.symlinkSync("missing-target", path.join(root, "dangling"))
  fs.symlinkSync(path.join(root, "bin", "edge"), path.join(root, "abs-in"))
  fs.symlinkSync("/usr/bin/env", path.join(root, "abs-out"))
  fs.symlinkSync(path.join("d".repeat(60), "e".repeat(60), `${"f".repeat(120)}.txt`), path.join(root, "long-target"))
  fs.linkSync(path.join(root, "a.txt"), path.join(root, "hard-a.txt"))
  fs.linkSync(path.join(root, "a.txt"), path.join(root, "a", "hard-cross.txt"))
}
