import { Duration, Effect } from "effect"

export interface RetryPolicy {
  /** Extra attempts after the first, for transient failures only. */
  readonly retries: number
  readonly baseDelayMs: number
  readonly maxDelayMs: number
  /** A server's Retry-After is honoured up to this long; longer waits are cut to it. */
  readonly maxRetryAfterMs: number
}

export const defaultRetryPolicy: RetryPolicy = {
  retries: 4,
  baseDelayMs: 500,
  maxDelayMs: 10_000,
  maxRetryAfterMs: 60_000
}

/** Statuses worth trying again: the server or something in front of it is overloaded or briefly broken. */
export const isRetryableStatus = (status: number): boolean => status === 408 || status === 429 || status >= 500

/** Retry-After as seconds or an HTTP date; undefined when absent or unreadable. */
export const parseRetryAfter = (value: string | undefined, now: number = Date.now()): number | undefined => {
  if (value === undefined) return undefined
  const trimmed = value.trim()
  if (/^[0-9]+$/.test(trimmed)) return Number(trimmed) * 1000
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

/** Exponential backoff with full jitter, so parallel uploads that failed together do not retry together. */
export const backoffDelay = (policy: RetryPolicy, attempt: number, random: () => number = Math.random): number => {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1))
  return Math.round(ceiling / 2 + (random() * ceiling) / 2)
}

/** How a failure should be treated by `retrying`. */
export interface RetryVerdict {
  readonly retryable: boolean
  readonly retryAfterMs?: number
}

/**
 * Runs `attempt(n)` (n from 1) until it succeeds, fails for good, or the retries run out.
 * The delay is the server's Retry-After when it sent one (capped), else jittered exponential backoff.
 */
export const retrying = <A, E, R>(
  policy: RetryPolicy,
  attempt: (n: number) => Effect.Effect<A, E, R>,
  classify: (error: E) => RetryVerdict,
  onRetry: (error: E, n: number, delayMs: number) => Effect.Effect<void> = () => Effect.void
): Effect.Effect<A, E, R> => {
  const loop = (n: number): Effect.Effect<A, E, R> =>
    attempt(n).pipe(
      Effect.catchAll((error) => {
        const verdict = classify(error)
        if (!verdict.retryable || n > policy.retries) return Effect.fail(error)
        const delay = verdict.retryAfterMs !== undefined
          ? Math.min(verdict.retryAfterMs, policy.maxRetryAfterMs)
          : backoffDelay(policy, n)
        return onRetry(error, n, delay).pipe(
          Effect.zipRight(Effect.sleep(Duration.millis(delay))),
          Effect.zipRight(loop(n + 1))
        )
      })
    )
  return loop(1)
}
