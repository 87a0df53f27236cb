import { Data } from "effect"

/** A build that cannot go on; the message says what to do. */
export class BuildError extends Data.TaggedError("BuildError")<{
  readonly reason: "Usage" | "Unsupported" | "Io" | "Layout"
  readonly message: string
  readonly cause?: unknown
}> {}

/** A tool whose install failed or could not start; names the tool and what went wrong. */
export class InstallError extends Data.TaggedError("InstallError")<{
  readonly tool: string
  readonly message: string
  readonly cause?: unknown
}> {}
