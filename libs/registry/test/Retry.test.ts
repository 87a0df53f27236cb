import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { backoffDelay, defaultRetryPolicy, isRetryableStatus, parseRetryAfter, retrying } from "../src/Retry"

describe("retry policy", () => {
  it("retries 408, 429 and 5xx only", () => {
    expect([408, 429, 500, 502, 503].every(isRetryableStatus)).toBe(true)
    expect([400, 401, 403, 404, 416].some(isRetryableStatus)).toBe(false)
  })

  it("reads Retry-After in seconds and as an HTTP date", () => {
    expect(parseRetryAfter("3")).toBe(3000)
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6000)
    expect(parseRetryAfter("soon")).toBeUndefined()
    expect(parseRetryAfter(undefined)).toBeUndefined()
  })

  it("backs off exponentially with jitter, capped", () => {
    const p = { ...defaultRetryPolicy, baseDelayMs: 100, maxDelayMs: 1000 }
    expect(backoffDelay(p, 1, () => 0)).toBe(50)
    expect(backoffDelay(p, 3, () => 1)).toBe(400)
    expect(backoffDelay(p, 10, () => 1)).toBe(1000)
  })

  it("stops at the retry budget, waits Retry-After (capped) between attempts, and never retries a final error", async () => {
    const policy = { retries: 2, baseDelayMs: 1, maxDelayMs: 1, maxRetryAfterMs: 30 }
    const delays: Array<number> = []
    let calls = 0
    const result = await Effect.runPromise(
      retrying(
        policy,
        (n) => (calls++, Effect.fail(n)),
        () => ({ retryable: true, retryAfterMs: 5000 }),
        (_e, _n, delay) => Effect.sync(() => void delays.push(delay))
      ).pipe(Effect.flip)
    )
    expect(result).toBe(3)
    expect(calls).toBe(3)
    expect(delays).toEqual([30, 30])
    let final = 0
    await Effect.runPromise(retrying(policy, () => (final++, Effect.fail("no")), () => ({ retryable: false })).pipe(Effect.flip))
    expect(final).toBe(1)
  })
})
