import * as http from "node:http"
import type { AddressInfo } from "node:net"

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void

/** A loopback HTTP server whose routes tests add as they go; it counts requests per path. */
export interface TestServer {
  readonly url: string
  readonly route: (path: string, handler: Handler | Buffer | string) => void
  readonly hits: (path: string) => number
  readonly requests: Array<{ readonly path: string; readonly headers: http.IncomingHttpHeaders }>
  readonly close: () => Promise<void>
}

export const startServer = async (): Promise<TestServer> => {
  const routes = new Map<string, Handler>()
  const counts = new Map<string, number>()
  const requests: Array<{ readonly path: string; readonly headers: http.IncomingHttpHeaders }> = []
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0]!
    counts.set(path, (counts.get(path) ?? 0) + 1)
    requests.push({ path, headers: req.headers })
    const handler = routes.get(path)
    if (handler === undefined) {
      res.writeHead(404).end("not found")
      return
    }
    handler(req, res)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    route: (path, handler) =>
      routes.set(
        path,
        typeof handler === "function"
          ? handler
          : (_req, res) => {
            const body = Buffer.from(handler)
            res.writeHead(200, { "content-length": body.length }).end(body)
          }
      ),
    hits: (path) => counts.get(path) ?? 0,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}
