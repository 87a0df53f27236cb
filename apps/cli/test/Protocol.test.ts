import { describe, expect, it } from "vitest"
import { daemonDir, daemonEnabled, servedByDaemon } from "../src/daemon/Location"
import { decodeFrames, decodeRequest, encodeFrame, encodeRequest, exitFrame, Frame, ProtocolError, type RunRequest } from "../src/daemon/Protocol"

const request: RunRequest = {
  kind: "run",
  argv: ["node", "engine", "build", "-o", "out dir", "--label", "ünïcødé=✓"],
  cwd: "/tmp/a b",
  env: ["PATH=/usr/bin", "EMPTY=", "EQ=a=b=c", "MULTI=line1\nline2"],
  umask: 0o027,
  stdoutTty: false,
  stderrTty: true,
  columns: 132,
  rows: 43
}

describe("daemon protocol", () => {
  it("round-trips a run request byte for byte, and waits for more bytes at every cut", () => {
    const bytes = encodeRequest(request)
    expect(decodeRequest(bytes)).toEqual({ request, size: bytes.length })
    for (let cut = 0; cut < bytes.length; cut++) expect(decodeRequest(bytes.subarray(0, cut))).toBeUndefined()
    expect(decodeRequest(Buffer.concat([bytes, Buffer.from("extra")]))?.size).toBe(bytes.length)
    expect(decodeRequest(encodeRequest({ kind: "ping" }))?.request).toEqual({ kind: "ping" })
    expect(decodeRequest(encodeRequest({ kind: "stop" }))?.request).toEqual({ kind: "stop" })
  })

  it("refuses bytes that are not a request of this version", () => {
    expect(() => decodeRequest(Buffer.from("GET / HTTP/1.1\r\n"))).toThrow(ProtocolError)
    const other = encodeRequest(request)
    other[4] = 2
    expect(() => decodeRequest(other)).toThrow(/protocol version 2/)
    const kind = encodeRequest({ kind: "ping" })
    kind[5] = "X".charCodeAt(0)
    expect(() => decodeRequest(kind)).toThrow(/unknown request kind/)
  })

  it("splits frames, keeping a partial one for later", () => {
    const data = Buffer.concat([encodeFrame(Frame.stdout, "out"), encodeFrame(Frame.stderr, Buffer.from([0, 255])), exitFrame(130)])
    const all = decodeFrames(data)
    expect(all.frames.map((f) => f.type)).toEqual([Frame.stdout, Frame.stderr, Frame.exit])
    expect(all.frames[1]?.payload).toEqual(Buffer.from([0, 255]))
    expect(all.frames[2]?.payload.readUInt32BE(0)).toBe(130)
    const part = decodeFrames(data.subarray(0, 10))
    expect(part.frames).toHaveLength(1)
    expect(part.rest).toEqual(data.subarray(8, 10))
  })
})

describe("daemon location and policy", () => {
  it("is on unless turned off, and off in CI unless turned on", () => {
    expect(daemonEnabled({})).toBe(true)
    expect(daemonEnabled({ CI: "true" })).toBe(false)
    expect(daemonEnabled({ CI: "false" })).toBe(true)
    expect(daemonEnabled({ CI: "1", ENGINE_DAEMON: "1" })).toBe(true)
    for (const off of ["0", "false", "OFF", "no"]) expect(daemonEnabled({ ENGINE_DAEMON: off })).toBe(false)
  })

  it("puts the socket in ENGINE_DAEMON_DIR, else XDG_RUNTIME_DIR, else TMPDIR per uid", () => {
    expect(daemonDir({ ENGINE_DAEMON_DIR: "/x", XDG_RUNTIME_DIR: "/run/user/1" }, 1)).toBe("/x")
    expect(daemonDir({ XDG_RUNTIME_DIR: "/run/user/1" }, 1)).toBe("/run/user/1/engine")
    expect(daemonDir({ TMPDIR: "/scratch" }, 7)).toBe("/scratch/engine-daemon-7")
    expect(daemonDir({}, 0)).toBe("/tmp/engine-daemon-0")
  })

  it("serves every command but `run` (it needs the terminal) and `daemon`", () => {
    expect(servedByDaemon(["build", "-o", "out"])).toBe(true)
    expect(servedByDaemon(["-q", "push", "x"])).toBe(true)
    expect(servedByDaemon(["run", "--", "sh"])).toBe(false)
    expect(servedByDaemon(["daemon", "stop"])).toBe(false)
    expect(servedByDaemon(["--help"])).toBe(false)
  })
})
