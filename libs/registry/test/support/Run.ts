import { Effect, Layer, Logger, LogLevel } from "effect"
import { layerRegistryClient, type RegistryClient, type RegistryClientConfig } from "../../src/RegistryClient"
import { noCredentials } from "../../src/Credentials"

/** Test settings: short timeouts and quick retries, no credentials unless given. */
export const testClient = (overrides: Partial<RegistryClientConfig> = {}): Layer.Layer<RegistryClient> =>
  layerRegistryClient({
    connectTimeoutMs: 5_000,
    headersTimeoutMs: 15_000,
    idleTimeoutMs: 15_000,
    retry: { retries: 3, baseDelayMs: 20, maxDelayMs: 200, maxRetryAfterMs: 2_000 },
    credentials: noCredentials,
    ...overrides
  })

/** Runs an effect with a fresh client; logs are dropped unless `logs` collects them. */
export const runWith = <A, E>(
  effect: Effect.Effect<A, E, RegistryClient>,
  overrides: Partial<RegistryClientConfig> = {},
  logs?: Array<string>
): Promise<A> => {
  const logger = Logger.make(({ logLevel, message }) => {
    logs?.push(`${logLevel.label} ${Array.isArray(message) ? message.map(String).join(" ") : String(message)}`)
  })
  return Effect.runPromise(
    effect.pipe(
      Effect.provide(testClient(overrides)),
      Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
      Logger.withMinimumLogLevel(LogLevel.All)
    )
  )
}

/** Runs an effect expected to fail and returns its error. */
export const failWith = <A, E>(
  effect: Effect.Effect<A, E, RegistryClient>,
  overrides: Partial<RegistryClientConfig> = {},
  logs?: Array<string>
): Promise<E> => runWith(Effect.flip(effect), overrides, logs)
