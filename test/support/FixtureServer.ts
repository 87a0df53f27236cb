import * as http from "node:http"
import * as fs from "node:fs"
import * as path from "node:path"
import type { AddressInfo } from "node:net"

export interface FixtureServer {
  readonly url: string
  readonly requests: Array<string>
  readonly close: () => Promise<void>
}

/** Serves the files under `root` on 127.0.0.1 with a free port, logging every request path. */
export const startFixtureServer = async (root: string): Promise<FixtureServer> => {
  const requests: Array<string> = []
  const server = http.createServer((req, res) => {
    const urlPath = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname)
    requests.push(urlPath)
    const file = path.join(root, urlPath)
    if (!file.startsWith(root + path.sep)) {
      res.writeHead(403).end()
      return
    }
    fs.stat(file, (err, st) => {
      if (err || !st.isFile()) {
        res.writeHead(404, { "content-type": "text/plain" }).end("not found\n")
        return
      }
      res.writeHead(200, { "content-length": st.size, "content-type": "application/octet-stream" })
      fs.createReadStream(file).pipe(res)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}
