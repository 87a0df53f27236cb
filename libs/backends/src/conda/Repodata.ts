import { ParseResult, Schema } from "effect"
import { compareCondaVersions, parseVersion } from "./MatchSpec"

/** One package as a channel's `repodata.json` describes it (`packages` and `packages.conda` alike). */
export const PackageRecord = Schema.Struct({
  name: Schema.String,
  version: Schema.String,
  build: Schema.String,
  build_number: Schema.optionalWith(Schema.Number, { default: () => 0 }),
  depends: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] }),
  /** Constraints on packages that are installed only if something else asks for them (`run_constrained`). */
  constrains: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] }),
  subdir: Schema.optional(Schema.String),
  noarch: Schema.optional(Schema.NullOr(Schema.Union(Schema.String, Schema.Boolean))),
  sha256: Schema.optional(Schema.String),
  md5: Schema.optional(Schema.String),
  size: Schema.optional(Schema.Number),
  timestamp: Schema.optional(Schema.Number)
})
export type PackageRecord = typeof PackageRecord.Type

/** Only the envelope is decoded up front: a channel lists every package ever built, a tool needs a few. */
export const RepoData = Schema.Struct({
  info: Schema.optional(Schema.Struct({ subdir: Schema.optional(Schema.String), base_url: Schema.optional(Schema.String) })),
  packages: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.Unknown }), { default: () => ({}) }),
  "packages.conda": Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.Unknown }), { default: () => ({}) }),
  removed: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] })
})
export type RepoData = typeof RepoData.Type

const Named = Schema.Struct({ name: Schema.String })
const isNamed = Schema.is(Named)
const decodeRecord = Schema.decodeUnknownEither(PackageRecord)

/** A package file a channel offers: its record, where to get it, and which subdir listed it. */
export interface Candidate {
  readonly record: PackageRecord
  readonly fileName: string
  readonly url: string
  readonly subdir: string
}

/** A subdir's listing as fetched: the envelope and the URL its relative file names resolve against. */
export interface SubdirData {
  readonly subdir: string
  readonly baseUrl: string
  readonly repodata: RepoData
}

export class RepodataError extends Error {}

const stem = (fileName: string) => fileName.replace(/\.(conda|tar\.bz2)$/, "")

/** conda's preference among builds: newest version, then highest build number, then newest build; file name last. */
export const compareCandidates = (a: Candidate, b: Candidate): number =>
  compareCondaVersions(parseVersion(b.record.version), parseVersion(a.record.version)) ||
  b.record.build_number - a.record.build_number ||
  (b.record.timestamp ?? 0) - (a.record.timestamp ?? 0) ||
  (a.fileName < b.fileName ? -1 : a.fileName > b.fileName ? 1 : 0)

/**
 * Every package of a channel by (lowercase) name, records decoded on first use. Where a build is offered as both
 * `.conda` and `.tar.bz2`, the `.conda` is taken, as conda and rattler do.
 */
export interface ChannelIndex {
  readonly names: () => ReadonlyArray<string>
  /** Candidates best first; throws RepodataError naming the file when a record is malformed. */
  readonly candidates: (name: string) => ReadonlyArray<Candidate>
}

export const indexChannel = (subdirs: ReadonlyArray<SubdirData>): ChannelIndex => {
  const raw = new Map<string, Array<{ readonly fileName: string; readonly value: unknown; readonly data: SubdirData }>>()
  for (const data of subdirs) {
    const removed = new Set(data.repodata.removed)
    const byStem = new Map<string, { readonly fileName: string; readonly value: unknown }>()
    for (const [fileName, value] of Object.entries(data.repodata.packages)) byStem.set(stem(fileName), { fileName, value })
    for (const [fileName, value] of Object.entries(data.repodata["packages.conda"])) byStem.set(stem(fileName), { fileName, value })
    for (const { fileName, value } of byStem.values()) {
      if (removed.has(fileName) || !isNamed(value)) continue
      const name = value.name.toLowerCase()
      const list = raw.get(name) ?? []
      list.push({ fileName, value, data })
      raw.set(name, list)
    }
  }
  const decoded = new Map<string, ReadonlyArray<Candidate>>()
  return {
    names: () => Array.from(raw.keys()).sort(),
    candidates: (name) => {
      const key = name.toLowerCase()
      const known = decoded.get(key)
      if (known !== undefined) return known
      const list = (raw.get(key) ?? []).map(({ fileName, value, data }): Candidate => {
        const record = decodeRecord(value)
        if (record._tag === "Left") {
          const problem = ParseResult.TreeFormatter.formatErrorSync(record.left).split("\n").slice(0, 4).join(" ")
          throw new RepodataError(`${data.baseUrl}repodata.json: the record of ${fileName} is malformed: ${problem}`)
        }
        return { record: record.right, fileName, url: `${data.baseUrl}${fileName}`, subdir: data.subdir }
      })
      list.sort(compareCandidates)
      decoded.set(key, list)
      return list
    }
  }
}
