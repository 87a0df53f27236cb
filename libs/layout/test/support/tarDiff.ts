const FIELDS: ReadonlyArray<readonly [string, number, number]> = [
  ["name", 0, 100], ["mode", 100, 8], ["uid", 108, 8], ["gid", 116, 8], ["size", 124, 12], ["mtime", 136, 12],
  ["chksum", 148, 8], ["typeflag", 156, 1], ["linkname", 157, 100], ["magic", 257, 8], ["uname", 265, 32],
  ["gname", 297, 32], ["devmajor", 329, 8], ["devminor", 337, 8], ["gnu-extra", 345, 167]
]

const show = (b: Buffer) => JSON.stringify(b.toString("latin1"))

/** Where two tars first differ, named by entry and header field, so a conformance failure reads as a diagnosis. */
export const tarDiff = (ours: Buffer, theirs: Buffer): string | undefined => {
  if (ours.equals(theirs)) return undefined
  let offset = 0
  let entry = ""
  while (offset < Math.max(ours.length, theirs.length)) {
    const a = ours.subarray(offset, offset + 512)
    const b = theirs.subarray(offset, offset + 512)
    const size = parseInt(b.subarray(124, 136).toString("latin1").replace(/\0.*$/, "") || "0", 8)
    entry = b.subarray(0, 100).toString("latin1").replace(/\0.*$/, "")
    if (!a.equals(b)) {
      const fields = FIELDS.filter(([, o, l]) => !a.subarray(o, o + l).equals(b.subarray(o, o + l)))
        .map(([n, o, l]) => `${n}: ours ${show(a.subarray(o, o + l))} mise ${show(b.subarray(o, o + l))}`)
      return `header at ${offset} (${entry}) differs: ${fields.join("; ")} [sizes ours ${ours.length}, mise ${theirs.length}]`
    }
    const dataEnd = offset + 512 + Math.ceil(size / 512) * 512
    if (!ours.subarray(offset + 512, dataEnd).equals(theirs.subarray(offset + 512, dataEnd))) {
      return `data of ${entry} at ${offset + 512} differs: ours ${show(ours.subarray(offset + 512, offset + 512 + size))} mise ${
        show(theirs.subarray(offset + 512, offset + 512 + size))
      }`
    }
    offset = dataEnd
  }
  return `tars differ in length: ours ${ours.length}, mise ${theirs.length}`
}
