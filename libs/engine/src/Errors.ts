/** How the CLI turns any engine failure into one line and an exit code (documented in the README). */
export const EXIT = { ok: 0, failure: 1, usage: 2, config: 3, install: 4, internal: 70 } as const

const hasTag = (e: unknown): e is { readonly _tag: string; readonly message?: unknown } =>
  typeof e === "object" && e !== null && "_tag" in e && typeof (e as { _tag: unknown })._tag === "string"

export const exitCodeOf = (error: unknown): number => {
  if (!hasTag(error)) return EXIT.failure
  switch (error._tag) {
    case "ConfigError":
      return EXIT.config
    case "InstallError":
    case "BackendError":
      return EXIT.install
    case "BuildError":
      return (error as { reason?: string }).reason === "Usage" ? EXIT.usage : EXIT.failure
    default:
      return EXIT.failure
  }
}

export const messageOf = (error: unknown): string => {
  if (hasTag(error) && typeof error.message === "string" && error.message !== "") return error.message
  if (error instanceof Error) return error.message
  return String(error)
}
