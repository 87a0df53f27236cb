import { type Digest, isDigest } from "@engine/layout"
import { Either } from "effect"
import { ReferenceParseError } from "./Errors"

/** A fully normalized image reference, as Docker's `ParseNormalizedNamed` would produce it. */
export interface Reference {
  /** `docker.io`, `ghcr.io`, `localhost:5000`, `[::1]:5000`. */
  readonly registry: string
  /** `library/alpine`, `you/devenv`. */
  readonly repository: string
  /** Absent only when a digest is given without a tag. */
  readonly tag?: string
  readonly digest?: Digest
}

export const DOCKER_HUB = "docker.io"
/** Docker Hub's API is served from another host than its name. */
export const DOCKER_HUB_API = "registry-1.docker.io"

// distribution/reference's grammar.
const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/
const TAG = /^[\w][\w.-]{0,127}$/
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/
const PORT = /^[0-9]+$/
const MAX_NAME_LENGTH = 255

const fail = (input: string, why: string) =>
  Either.left(new ReferenceParseError({ input, message: `invalid reference "${input}": ${why}` }))

const validDomain = (domain: string): boolean => {
  const bracketed = /^\[([0-9a-fA-F:.]+)\](?::([0-9]+))?$/.exec(domain)
  if (bracketed !== null) return true
  const colon = domain.lastIndexOf(":")
  const host = colon < 0 ? domain : domain.slice(0, colon)
  if (colon >= 0 && !PORT.test(domain.slice(colon + 1))) return false
  return host.split(".").every((part) => DOMAIN_COMPONENT.test(part))
}

/** The first path segment names a registry only if it looks like a host (Docker's rule, also mise's). */
const looksLikeRegistry = (segment: string): boolean =>
  segment.includes(".") || segment.includes(":") || segment === "localhost" || segment.toLowerCase() !== segment

/**
 * Parses `alpine`, `alpine:3.20`, `ghcr.io/you/x@sha256:…`, `name:tag@digest`, `localhost:5000/x`.
 * One-part Docker Hub names get `library/`; `index.docker.io` becomes `docker.io`; no tag and no digest means `latest`.
 */
export const parseReference = (input: string): Either.Either<Reference, ReferenceParseError> => {
  if (input === "") return fail(input, "empty reference")
  const at = input.indexOf("@")
  const namePart = at < 0 ? input : input.slice(0, at)
  const digestPart = at < 0 ? undefined : input.slice(at + 1)
  if (digestPart !== undefined && !isDigest(digestPart)) {
    return fail(input, `digest "${digestPart}" is not sha256: followed by 64 lowercase hex characters`)
  }
  const colon = namePart.lastIndexOf(":")
  const hasTag = colon >= 0 && !namePart.slice(colon + 1).includes("/")
  const name = hasTag ? namePart.slice(0, colon) : namePart
  const tag = hasTag ? namePart.slice(colon + 1) : undefined
  if (tag !== undefined && !TAG.test(tag)) {
    return fail(input, `tag "${tag}" must match [A-Za-z0-9_][A-Za-z0-9._-]{0,127}`)
  }
  const slash = name.indexOf("/")
  const first = slash < 0 ? name : name.slice(0, slash)
  const explicitRegistry = slash >= 0 && looksLikeRegistry(first)
  let registry = explicitRegistry ? first : DOCKER_HUB
  let repository = explicitRegistry ? name.slice(slash + 1) : name
  if (explicitRegistry && !validDomain(registry)) return fail(input, `"${registry}" is not a valid registry host`)
  if (registry === "index.docker.io") registry = DOCKER_HUB
  if (registry === DOCKER_HUB && !repository.includes("/")) repository = `library/${repository}`
  if (repository === "") return fail(input, "the repository name is empty")
  if (repository.toLowerCase() !== repository) return fail(input, `repository name "${repository}" must be lowercase`)
  const bad = repository.split("/").find((c) => !COMPONENT.test(c))
  if (bad !== undefined) {
    return fail(input, `path component "${bad}" must be lowercase letters, digits and single separators (. _ __ -)`)
  }
  if (registry.length + 1 + repository.length > MAX_NAME_LENGTH) {
    return fail(input, `the name is longer than ${MAX_NAME_LENGTH} characters`)
  }
  return Either.right({
    registry,
    repository,
    ...(tag !== undefined || digestPart === undefined ? { tag: tag ?? "latest" } : {}),
    ...(digestPart !== undefined ? { digest: digestPart as Digest } : {})
  })
}

/** What goes after `/manifests/`: the digest when there is one (it pins the content), else the tag. */
export const referenceIdentifier = (ref: Reference): string => ref.digest ?? ref.tag ?? "latest"

/** The canonical text form, e.g. `docker.io/library/alpine:3.20` or `localhost:5000/x@sha256:…`. */
export const formatReference = (ref: Reference): string =>
  `${ref.registry}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ""}${ref.digest !== undefined ? `@${ref.digest}` : ""}`

/** The same repository at another tag or digest. */
export const withIdentifier = (ref: Reference, identifier: string): Reference =>
  isDigest(identifier)
    ? { registry: ref.registry, repository: ref.repository, digest: identifier }
    : { registry: ref.registry, repository: ref.repository, tag: identifier }

/** The host:port the API is served from. */
export const apiHost = (registry: string): string => (registry === DOCKER_HUB ? DOCKER_HUB_API : registry)

/** The host without its port or IPv6 brackets. */
export const hostName = (hostPort: string): string => {
  const bracketed = /^\[([^\]]+)\]/.exec(hostPort)
  if (bracketed !== null) return bracketed[1]!
  const colon = hostPort.lastIndexOf(":")
  return colon < 0 ? hostPort : hostPort.slice(0, colon)
}

export const isLoopback = (hostPort: string): boolean => {
  const host = hostName(hostPort).toLowerCase()
  return host === "localhost" || host === "::1" || /^127(?:\.[0-9]{1,3}){3}$/.test(host)
}

/** Plain HTTP only for loopback and hosts the user listed (exact `host:port`, or a bare host for any port). */
export const registryScheme = (registry: string, insecureRegistries: ReadonlyArray<string>): "http" | "https" => {
  const host = apiHost(registry)
  if (isLoopback(host)) return "http"
  return insecureRegistries.some((entry) => entry === host || entry === hostName(host)) ? "http" : "https"
}

/** `http://127.0.0.1:5000` or `https://registry-1.docker.io`. */
export const registryBaseUrl = (registry: string, insecureRegistries: ReadonlyArray<string>): string =>
  `${registryScheme(registry, insecureRegistries)}://${apiHost(registry)}`
