import { readFileSync } from "node:fs"
import * as tls from "node:tls"

/**
 * Node's bundled roots plus the system CA bundle, as curl and npm (`cafile`) trust it: a company registry, mirror
 * or TLS-inspecting proxy is usually signed by a CA installed there, not by one Node ships.
 */
export const trustedCertificates = (env: Readonly<Record<string, string | undefined>>): Array<string> => {
  for (const file of [env.SSL_CERT_FILE, env.NODE_EXTRA_CA_CERTS, "/etc/ssl/certs/ca-certificates.crt"]) {
    if (file === undefined || file === "") continue
    try {
      return [...tls.rootCertificates, readFileSync(file, "utf8")]
    } catch {
      // An unreadable bundle is not fatal: the next candidate, or Node's own roots, still apply.
    }
  }
  return [...tls.rootCertificates]
}

/** Socket and undici error codes after which the same request may well succeed. */
export const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_REQ_CONTENT_LENGTH_MISMATCH",
  "UND_ERR_RES_CONTENT_LENGTH_MISMATCH"
])

/** The `code` of an error or of the first cause that has one (undici wraps socket errors). */
export const networkErrorCode = (e: unknown): string | undefined => {
  if (typeof e !== "object" || e === null) return undefined
  const code = "code" in e ? e.code : undefined
  if (typeof code === "string") return code
  return "cause" in e ? networkErrorCode(e.cause) : undefined
}
