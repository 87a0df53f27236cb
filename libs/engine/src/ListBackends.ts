import { builtinBackends } from "@engine/backends"

/** What `engine backends` prints: every built-in backend with its spec form and options. */
export const listBackends = () =>
  builtinBackends.map((b) => ({ id: b.id, specForm: b.specForm, options: b.options, description: b.description }))
