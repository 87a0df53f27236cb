import { chmodSync, linkSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"

const rep = (c: string, n: number) => c.repeat(n)

/**
 * A deterministic install tree exercising every rule of mise's tool layers (ordering, modes, symlink rebasing,
 * long names and targets, non-ASCII and non-UTF-8 names, hardlinks, empty dirs, `#!` relocation).
 * `root` must not exist yet; its absolute path appears in link targets and shebangs, as in a real install.
 * `nonUtf8Names` adds a file whose name is not UTF-8, where we deliberately differ from mise.
 */
export const makeEdgeTree = (root: string, options: { readonly nonUtf8Names?: boolean } = {}): void => {
  const p = (...parts: Array<string>) => join(root, ...parts)
  const file = (rel: string, data: string | Uint8Array, mode = 0o644) => {
    writeFileSync(p(rel), data)
    chmodSync(p(rel), mode)
  }
  const link = (rel: string, target: string) => symlinkSync(target, p(rel))

  mkdirSync(root, { recursive: true })
  for (const d of ["bin", "a/b/c", "empty/nested/deeper", "e2", "sub", "deep/er"]) mkdirSync(p(d), { recursive: true })
  file("README", "hello\n")
  file("bin/hello", "#!/bin/sh\necho hello\n", 0o755)
  for (const n of ["B.txt", "_u.txt", "a/z.txt", "a-b.txt", "a.txt", "a.b", "10.txt", "9.txt", "A"]) file(n, `${n}\n`)

  // Symlinks: relative, absolute into the tree (also through links and `..`), to the root, outside, odd spellings.
  link("rel", "README")
  link("bin/abs_in", `${root}/bin/hello`)
  link("bin/abs_root", root)
  link("bin/abs_root_slash", `${root}/`)
  link("top_abs", `${root}/README`)
  link("a/b/c/deep_abs", `${root}/bin/hello`)
  link("a/b/c/deep_dir", `${root}/a/b`)
  link("deep/er/root", root)
  link("deep/root_dot", `${root}/.`)
  link("env", "/usr/bin/env")
  link("sib", `${root}x/y`)
  link("dbl", "a//b/./c")
  link("dotrel", "./README")
  link("slash", "/")
  link("dot", ".")
  link("dirslash", "bin/")
  link("dirlink", "bin")
  link("absdotdot", `${root}/bin/../README`)
  link("abs_via_link", `${root}/dirlink/hello`)
  link("abs_via_rel", `${root}/rel`)
  link("abs_nx_dotdot", `${root}/nonexistent/../README`)
  link("abs_escape", `${root}/bin/../../escape`)
  link("abs_lexical", `${root}//nx//a/./b/`)
  link("abs_trailing", `${root}/bin/`)
  link("abs_file_slash", `${root}/bin/hello/`)
  link("abs_loop", `${root}/abs_loop`)
  link("abs_out_via_in", `${root}/env`)
  link("abs_messy_prefix", `${root.replace(/\//g, "//")}/./nx/x`)
  link("abs_messy_exists", `/.${root.replace(/\//g, "/./")}//bin/hello`)

  // Long names (> 100 bytes with the 30-byte prefix `mise/installs/http-edge/1.0.0/`), boundaries at 100/101 bytes.
  file(`${rep("x", 120)}.txt`, "long")
  file(rep("q", 70), "exactly 100")
  file(rep("r", 71), "101")
  mkdirSync(p(rep("s", 69)))
  mkdirSync(p(rep("t", 70)))
  const d60 = rep("d", 60)
  mkdirSync(p(d60, d60), { recursive: true })
  file(`${d60}/${d60}/f.txt`, "deep")
  file(`${rep("u", 68)}日本語ファイル.txt`, "multi")
  mkdirSync(p(rep("v", 67)))
  file(`${rep("v", 67)}/.hidden_file_with_long_name`, "dot")
  const t130 = rep("t", 130)
  link("longlink", `../${t130}/target`)
  link("longabs", `${root}/${t130}/abs_target`)
  link("l100", rep("e", 100))
  link("l101", rep("f", 101))
  link("lutf", `${rep("g", 99)}日本`)
  link(`${rep("l", 110)}.lnk`, "README")
  link(`${rep("l", 110)}.lnk2`, `../${t130}`)

  // Names as raw bytes: non-ASCII UTF-8, spaces, and a byte sequence that is not UTF-8 at all.
  file("héllo-wörld-日本語.txt", "héllo\n")
  file("with space.txt", "sp\n")
  symlinkSync(Buffer.from("raw-\xfe-target", "latin1"), p("raw_target"))
  // mise renames such files through from_utf8_lossy (two names can collide); we keep the bytes, so it is opt-in here.
  if (options.nonUtf8Names === true) writeFileSync(Buffer.from(`${root}/raw-\xff\xfe-name`, "latin1"), "raw\n")

  // Modes: normalized to 0644/0755, special bits dropped.
  file("m600", "p\n", 0o600)
  file("m444", "p\n", 0o444)
  file("m750", "p\n", 0o750)
  file("m4711", "p\n", 0o4711)
  file("m001", "p\n", 0o001)
  mkdirSync(p("sticky"))
  chmodSync(p("sticky"), 0o1777)
  mkdirSync(p("priv"))
  file("priv/q", "q")
  chmodSync(p("priv"), 0o700)

  file("hard1", "hard\n")
  linkSync(p("hard1"), p("hard2"))
  linkSync(p("hard1"), p("sub/hard3"))
  file("zero", "")

  // `#!` relocation: only executables, only the first line, only when it ends in \n; lossy UTF-8.
  file("bin/script", `#!${root}/bin/python3\nprint('${root}')\n`, 0o755)
  file("bin/script_noexec", `#!${root}/bin/python3\nprint('${root}')\n`, 0o644)
  file("bin/multi", `#!/usr/bin/env ${root}/bin/x ${root}/y ${root}z\n${root}\n`, 0o755)
  file("bin/nonl", `#!${root}/bin/sh`, 0o755)
  file("bin/crlf", `#!${root}/bin/sh\r\necho ${root}\r\n`, 0o755)
  file("bin/space", ` #!${root}/bin/sh\n`, 0o755)
  file("bin/second", `#!/bin/sh\n# ${root}\n`, 0o755)
  file("bin/grponly", `#!${root}/bin/sh\n`, 0o610)
  file("bin/setuid_only", `#!${root}/bin/sh\n`, 0o4644)
  file("bin/rootonly", `#!${root}\n`, 0o755)
  file("bin/badutf", Buffer.concat([Buffer.from(`#!${root}/bin/sh`), Buffer.from([0xff, 0xfe, 0xed, 0xa0, 0x80, 0xe6, 0x97, 0x0a])]), 0o755)
  file("bin/badutf_norel", Buffer.from([0x23, 0x21, 0x2f, 0x62, 0xff, 0x0a]), 0o755)
  file("bin/long_line", `#!/usr/bin/env ${rep("p", 70000)} ${root}/bin/x\nrest ${root}\n`, 0o755)
  file("bin/nul", Buffer.concat([Buffer.from(`#!${root}/bin/sh`), Buffer.from([0, 0x7a, 0x0a])]), 0o755)
}
