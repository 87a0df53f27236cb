import { createServer, type IncomingMessage, request as httpRequest, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"

/** One kind of trouble, injected into the next `times` requests that match. */
export type Fault =
  /** Answer with this status without forwarding (e.g. 500, or 429 with Retry-After). */
  | { readonly kind: "status"; readonly status: number; readonly retryAfter?: string; readonly times: number }
  /** Forward, then cut both connections after `bytes` bytes of the request body or of the response body. */
  | { readonly kind: "drop"; readonly direction: "request" | "response"; readonly bytes: number; readonly times: number }
  /** Forward the response headers and `bytes` bytes of its body, then go silent with the connection open. */
  | { readonly kind: "stall"; readonly bytes: number; readonly times: number }

export interface FaultRule {
  readonly fault: Fault
  /** Which requests are hit; all by default. */
  readonly match?: (method: string, path: string) => boolean
}

export interface ProxiedRequest {
  readonly method: string
  readonly path: string
  /** The status sent back, or what was done to the connection. */
  readonly outcome: number | "dropped" | "stalled"
}

export interface FaultProxy {
  /** `127.0.0.1:<port>`, usable as a reference's registry. */
  readonly host: string
  readonly port: number
  readonly log: ReadonlyArray<ProxiedRequest>
  readonly injected: () => number
  readonly addRule: (rule: FaultRule) => void
  readonly clearRules: () => void
  readonly close: () => Promise<void>
}

interface LiveRule {
  readonly rule: FaultRule
  remaining: number
}

/**
 * An HTTP proxy on 127.0.0.1 in front of a registry that injects errors and broken connections. Host headers are
 * forwarded unchanged, so the registry's upload Locations point back at the proxy.
 */
export const startFaultProxy = async (upstream: { readonly host: string; readonly port: number }): Promise<FaultProxy> => {
  const rules: Array<LiveRule> = []
  const log: Array<ProxiedRequest> = []
  let injected = 0

  /** A drop rule is spent only when a request actually reaches its byte count; the others when they match. */
  const take = (method: string, path: string): LiveRule | undefined => {
    const live = rules.find((r) => r.remaining > 0 && (r.rule.match?.(method, path) ?? true))
    if (live !== undefined && live.rule.fault.kind !== "drop") spend(live)
    return live
  }
  const spend = (live: LiveRule): boolean => {
    if (live.remaining <= 0) return false
    live.remaining--
    injected++
    return true
  }

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const method = req.method ?? "GET"
    const path = req.url ?? "/"
    const live = take(method, path)
    const fault = live?.rule.fault
    if (fault?.kind === "status") {
      req.resume()
      req.on("end", () => {
        const body = JSON.stringify({ errors: [{ code: "UNAVAILABLE", message: "injected by FaultProxy" }] })
        res.writeHead(fault.status, {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
          ...(fault.retryAfter !== undefined ? { "retry-after": fault.retryAfter } : {})
        })
        res.end(body)
        log.push({ method, path, outcome: fault.status })
      })
      return
    }
    const drop = fault?.kind === "drop" ? fault : undefined
    const stall = fault?.kind === "stall" ? fault : undefined
    let dropped = false
    // Only a live drop rule that is not yet spent may cut this request.
    const mayDrop = () => live !== undefined && drop !== undefined && spend(live)
    const cut = () => {
      if (dropped) return
      dropped = true
      log.push({ method, path, outcome: "dropped" })
      upstreamRequest.destroy()
      req.socket.destroy()
    }
    const upstreamRequest = httpRequest(
      { host: upstream.host, port: upstream.port, method, path, headers: req.headers, agent: false },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.rawHeaders)
        let sent = 0
        up.on("data", (chunk: Buffer) => {
          if (dropped) return
          if (stall !== undefined) {
            if (sent < stall.bytes) res.write(chunk.subarray(0, stall.bytes - sent))
            sent += chunk.length
            return
          }
          if (drop?.direction === "response" && sent + chunk.length >= drop.bytes && mayDrop()) {
            res.write(chunk.subarray(0, Math.max(0, drop.bytes - sent)))
            cut()
            return
          }
          sent += chunk.length
          res.write(chunk)
        })
        up.on("end", () => {
          if (stall !== undefined) {
            log.push({ method, path, outcome: "stalled" })
            return
          }
          if (dropped) return
          res.end()
          log.push({ method, path, outcome: up.statusCode ?? 502 })
        })
      }
    )
    upstreamRequest.on("error", () => {
      if (!dropped) cut()
    })
    let received = 0
    req.on("data", (chunk: Buffer) => {
      if (dropped) return
      if (drop?.direction === "request" && received + chunk.length >= drop.bytes && mayDrop()) {
        upstreamRequest.write(chunk.subarray(0, Math.max(0, drop.bytes - received)))
        cut()
        return
      }
      received += chunk.length
      upstreamRequest.write(chunk)
    })
    req.on("end", () => {
      if (!dropped) upstreamRequest.end()
    })
    req.on("error", () => cut())
  }

  const server = createServer(handle)
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const port = (server.address() as AddressInfo).port
  return {
    host: `127.0.0.1:${port}`,
    port,
    log,
    injected: () => injected,
    addRule: (rule) => {
      rules.push({ rule, remaining: rule.fault.times })
    },
    clearRules: () => {
      rules.length = 0
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}
