/**
 * The wire format between `engine` clients (the native `dist/engine-client`, or `bin/engine.cjs`) and the daemon, on a
 * unix socket. Strings travel as bytes with their length, never as JSON, so an argument or an env value is passed as is.
 * Plain Node (no Effect): the node client is bundled from this file alone and must start in a few milliseconds.
 *
 * Request (client → daemon), once:   "ENGD" u8:version u8:kind
 *   kind 'R' (run):  u32:argc (u32:len bytes)*argc  u32:len cwd  u32:envc (u32:len "K=V")*envc
 *                    u32:umask  u8:flags (1 stdout is a tty, 2 stderr is a tty)  u16:columns  u16:rows
 *   kind 'S' (stop), 'P' (ping): nothing more
 * Frames, both ways after that:      u8:type u32:len bytes
 *   daemon → client: 1 stdout, 2 stderr, 3 exit (u32 code), 4 declined (reason; the client runs the command itself),
 *                    5 status text
 *   client → daemon: 9 signal (u32 signal number)
 * All integers are big-endian.
 */

export const MAGIC = "ENGD"
export const PROTOCOL_VERSION = 1

export const Frame = {
  stdout: 1,
  stderr: 2,
  exit: 3,
  declined: 4,
  status: 5,
  signal: 9
} as const

export interface RunRequest {
  readonly kind: "run"
  readonly argv: ReadonlyArray<string>
  readonly cwd: string
  /** "K=V" entries, as the client's environ has them. */
  readonly env: ReadonlyArray<string>
  readonly umask: number
  readonly stdoutTty: boolean
  readonly stderrTty: boolean
  readonly columns: number
  readonly rows: number
}

export type Request = RunRequest | { readonly kind: "stop" } | { readonly kind: "ping" }

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n >>> 0)
  return b
}
const str = (s: string): Array<Buffer> => {
  const bytes = Buffer.from(s, "utf8")
  return [u32(bytes.length), bytes]
}

export const encodeRequest = (request: Request): Buffer => {
  const head = Buffer.concat([Buffer.from(MAGIC, "latin1"), Buffer.from([PROTOCOL_VERSION])])
  if (request.kind === "stop") return Buffer.concat([head, Buffer.from("S", "latin1")])
  if (request.kind === "ping") return Buffer.concat([head, Buffer.from("P", "latin1")])
  const tail = Buffer.alloc(5)
  tail.writeUInt8((request.stdoutTty ? 1 : 0) | (request.stderrTty ? 2 : 0), 0)
  tail.writeUInt16BE(Math.min(request.columns, 0xffff), 1)
  tail.writeUInt16BE(Math.min(request.rows, 0xffff), 3)
  return Buffer.concat([
    head,
    Buffer.from("R", "latin1"),
    u32(request.argv.length),
    ...request.argv.flatMap(str),
    ...str(request.cwd),
    u32(request.env.length),
    ...request.env.flatMap(str),
    u32(request.umask),
    tail
  ])
}

/** Why a request could not be read; the daemon answers it with a `declined` frame. */
export class ProtocolError extends Error {
  override readonly name = "ProtocolError"
}

/** Longest request accepted: argv and environ are far smaller; anything bigger is not a client of ours. */
export const MAX_REQUEST_BYTES = 16 * 1024 * 1024

/**
 * Decodes a request from the start of `data`: `undefined` while more bytes are needed, else the request and the number
 * of bytes it took. Throws ProtocolError on bytes that are not a request of this version.
 */
export const decodeRequest = (data: Buffer): { readonly request: Request; readonly size: number } | undefined => {
  let at = 0
  const need = (n: number): boolean => at + n <= data.length
  if (!need(6)) return undefined
  if (data.toString("latin1", 0, 4) !== MAGIC) throw new ProtocolError("not an engine client (bad magic)")
  if (data[4] !== PROTOCOL_VERSION) throw new ProtocolError(`protocol version ${data[4]}, this daemon speaks ${PROTOCOL_VERSION}`)
  const kind = String.fromCharCode(data[5] ?? 0)
  at = 6
  if (kind === "S") return { request: { kind: "stop" }, size: at }
  if (kind === "P") return { request: { kind: "ping" }, size: at }
  if (kind !== "R") throw new ProtocolError(`unknown request kind ${JSON.stringify(kind)}`)
  const readU32 = (): number | undefined => {
    if (!need(4)) return undefined
    const n = data.readUInt32BE(at)
    at += 4
    return n
  }
  const readStr = (): string | undefined => {
    const len = readU32()
    if (len === undefined) return undefined
    if (len > MAX_REQUEST_BYTES) throw new ProtocolError(`a string of ${len} bytes`)
    if (!need(len)) return undefined
    const s = data.toString("utf8", at, at + len)
    at += len
    return s
  }
  const readList = (): Array<string> | undefined => {
    const count = readU32()
    if (count === undefined) return undefined
    if (count > 1_000_000) throw new ProtocolError(`a list of ${count} strings`)
    const out: Array<string> = []
    for (let i = 0; i < count; i++) {
      const s = readStr()
      if (s === undefined) return undefined
      out.push(s)
    }
    return out
  }
  const argv = readList()
  if (argv === undefined) return undefined
  const cwd = readStr()
  if (cwd === undefined) return undefined
  const env = readList()
  if (env === undefined) return undefined
  const umask = readU32()
  if (umask === undefined || !need(5)) return undefined
  const flags = data.readUInt8(at)
  const columns = data.readUInt16BE(at + 1)
  const rows = data.readUInt16BE(at + 3)
  at += 5
  return {
    request: { kind: "run", argv, cwd, env, umask, stdoutTty: (flags & 1) !== 0, stderrTty: (flags & 2) !== 0, columns, rows },
    size: at
  }
}

export const encodeFrame = (type: number, payload: Buffer | string): Buffer => {
  const body = typeof payload === "string" ? Buffer.from(payload, "utf8") : payload
  const head = Buffer.alloc(5)
  head.writeUInt8(type, 0)
  head.writeUInt32BE(body.length, 1)
  return Buffer.concat([head, body])
}

export const exitFrame = (code: number): Buffer => encodeFrame(Frame.exit, u32(code))
export const signalFrame = (signal: number): Buffer => encodeFrame(Frame.signal, u32(signal))

/** Splits complete frames off the front of `data`; the rest waits for more bytes. */
export const decodeFrames = (data: Buffer): { readonly frames: Array<{ readonly type: number; readonly payload: Buffer }>; readonly rest: Buffer } => {
  const frames: Array<{ type: number; payload: Buffer }> = []
  let at = 0
  while (at + 5 <= data.length) {
    const len = data.readUInt32BE(at + 1)
    if (at + 5 + len > data.length) break
    frames.push({ type: data.readUInt8(at), payload: data.subarray(at + 5, at + 5 + len) })
    at += 5 + len
  }
  return { frames, rest: data.subarray(at) }
}
