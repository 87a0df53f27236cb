import { Data } from "effect"

/** Why a digest was refused; the message is mise's own wording so users see the same text from both tools. */
export class DigestError extends Data.TaggedError("DigestError")<{
  readonly reason: "MissingPrefix" | "BadHex" | "Mismatch"
  readonly input: string
  readonly expected?: string
  readonly message: string
}> {}

/** Every other failure of this package: reading a tree, writing a layer, reading or writing a layout. */
export class LayoutError extends Data.TaggedError("LayoutError")<{
  readonly reason: "Io" | "FileChanged" | "InvalidEntry" | "InvalidLayout" | "Decode" | "Digest"
  readonly message: string
  readonly path?: string
  readonly digest?: string
  readonly cause?: unknown
}> {}

/** Wraps a failed fs call with the path it touched ("cannot read /x: ENOENT…"), keeping an already-shaped LayoutError. */
export const ioError = (action: string, path: string) => (cause: unknown): LayoutError =>
  cause instanceof LayoutError
    ? cause
    : new LayoutError({ reason: "Io", message: `cannot ${action} ${path}: ${errorText(cause)}`, path, cause })

export const errorText = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

/** Maps whatever escaped an async producer onto LayoutError at the Effect boundary, keeping ones already shaped. */
export const asLayoutError = (what: string) => (cause: unknown): LayoutError =>
  cause instanceof LayoutError
    ? cause
    : new LayoutError({ reason: "Io", message: `${what}: ${errorText(cause)}`, cause })
