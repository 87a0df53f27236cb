import { Effect } from "effect"
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { compatiblePython, isPythonInterpreterLink, type LayerEntry, type PythonInstall, pyvenvVersion, relocatePyvenv, treeEntries } from "../src/index"

const scratch = mkdtempSync(join(tmpdir(), "layout-python-"))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

const python = (version: string, dir = version): PythonInstall => ({
  version,
  hostRoot: join(scratch, "installs", "python", dir),
  imageRoot: `/mise/installs/python/${dir}`
})

describe("mise's pipx relocation rules, pure", () => {
  it("knows a venv's interpreter links by name", () => {
    expect(["python", "python3", "python3.11", "python3."].map(isPythonInterpreterLink)).toEqual([true, true, true, true])
    expect(["python2", "python3.11t", "pythonw", "python3-config"].map(isPythonInterpreterLink)).toEqual([false, false, false, false])
  })

  it("reads version (or version_info) from pyvenv.cfg", () => {
    expect(pyvenvVersion("home = /usr/bin\r\nversion = 3.11.2\r\n")).toBe("3.11.2")
    expect(pyvenvVersion("home=/x\nversion_info=3.12.1.final.0\n")).toBe("3.12.1.final.0")
    expect(pyvenvVersion("home = /x\n")).toBeUndefined()
  })

  it("picks the exact python, else the only one of the release, else the only one of the minor", () => {
    const a = python("3.11.2")
    const b = python("3.11.9")
    const c = python("3.12.1")
    expect(compatiblePython("3.11.9", [a, b, c])).toBe(b)
    expect(compatiblePython("3.12.1.final.0", [a, b, c])).toBe(c)
    expect(compatiblePython("3.12.4", [a, b, c])).toBe(c)
    // Two 3.11s: ambiguous, so the venv is left alone.
    expect(compatiblePython("3.11.7", [a, b, c])).toBeUndefined()
    expect(compatiblePython("3.13.0", [a, b, c])).toBeUndefined()
  })

  it("rewrites home, executable and command of pyvenv.cfg; other lines kept, CRs dropped", () => {
    const cfg = "home = /usr/bin\r\ninclude-system-site-packages = false\nversion = 3.11.2\nexecutable = /usr/bin/python3.11\n" +
      "command = /usr/bin/python3 -m venv --clear /data/x/shared\n"
    expect(relocatePyvenv(cfg, python("3.11.2"), "/mise/installs/pipx-x/1/shared")).toBe(
      "home = /mise/installs/python/3.11.2/bin\ninclude-system-site-packages = false\nversion = 3.11.2\n" +
        "executable = /mise/installs/python/3.11.2/bin/python\ncommand = /mise/installs/python/3.11.2/bin/python -m venv /mise/installs/pipx-x/1/shared\n"
    )
    // Without the venv's image dir the command line stays; a cfg already right is not rewritten at all.
    expect(relocatePyvenv("command = /usr/bin/python3 -m venv /x", python("3.11.2"), undefined)).toBeUndefined()
    expect(relocatePyvenv("home = /mise/installs/python/3.11.2/bin\n", python("3.11.2"), undefined)).toBeUndefined()
  })
})

describe("a pipx tree walked with the toolset's pythons", () => {
  const layout = () => {
    const root = join(scratch, "installs", "pipx-x", "1.0.0")
    const venv = join(root, "venvs", "x")
    const shared = join(root, "shared")
    mkdirSync(join(venv, "bin"), { recursive: true })
    mkdirSync(join(shared, "bin"), { recursive: true })
    mkdirSync(join(scratch, "installs", "python", "3.11.2", "bin"), { recursive: true })
    writeFileSync(join(scratch, "installs", "python", "3.11.2", "bin", "python3.11"), "")
    symlinkSync(join(scratch, "installs", "python", "3.11.2", "bin", "python3.11"), join(venv, "bin", "python3"))
    writeFileSync(join(venv, "pyvenv.cfg"), `home = ${join(scratch, "installs", "python", "3.11.2", "bin")}\nversion = 3.11.2\ncommand = x -m venv ${venv}\n`)
    writeFileSync(join(venv, "bin", "x"), `#!${venv}/bin/python\nimport x\n`, { mode: 0o755 })
    // Debian's pipx makes the shared venv with the system python: a link out of every install.
    symlinkSync("/usr/bin/python3", join(shared, "bin", "python3"))
    writeFileSync(join(shared, "pyvenv.cfg"), "home = /usr/bin\nversion = 3.11.2\ncommand = /usr/bin/python3 -m venv /elsewhere\n")
    return root
  }
  const root = layout()
  const prefix = "mise/installs/pipx-x/1.0.0"
  const walk = (pythons: ReadonlyArray<PythonInstall>) =>
    Effect.runPromise(treeEntries({ root, prefix, relocation: { hostRoot: root, imageRoot: `/${prefix}`, pythons } }))
  const entry = (entries: ReadonlyArray<LayerEntry>, rel: string) => entries.find((e) => e.path.toString() === `${prefix}/${rel}`)
  const text = (e: LayerEntry | undefined) =>
    e?.kind === "file" && e.source.type === "bytes" ? new TextDecoder().decode(e.source.data) : undefined

  it("links into a python go to its image dir; a system python link goes to the compatible python's bin/python", async () => {
    const { entries, warnings } = await walk([python("3.11.2")])
    const target = (rel: string) => {
      const e = entry(entries, rel)
      return e?.kind === "symlink" ? e.target.toString() : undefined
    }
    expect(target("venvs/x/bin/python3")).toBe("/mise/installs/python/3.11.2/bin/python3.11")
    expect(target("shared/bin/python3")).toBe("/mise/installs/python/3.11.2/bin/python")
    expect(warnings).toEqual([])
    expect(text(entry(entries, "venvs/x/pyvenv.cfg"))).toBe(
      "home = /mise/installs/python/3.11.2/bin\nversion = 3.11.2\ncommand = /mise/installs/python/3.11.2/bin/python -m venv /mise/installs/pipx-x/1.0.0/venvs/x\n"
    )
    expect(text(entry(entries, "shared/pyvenv.cfg"))).toContain("command = /mise/installs/python/3.11.2/bin/python -m venv /mise/installs/pipx-x/1.0.0/shared\n")
    const script = entry(entries, "venvs/x/bin/x")
    expect(script?.kind === "file" && script.source.type === "path" ? new TextDecoder().decode(script.source.replaceHead?.data) : undefined)
      .toBe(`#!/${prefix}/venvs/x/bin/python\n`)
  })

  it("without a python in the toolset the links are kept (with mise's warning) and pyvenv.cfg is left as it is", async () => {
    const { entries, warnings } = await walk([])
    const shared = entry(entries, "shared/bin/python3")
    expect(shared?.kind === "symlink" ? shared.target.toString() : undefined).toBe("/usr/bin/python3")
    expect(warnings).toEqual([
      `oci layer: symlink ${root}/shared/bin/python3 → /usr/bin/python3 has an absolute target outside the tool's install dir; it will be dangling inside the container`,
      `oci layer: symlink ${root}/venvs/x/bin/python3 → ${join(scratch, "installs", "python", "3.11.2", "bin", "python3.11")} has an absolute target outside the tool's install dir; it will be dangling inside the container`
    ])
    expect(entry(entries, "venvs/x/pyvenv.cfg")).toMatchObject({ source: { type: "path" } })
  })
})
