import { spawn } from "node:child_process"
import { engineBin } from "./Cli"

export interface TtyResult {
  readonly code: number
  /** Everything the terminal received (stdout and stderr interleaved, `\n` as `\r\n`), escape codes included. */
  readonly raw: string
}

const quote = (arg: string) => `'${arg.replaceAll("'", "'\\''")}'`

/**
 * Runs the built `engine` on a pseudo-terminal (util-linux `script`), so stdout and stderr are TTYs as in a user's
 * shell. Asynchronous, like `engine()`: the fixture servers answer from this process.
 */
export const engineOnTty = (
  args: ReadonlyArray<string>,
  opts: { cwd: string; env?: Record<string, string>; rows?: number }
): Promise<TtyResult> =>
  new Promise((resolve, reject) => {
    // A pty made without a terminal has no size; give it a wide one, as a user's terminal window would be.
    const command = `stty cols 200 rows ${opts.rows ?? 50} && exec ${[process.execPath, engineBin, ...args].map(quote).join(" ")}`
    const child = spawn("script", ["-qfec", command, "/dev/null"], {
      cwd: opts.cwd,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", TERM: "xterm", ENGINE_DAEMON: "0", ...opts.env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let raw = ""
    child.stdout.setEncoding("utf8").on("data", (d: string) => (raw += d))
    child.stderr.setEncoding("utf8").on("data", (d: string) => (raw += d))
    const timer = setTimeout(() => child.kill("SIGKILL"), 300_000)
    child.on("error", reject)
    child.on("close", (code) => {
      clearTimeout(timer)
      resolve({ code: code ?? -1, raw })
    })
  })

/**
 * What a terminal shows once `raw` has been written to it: a tiny emulator for the controls a line renderer uses
 * (CR, LF, cursor up `ESC[nA`, erase below `ESC[J`, erase line `ESC[K`); colors are dropped.
 */
export const finalScreen = (raw: string): ReadonlyArray<string> => {
  const rows: Array<string> = [""]
  let row = 0
  let col = 0
  const put = (ch: string) => {
    const line = rows[row]!.padEnd(col)
    rows[row] = line.slice(0, col) + ch + line.slice(col + 1)
    col++
  }
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i]!
    if (ch === "\x1b" && raw[i + 1] === "[") {
      const m = /^\x1b\[([\d;?]*)([A-Za-z])/.exec(raw.slice(i))
      if (m === null) continue
      i += m[0].length - 1
      const n = m[1] === "" ? 1 : Number(m[1])
      if (m[2] === "A") row = Math.max(0, row - n)
      else if (m[2] === "J") {
        rows[row] = rows[row]!.slice(0, col)
        rows.length = row + 1
      } else if (m[2] === "K") rows[row] = rows[row]!.slice(0, col)
      continue
    }
    if (ch === "\r") col = 0
    else if (ch === "\n") {
      row++
      if (rows.length <= row) rows.push("")
    } else put(ch)
  }
  return rows.filter((r, i) => !(i === rows.length - 1 && r === ""))
}
