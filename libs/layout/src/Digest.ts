import { Effect } from "effect"
import { createHash } from "node:crypto"
import { DigestError } from "./Errors"

/** A content address; only sha256 is produced or accepted, as in mise. */
export type Digest = `sha256:${string}`

const HEX64 = /^[0-9a-f]{64}$/

export const sha256Hex = (data: Uint8Array): string => createHash("sha256").update(data).digest("hex")

export const digestOf = (data: Uint8Array): Digest => `sha256:${sha256Hex(data)}`

/** The hex part, which is also the blob's file name under `blobs/sha256/`. */
export const digestHex = (digest: Digest): string => digest.slice("sha256:".length)

export const isDigest = (s: string): s is Digest => s.startsWith("sha256:") && HEX64.test(s.slice(7))

/** Validates untrusted input; the hex check also rules out path traversal and uppercase (blob names are paths). */
export const parseDigest = (s: string): Effect.Effect<Digest, DigestError> => {
  if (!s.startsWith("sha256:")) {
    return Effect.fail(
      new DigestError({ reason: "MissingPrefix", input: s, message: "invalid blob digest (expected sha256: prefix)" })
    )
  }
  if (!HEX64.test(s.slice(7))) {
    return Effect.fail(
      new DigestError({ reason: "BadHex", input: s, message: "invalid blob digest (expected 64 lowercase hex chars)" })
    )
  }
  return Effect.succeed(s as Digest)
}

/** Fails unless `data` hashes to `expected`. */
export const verifyDigest = (data: Uint8Array, expected: Digest): Effect.Effect<void, DigestError> =>
  verifyComputed(digestOf(data), expected)

/** Compares a digest computed elsewhere (e.g. while streaming) with the expected one. */
export const verifyComputed = (actual: Digest, expected: Digest): Effect.Effect<void, DigestError> =>
  actual === expected
    ? Effect.void
    : Effect.fail(
      new DigestError({
        reason: "Mismatch",
        input: actual,
        expected,
        message: `blob digest mismatch: got ${actual}, expected ${expected}`
      })
    )
