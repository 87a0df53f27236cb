import { builtinBackends } from "@engine/backends"

/** What `engine backends` prints: every built-in backend with its spec form, options and settings. */
export const listBackends = () =>
  builtinBackends.map((b) => ({ id: b.id, specForm: b.specForm, options: b.options, settings: b.settings ?? [], description: b.description }))
