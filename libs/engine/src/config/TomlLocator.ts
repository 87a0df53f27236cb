/** A 1-based position in a source text. */
export interface SourcePosition {
  readonly line: number
  readonly column: number
}

export type KeyPath = ReadonlyArray<string | number>

/** Finds where a key path is written in a TOML text; falls back to the nearest written ancestor. */
export interface TomlLocator {
  readonly locate: (path: KeyPath) => SourcePosition | undefined
}

const pathId = (path: KeyPath): string => JSON.stringify(path.map(String))

const isBareKeyChar = (c: string): boolean => /[A-Za-z0-9_-]/.test(c)

/**
 * Indexes the positions of keys, table headers and array elements of a TOML text that smol-toml already
 * accepted. Schema errors only carry a key path, so this is how they get a line: a small structural scan
 * (headers, `[[arrays]]`, dotted keys, inline tables, multi-line strings and arrays), not a second parser.
 */
export const makeTomlLocator = (text: string): TomlLocator => {
  const positions = new Map<string, SourcePosition>()
  const arrayTableCounts = new Map<string, number>()
  let pos = 0
  let line = 1
  let lineStart = 0

  const here = (): SourcePosition => ({ line, column: pos - lineStart + 1 })
  const peek = (offset = 0): string => text[pos + offset] ?? ""
  const advance = (): void => {
    if (text[pos] === "\n") {
      line += 1
      lineStart = pos + 1
    }
    pos += 1
  }
  const record = (path: KeyPath, at: SourcePosition): void => {
    const id = pathId(path)
    if (!positions.has(id)) positions.set(id, at)
  }
  const skipSpaces = (): void => {
    while (peek() === " " || peek() === "\t") advance()
  }
  const skipComment = (): void => {
    if (peek() === "#") while (pos < text.length && peek() !== "\n") advance()
  }
  // Whitespace, newlines and comments: what may separate array elements.
  const skipBlank = (): void => {
    for (;;) {
      const c = peek()
      if (c === " " || c === "\t" || c === "\r" || c === "\n") advance()
      else if (c === "#") skipComment()
      else return
    }
  }

  const readQuoted = (): string => {
    const quote = peek()
    advance()
    let out = ""
    while (pos < text.length && peek() !== quote && peek() !== "\n") {
      if (quote === '"' && peek() === "\\") {
        advance()
        out += peek()
        advance()
      } else {
        out += peek()
        advance()
      }
    }
    advance()
    return out
  }

  const readKey = (): Array<string> => {
    const parts: Array<string> = []
    for (;;) {
      skipSpaces()
      const c = peek()
      if (c === '"' || c === "'") parts.push(readQuoted())
      else {
        let bare = ""
        while (pos < text.length && isBareKeyChar(peek())) {
          bare += peek()
          advance()
        }
        if (bare === "") return parts
        parts.push(bare)
      }
      skipSpaces()
      if (peek() !== ".") return parts
      advance()
    }
  }

  const skipString = (): void => {
    const quote = peek()
    if (peek(1) === quote && peek(2) === quote) {
      advance()
      advance()
      advance()
      while (pos < text.length && !(peek() === quote && peek(1) === quote && peek(2) === quote)) {
        if (quote === '"' && peek() === "\\") advance()
        advance()
      }
      // A multi-line string may end with up to two extra quotes before the delimiter.
      while (peek() === quote) advance()
      return
    }
    readQuoted()
  }

  const parseValue = (path: KeyPath): void => {
    skipSpaces()
    const c = peek()
    if (c === '"' || c === "'") return skipString()
    if (c === "[") {
      advance()
      let index = 0
      for (;;) {
        skipBlank()
        if (pos >= text.length) return
        if (peek() === "]") return advance()
        record([...path, index], here())
        parseValue([...path, index])
        index += 1
        skipBlank()
        if (peek() === ",") advance()
      }
    }
    if (c === "{") {
      advance()
      for (;;) {
        skipBlank()
        if (pos >= text.length) return
        if (peek() === "}") return advance()
        const at = here()
        const key = readKey()
        if (key.length === 0) return advance()
        recordKey(path, key, at)
        skipSpaces()
        if (peek() === "=") advance()
        parseValue([...path, ...key])
        skipBlank()
        if (peek() === ",") advance()
      }
    }
    while (pos < text.length && !",]}\n#".includes(peek())) advance()
  }

  const recordKey = (table: KeyPath, key: ReadonlyArray<string>, at: SourcePosition): void => {
    for (let i = 1; i <= key.length; i++) record([...table, ...key.slice(0, i)], at)
  }

  let table: KeyPath = []
  while (pos < text.length) {
    skipBlank()
    if (pos >= text.length) break
    const at = here()
    if (peek() === "[") {
      const isArray = peek(1) === "["
      advance()
      if (isArray) advance()
      const key = readKey()
      while (pos < text.length && peek() !== "\n" && peek() !== "#") advance()
      if (isArray) {
        const id = pathId(key)
        const index = arrayTableCounts.get(id) ?? 0
        arrayTableCounts.set(id, index + 1)
        recordKey([], key, at)
        table = [...key, index]
        record(table, at)
      } else {
        recordKey([], key, at)
        table = key
      }
      continue
    }
    const key = readKey()
    if (key.length === 0) {
      // Not a key: skip the rest of the line rather than loop on it.
      while (pos < text.length && peek() !== "\n") advance()
      continue
    }
    recordKey(table, key, at)
    skipSpaces()
    if (peek() === "=") advance()
    parseValue([...table, ...key])
  }

  return {
    locate: (path) => {
      for (let n = path.length; n > 0; n--) {
        const found = positions.get(pathId(path.slice(0, n)))
        if (found !== undefined) return found
      }
      return undefined
    }
  }
}

/** `oci.copy[0].image` style rendering of a key path, for messages. */
export const formatKeyPath = (path: KeyPath): string =>
  path.reduce<string>((out, part) => {
    if (typeof part === "number") return `${out}[${part}]`
    const segment = /^[A-Za-z0-9_-]+$/.test(part) ? part : JSON.stringify(part)
    return out === "" ? segment : `${out}.${segment}`
  }, "")
