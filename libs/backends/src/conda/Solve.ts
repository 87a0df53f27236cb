import { type MatchSpec, MatchSpecError, parseMatchSpec, specMatches } from "./MatchSpec"
import type { Candidate, ChannelIndex } from "./Repodata"

/** A package the system provides (`__glibc`, `__unix`, `__linux`, ...), as conda's virtual packages. */
export interface VirtualPackage {
  readonly name: string
  readonly version: string
  readonly build: string
}

/** Why no set of packages fits: the chain of requirements that led to the dead end, and what was wrong there. */
export interface SolveFailure {
  readonly chain: ReadonlyArray<string>
  readonly reason: string
}

export type SolveResult =
  | { readonly ok: true; readonly packages: ReadonlyArray<Candidate> }
  | { readonly ok: false; readonly failure: SolveFailure }

interface Requirement {
  readonly spec: MatchSpec
  /** The packages that led here, root first: `tool 1.0 (h0_0)`. */
  readonly chain: ReadonlyArray<string>
}

/** Past this many steps the search stops: an unsatisfiable tree would otherwise try every combination. */
const STEP_LIMIT = 50_000

export const packageLabel = (c: Candidate): string => `${c.record.name} ${c.record.version} (${c.record.build})`

const parsedSpecs = new WeakMap<ReadonlyArray<string>, ReadonlyArray<MatchSpec>>()
const specsOf = (lines: ReadonlyArray<string>): ReadonlyArray<MatchSpec> => {
  const known = parsedSpecs.get(lines)
  if (known !== undefined) return known
  const specs = lines.map(parseMatchSpec)
  parsedSpecs.set(lines, specs)
  return specs
}

/**
 * The packages to install for `root`: depth-first over each package's run `depends`, taking the best build that fits
 * every requirement seen so far (newest version, then highest build number), backtracking on a conflict. Deterministic:
 * the same channel gives the same answer. Returned dependencies first, `root`'s package last.
 */
export const solve = (
  index: ChannelIndex,
  root: MatchSpec,
  virtuals: ReadonlyArray<VirtualPackage>,
  channel: string
): SolveResult => {
  const selected = new Map<string, { readonly candidate: Candidate; readonly chain: ReadonlyArray<string> }>()
  const required = new Map<string, Array<Requirement>>()
  let failure: SolveFailure | undefined
  let steps = 0
  // The deepest dead end explains the most: it names the whole chain down to the package that cannot be had.
  const note = (f: SolveFailure) => {
    if (failure === undefined || f.chain.length > failure.chain.length) failure = f
    return false
  }

  const constraintsAllow = (c: Candidate): boolean => {
    for (const { candidate } of selected.values()) {
      for (const spec of specsOf(candidate.record.constrains)) {
        if (spec.name === c.record.name.toLowerCase() && !specMatches(spec, c.record)) return false
      }
    }
    for (const spec of specsOf(c.record.constrains)) {
      const other = selected.get(spec.name)
      if (other !== undefined && !specMatches(spec, other.candidate.record)) return false
    }
    return true
  }

  const satisfy = (queue: ReadonlyArray<Requirement>): boolean => {
    const [next, ...rest] = queue
    if (next === undefined) return true
    if (++steps > STEP_LIMIT) return note({ chain: next.chain, reason: `gave up after ${STEP_LIMIT} steps` })
    const { spec, chain } = next
    const here = [...chain, spec.source.trim()]
    if (spec.name.startsWith("__")) {
      const provided = virtuals.find((v) => v.name === spec.name)
      if (provided !== undefined && specMatches(spec, provided)) return satisfy(rest)
      return note({
        chain: here,
        reason: provided === undefined
          ? `the virtual package ${spec.name} is not available on this system`
          : `this system has ${provided.name} ${provided.version}`
      })
    }
    const chosen = selected.get(spec.name)
    if (chosen !== undefined) {
      if (specMatches(spec, chosen.candidate.record)) return satisfy(rest)
      return note({
        chain: here,
        reason: `${packageLabel(chosen.candidate)} is already chosen for ${[...chosen.chain].pop() ?? "the request"}`
      })
    }
    const all = index.candidates(spec.name)
    if (all.length === 0) return note({ chain: here, reason: `no package named ${spec.name} in ${channel}` })
    const requirements = [...(required.get(spec.name) ?? []), next]
    const fitting = all.filter((c) => requirements.every((r) => specMatches(r.spec, c.record)) && constraintsAllow(c))
    if (fitting.length === 0) {
      const versions = Array.from(new Set([...all].reverse().map((c) => c.record.version))).join(", ")
      return note({ chain: here, reason: `no build of ${spec.name} matches (${channel} has ${versions})` })
    }
    required.set(spec.name, requirements)
    try {
      for (const candidate of fitting) {
        let depends: ReadonlyArray<MatchSpec>
        try {
          depends = specsOf(candidate.record.depends)
        } catch (e) {
          if (!(e instanceof MatchSpecError)) throw e
          note({ chain: [...chain, packageLabel(candidate)], reason: `its depends cannot be read: ${e.message}` })
          continue
        }
        selected.set(spec.name, { candidate, chain })
        const below = [...chain, packageLabel(candidate)]
        if (satisfy([...rest, ...depends.map((d) => ({ spec: d, chain: below }))])) return true
        selected.delete(spec.name)
      }
      return false
    } finally {
      required.set(spec.name, requirements.slice(0, -1))
    }
  }

  if (!satisfy([{ spec: root, chain: [] }])) {
    return { ok: false, failure: failure ?? { chain: [root.source], reason: "no solution" } }
  }

  // Dependencies before the packages that need them, so a later package may overwrite an earlier one's file.
  const order: Array<Candidate> = []
  const placed = new Set<string>()
  const place = (name: string) => {
    const entry = selected.get(name)
    if (entry === undefined || placed.has(name)) return
    placed.add(name)
    const names = specsOf(entry.candidate.record.depends).map((d) => d.name).sort()
    for (const dep of names) place(dep)
    order.push(entry.candidate)
  }
  place(root.name)
  return { ok: true, packages: order }
}
