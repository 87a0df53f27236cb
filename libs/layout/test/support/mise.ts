import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { gunzipSync } from "node:zlib"

export const MISE_VERSION = "2026.9.15"

const CANDIDATES = [
  process.env.MISE_BIN,
  "/tmp/mise/node_modules/@jdxcode/mise/bin/mise",
  "/tmp/mise/node_modules/@jdxcode/mise/node_modules/@jdxcode/mise-linux-x64/bin/mise"
]

/** The real mise binary of the version we must match, or why there is none (shown as the skip reason). */
export const findMise = (): { readonly bin: string } | { readonly missing: string } => {
  for (const bin of CANDIDATES) {
    if (bin === undefined || !existsSync(bin)) continue
    const out = spawnSync(bin, ["--version"], { encoding: "utf8" })
    if (out.status === 0 && out.stdout.startsWith(MISE_VERSION)) return { bin }
  }
  return {
    missing:
      `no mise ${MISE_VERSION} binary found (set MISE_BIN, or: mkdir -p /tmp/mise && cd /tmp/mise && npm i @jdxcode/mise@${MISE_VERSION})`
  }
}

export interface MiseLayer {
  readonly mediaType: string
  readonly annotations: Record<string, string> | undefined
  readonly gz: Buffer
  readonly tar: Buffer
}

export interface MiseBuild {
  readonly out: string
  readonly stderr: string
  readonly indexBytes: Buffer
  readonly manifestBytes: Buffer
  readonly configBytes: Buffer
  readonly layers: ReadonlyArray<MiseLayer>
}

interface ManifestJson {
  readonly config: { readonly digest: string }
  readonly layers: ReadonlyArray<{ readonly mediaType: string; readonly digest: string; readonly annotations?: Record<string, string> }>
}

/**
 * Runs `mise oci build --from scratch --no-mise` (or with its own binary embedded) offline. Tools are `http:` tools whose install dirs the caller has
 * already created under `<base>/data/installs/http-<name>/<version>`; mise only needs that dir to exist.
 * The project config must be trusted, which MISE_TRUSTED_CONFIG_PATHS does without touching global state.
 */
export const miseBuild = (
  bin: string,
  base: string,
  mise: { readonly toml: string; readonly args?: ReadonlyArray<string>; readonly dataDir?: string; readonly embedMise?: boolean }
): MiseBuild => {
  const proj = join(base, "proj")
  const out = join(base, "out")
  for (const d of ["cache", "cfg", "home", "proj"]) mkdirSync(join(base, d), { recursive: true })
  writeFileSync(join(proj, "mise.toml"), mise.toml)
  const args = ["oci", "build", "--from", "scratch", ...(mise.embedMise === true ? [] : ["--no-mise"]), "--no-cache", "-o", out]
  const run = spawnSync(bin, [...args, ...(mise.args ?? [])], {
    cwd: proj,
    encoding: "utf8",
    timeout: 120_000,
    env: {
      PATH: process.env.PATH,
      HOME: join(base, "home"),
      MISE_EXPERIMENTAL: "1",
      MISE_DATA_DIR: mise.dataDir ?? join(base, "data"),
      MISE_CACHE_DIR: join(base, "cache"),
      MISE_CONFIG_DIR: join(base, "cfg"),
      MISE_TRUSTED_CONFIG_PATHS: proj,
      SOURCE_DATE_EPOCH: "1700000000"
    }
  })
  if (run.status !== 0) throw new Error(`mise oci build failed (${run.status}): ${run.stderr}`)
  const blob = (digest: string) => readFileSync(join(out, "blobs", "sha256", digest.slice("sha256:".length)))
  const indexBytes = readFileSync(join(out, "index.json"))
  const index = JSON.parse(indexBytes.toString()) as { manifests: ReadonlyArray<{ digest: string }> }
  const first = index.manifests[0]
  if (first === undefined) throw new Error("mise wrote an empty index.json")
  const manifestBytes = blob(first.digest)
  const manifest = JSON.parse(manifestBytes.toString()) as ManifestJson
  return {
    out,
    stderr: run.stderr,
    indexBytes,
    manifestBytes,
    configBytes: blob(manifest.config.digest),
    layers: manifest.layers.map((l) => {
      const gz = blob(l.digest)
      return { mediaType: l.mediaType, annotations: l.annotations, gz, tar: gunzipSync(gz) }
    })
  }
}

export const httpTool = (name: string, version = "1.0.0") =>
  `"http:${name}" = { version = "${version}", url = "http://127.0.0.1:9/${name}.tar.gz" }\n`
