import type { PythonInstall } from "@engine/layout"
import { createHash } from "node:crypto"

/** `dev.mise.layer.relocation` of every tool layer but pipx's: symlinks and shebangs rebased from the host dir. */
export const RELOCATION_VERSION = "2"

/** mise's core python (`python`, `core:python`): a pipx venv may link to it, so pipx layers relocate into it. */
export const isPythonTool = (tool: { readonly backend: string; readonly name: string }): boolean =>
  tool.backend === "core" && tool.name === "python"

export const isPipxTool = (tool: { readonly backend: string }): boolean => tool.backend === "pipx"

/** sha256 over the pythons sorted by (version, host, image), each field as a little-endian u64 length then its bytes. */
export const pythonFingerprint = (pythons: ReadonlyArray<PythonInstall>): string => {
  const hash = createHash("sha256")
  const sorted = [...pythons].sort((a, b) =>
    Buffer.compare(Buffer.from(a.version), Buffer.from(b.version)) ||
    Buffer.compare(Buffer.from(a.hostRoot), Buffer.from(b.hostRoot)) ||
    Buffer.compare(Buffer.from(a.imageRoot), Buffer.from(b.imageRoot))
  )
  for (const p of sorted) {
    for (const field of [p.version, p.hostRoot, p.imageRoot]) {
      const bytes = Buffer.from(field)
      const length = Buffer.alloc(8)
      length.writeBigUInt64LE(BigInt(bytes.length))
      hash.update(length).update(bytes)
    }
  }
  return hash.digest("hex")
}

/** The layer's relocation annotation as mise writes it: `2`, or `2:python=<fingerprint>` for pipx (its venvs link a python). */
export const relocationKey = (tool: { readonly backend: string }, pythons: ReadonlyArray<PythonInstall>): string =>
  isPipxTool(tool) ? `${RELOCATION_VERSION}:python=${pythonFingerprint(pythons)}` : RELOCATION_VERSION
