import type { DryRun } from "@engine/engine"

const MISS: Readonly<Record<string, string>> = {
  Absent: "not cached",
  Undecodable: "cached result no longer holds",
  Corrupt: "cache entry damaged",
  BlobMissing: "cached blob missing",
  BlobCorrupt: "cached blob damaged",
  Unreadable: "cache entry unreadable",
  Bypassed: "--no-cache",
  Forced: "--force",
  NotCacheable: "never cached",
  NoCache: "no cache"
}

/** One line per task in dependency order: name, short key, and hit / run / run after X. */
export const renderDryRun = (plan: DryRun): string => {
  const width = Math.max(4, ...plan.tasks.map((t) => t.task.length))
  const lines = [`${"TASK".padEnd(width)}  ${"KEY".padEnd(16)}  WOULD`]
  for (const t of plan.tasks) {
    const status = t.status === "hit"
      ? "hit"
      : t.status === "blocked"
      ? `run (key needs ${t.blockedBy ?? "a task that would run"})`
      : `run (${(t.miss !== undefined ? MISS[t.miss] : undefined) ?? t.reason ?? "miss"})`
    lines.push(`${t.task.padEnd(width)}  ${(t.key ?? "-").slice(0, 16).padEnd(16)}  ${status}`)
    if (t.dependsOn.length > 0) lines.push(`${"".padEnd(width)}    after ${t.dependsOn.join(", ")}`)
  }
  lines.push(`${plan.hits} of ${plan.tasks.length} tasks would be cache hits, ${plan.runs} would run`)
  return lines.join("\n")
}
