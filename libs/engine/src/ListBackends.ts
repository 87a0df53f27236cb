import { loadBuiltinBackends } from "@engine/backends"
import { Effect } from "effect"

/** What `engine backends` prints: every built-in backend with its spec form, options and settings. */
export const listBackends = loadBuiltinBackends.pipe(
  Effect.map((backends) =>
    backends.map((b) => ({ id: b.id, specForm: b.specForm, options: b.options, settings: b.settings ?? [], description: b.description }))
  )
)
