import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/** A real temp directory filled from `{ "relative/path": "content" }`; the caller removes it. */
export const makeTree = (files: Readonly<Record<string, string>>): string => {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "engine-config-")))
  writeTree(root, files)
  return root
}

export const writeTree = (root: string, files: Readonly<Record<string, string>>): void => {
  for (const [relative, content] of Object.entries(files)) {
    const file = path.join(root, relative)
    fs.mkdirSync(path.dirname(file), { recursive: true })
    fs.writeFileSync(file, content)
  }
}

export const removeTree = (root: string): void => fs.rmSync(root, { recursive: true, force: true })
