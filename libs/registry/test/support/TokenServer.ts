import { execFile } from "node:child_process"
import { createHash, generateKeyPairSync, randomBytes, sign } from "node:crypto"
import { writeFile } from "node:fs/promises"
import { createServer, type IncomingMessage } from "node:http"
import type { AddressInfo } from "node:net"
import { join } from "node:path"
import { promisify } from "node:util"

export interface TokenRequestRecord {
  readonly method: string
  /** The authenticated account, undefined for anonymous requests. */
  readonly account: string | undefined
  readonly scopes: ReadonlyArray<string>
  readonly grantType?: string
  readonly service?: string
}

export interface TokenServer {
  readonly realm: string
  readonly service: string
  readonly issuer: string
  /** The self-signed certificate distribution verifies token signatures with (`rootcertbundle`). */
  readonly certPath: string
  readonly requests: Array<TokenRequestRecord>
  readonly close: () => Promise<void>
}

export interface TokenPolicy {
  /** user → password. */
  readonly users: Readonly<Record<string, string>>
  /** OAuth2 refresh tokens (docker's identity tokens) → user. */
  readonly identityTokens?: Readonly<Record<string, string>>
  /** The actions `account` (undefined = anonymous) gets on a repository; the token holds the intersection. */
  readonly grant: (account: string | undefined, repository: string) => ReadonlyArray<string>
}

const base64url = (data: Buffer | string) => Buffer.from(data).toString("base64url")

/** libtrust's key ID: the first 240 bits of sha256(SPKI DER), base32, in 12 groups of 4. distribution looks keys up by it. */
const libtrustKeyId = (spkiDer: Buffer): string => {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
  const bytes = createHash("sha256").update(spkiDer).digest().subarray(0, 30)
  let bits = 0
  let value = 0
  let out = ""
  for (const byte of bytes) {
    value = (value << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  return out.match(/.{4}/g)!.join(":")
}

const readBody = (req: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    let text = ""
    req.setEncoding("utf8").on("data", (d: string) => (text += d)).on("end", () => resolve(text)).on("error", reject)
  })

const run = promisify(execFile)

/**
 * A token issuer for distribution's `auth: token` on 127.0.0.1: Basic credentials or OAuth2 refresh tokens in,
 * ES256 JWTs out, signed by a key whose self-signed certificate (made with the `openssl` CLI) the registry trusts.
 */
export const startTokenServer = async (dir: string, policy: TokenPolicy): Promise<TokenServer> => {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" })
  const keyPath = join(dir, "token-key.pem")
  const certPath = join(dir, "token-cert.pem")
  await writeFile(keyPath, privateKey.export({ type: "pkcs8", format: "pem" }))
  await run("openssl", ["req", "-x509", "-new", "-key", keyPath, "-subj", "/CN=engine-test-token-issuer", "-days", "2", "-out", certPath])
  const kid = libtrustKeyId(publicKey.export({ type: "spki", format: "der" }))
  const service = "engine-test-registry"
  const issuer = "engine-test-issuer"
  const requests: Array<TokenRequestRecord> = []

  const issue = (account: string | undefined, scopes: ReadonlyArray<string>) => {
    const access = scopes.flatMap((scope) => {
      const [type, name, actions] = scope.split(":")
      if (type !== "repository" || name === undefined || actions === undefined) return []
      const allowed = policy.grant(account, name)
      const granted = actions.split(",").filter((a) => allowed.includes(a))
      return granted.length > 0 ? [{ type, name, actions: granted }] : []
    })
    const now = Math.floor(Date.now() / 1000)
    const header = base64url(JSON.stringify({ typ: "JWT", alg: "ES256", kid }))
    const claims = base64url(
      JSON.stringify({
        iss: issuer,
        sub: account ?? "",
        aud: service,
        exp: now + 300,
        nbf: now - 10,
        iat: now,
        jti: randomBytes(8).toString("hex"),
        access
      })
    )
    const signature = sign("sha256", Buffer.from(`${header}.${claims}`), { key: privateKey, dsaEncoding: "ieee-p1363" })
    return `${header}.${claims}.${base64url(signature)}`
  }

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://x")
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" })
      res.end(JSON.stringify(body))
    }
    if (url.pathname !== "/token") return reply(404, { error: "not found" })
    if (req.method === "POST") {
      const form = new URLSearchParams(await readBody(req))
      const grantType = form.get("grant_type") ?? ""
      const scopes = (form.get("scope") ?? "").split(" ").filter((s) => s !== "")
      const account = grantType === "refresh_token"
        ? policy.identityTokens?.[form.get("refresh_token") ?? ""]
        : grantType === "password" && policy.users[form.get("username") ?? ""] === form.get("password")
        ? form.get("username") ?? undefined
        : undefined
      requests.push({ method: "POST", account, scopes, grantType, ...(form.get("service") !== null ? { service: form.get("service")! } : {}) })
      if (account === undefined) return reply(401, { error: "invalid_grant" })
      return reply(200, { access_token: issue(account, scopes), expires_in: 300, scope: scopes.join(" ") })
    }
    const scopes = url.searchParams.getAll("scope")
    const authorization = req.headers.authorization
    let account: string | undefined
    if (authorization !== undefined) {
      const decoded = Buffer.from(authorization.replace(/^Basic /i, ""), "base64").toString("utf8")
      const colon = decoded.indexOf(":")
      const user = decoded.slice(0, colon)
      if (colon < 0 || policy.users[user] !== decoded.slice(colon + 1)) {
        requests.push({ method: "GET", account: undefined, scopes })
        return reply(401, { details: "incorrect username or password" })
      }
      account = user
    }
    requests.push({ method: "GET", account, scopes, ...(url.searchParams.get("service") !== null ? { service: url.searchParams.get("service")! } : {}) })
    const token = issue(account, scopes)
    // Half the answers use `token`, half `access_token`, as real issuers differ.
    return reply(200, requests.length % 2 === 0 ? { token, expires_in: 300 } : { access_token: token, expires_in: 300 })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const port = (server.address() as AddressInfo).port
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certPath,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}
