/** The default PATH mise appends when neither the base image nor `[env]` sets one. */
export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/**
 * An insertion-ordered env map with mise's IndexMap semantics: re-setting a key keeps
 * its first position, so a base image's PATH stays where the base put it.
 */
export class OrderedEnv {
  private readonly map = new Map<string, string>()

  set(key: string, value: string): void {
    this.map.set(key, value)
  }

  delete(key: string): void {
    this.map.delete(key)
  }

  get(key: string): string | undefined {
    return this.map.get(key)
  }

  toList(): Array<string> {
    return Array.from(this.map, ([k, v]) => `${k}=${v}`)
  }
}

export interface ImageEnvInput {
  /** The base image's `Env` entries as written (`K=V`); entries without `=` are dropped. */
  readonly base: ReadonlyArray<string>
  /** Resolved `[env]` vars in mise's order. */
  readonly projectEnv: ReadonlyArray<readonly [string, string]>
  /** `[env]` keys set to `false`: removed from what the base provided. */
  readonly unset: ReadonlyArray<string>
  /** Each tool's exec env, already rebased onto image paths, in toolset order. */
  readonly toolEnv: ReadonlyArray<readonly [string, string]>
  /** `[oci.env]`. */
  readonly ociEnv: ReadonlyArray<readonly [string, string]>
  /** Mount point inside the image, e.g. `/mise`. */
  readonly mountPoint: string
  /** Tool bin dirs inside the image, in toolset order. */
  readonly binPaths: ReadonlyArray<string>
}

/** The image config's `Env`, in the order mise 2026.9.15 writes it (behaviour §1). */
export const imageEnv = (input: ImageEnvInput): Array<string> => {
  const env = new OrderedEnv()
  for (const entry of input.base) {
    const eq = entry.indexOf("=")
    if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1))
  }
  for (const key of input.unset) env.delete(key)
  for (const [k, v] of input.projectEnv) env.set(k, v)
  for (const [k, v] of input.toolEnv) env.set(k, v)
  for (const [k, v] of input.ociEnv) env.set(k, v)
  env.set("MISE_DATA_DIR", input.mountPoint)
  env.set("MISE_CONFIG_DIR", "/etc/mise")
  const inherited = env.get("PATH") ?? DEFAULT_PATH
  const bins = dedupe(input.binPaths)
  env.set("PATH", bins.length > 0 ? `${bins.join(":")}:${inherited}` : inherited)
  return env.toList()
}

const dedupe = (xs: ReadonlyArray<string>): Array<string> => Array.from(new Set(xs))

/** Replace a host install path prefix by its image path in an env value (mise's rebase_path_value). */
export const rebasePathValue = (value: string, hostRoot: string, imageRoot: string): string =>
  value.split(":").map((part) =>
    part === hostRoot ? imageRoot : part.startsWith(hostRoot + "/") ? imageRoot + part.slice(hostRoot.length) : part
  ).join(":")
