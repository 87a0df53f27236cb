import { Data } from "effect"

/** A reference that Docker's normalization would also refuse. */
export class ReferenceParseError extends Data.TaggedError("ReferenceParseError")<{
  readonly input: string
  readonly message: string
}> {}

/** The registry could not be reached, or the connection broke, even after retries. */
export class TransportError extends Data.TaggedError("TransportError")<{
  readonly registry: string
  readonly method: string
  readonly url: string
  readonly attempts: number
  /** Whether trying again could help (a reset or timeout, not an unknown host). */
  readonly retryable: boolean
  readonly message: string
  readonly cause?: unknown
}> {}

/** The registry answered with a status the operation cannot continue from. */
export class RegistryResponseError extends Data.TaggedError("RegistryResponseError")<{
  readonly registry: string
  readonly repository: string
  readonly method: string
  readonly url: string
  readonly status: number
  /** The first OCI error code from the body (`MANIFEST_UNKNOWN`, `DENIED`, …), when there is one. */
  readonly code?: string
  readonly attempts: number
  /** The server's Retry-After, for 429 and 503. */
  readonly retryAfterMs?: number
  readonly message: string
}> {}

/** A challenge could not be answered: the token endpoint refused or returned nonsense, or the scheme is unknown. */
export class AuthError extends Data.TaggedError("AuthError")<{
  readonly registry: string
  readonly url: string
  readonly status?: number
  readonly message: string
}> {}

/** An auth file or credential helper could not be read. */
export class CredentialsError extends Data.TaggedError("CredentialsError")<{
  readonly registry: string
  /** The file or helper program that failed. */
  readonly source: string
  readonly message: string
}> {}

/** A manifest or index that cannot be used: schema v1, undecodable, wrong digest, no entry for the platform. */
export class ManifestError extends Data.TaggedError("ManifestError")<{
  readonly reason: "SchemaV1" | "Decode" | "DigestMismatch" | "NoMatchingPlatform" | "UnsupportedMediaType" | "Invalid"
  readonly registry: string
  readonly repository: string
  readonly reference: string
  readonly digest?: string
  readonly message: string
}> {}

/** A blob whose bytes do not match its descriptor, or that could not be read or stored locally. */
export class BlobError extends Data.TaggedError("BlobError")<{
  readonly reason: "DigestMismatch" | "SizeMismatch" | "Missing" | "Io"
  readonly registry: string
  readonly repository: string
  readonly digest: string
  readonly path?: string
  readonly message: string
  readonly cause?: unknown
}> {}

/** Everything a registry operation can fail with. */
export type RegistryFailure =
  | TransportError
  | RegistryResponseError
  | AuthError
  | CredentialsError
  | ManifestError
  | BlobError

export const errorText = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))
