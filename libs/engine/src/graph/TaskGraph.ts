import { Data, Effect, Either, Option, ParseResult, Schema, type Scope } from "effect"
import type { Json, JsonObject } from "./TaskKey"

/** Which limiter a task runs under: `cpu` (-j), `net` (downloads, registry), `io` (disk-bound copies). */
export type ResourceClass = "cpu" | "net" | "io"

/** A blob in the cache store that a task's output points to; a cache hit requires it to be present. */
export interface BlobRef {
  readonly digest: `sha256:${string}`
  readonly size: number
}

/** What a finished dependency hands its dependents: its value, its key, and its output as stored in the cache. */
export interface DepResult<A> {
  readonly value: A
  readonly key: string
  readonly output: Json
}

/** A task's result in both forms: the typed value and its Schema-encoded JSON, plus the blobs it references. */
export interface Produced<A> {
  readonly value: A
  readonly output: Json
  readonly blobs: ReadonlyArray<BlobRef>
}

/**
 * A node of a task graph, with its output type erased into closures so graphs can mix output types.
 * Build one with `task`; the scheduler is the only caller of `keyInputs`, `execute` and `restore`.
 */
export interface Task<out A, out E = never, out R = never> {
  readonly id: string
  readonly kind: string
  readonly resource: ResourceClass
  readonly cacheable: boolean
  /** alias → dependency; the alias names the dependency inside this task's key structure. */
  readonly deps: ReadonlyArray<readonly [alias: string, task: AnyTask]>
  /** Aliases whose task keys go into this task's key (`deps` of its key structure). */
  readonly keyDeps: ReadonlyArray<string>
  /** Side-effect free (e.g. a version lookup): a dry run may execute it to learn what its dependents' keys are. */
  readonly probe: boolean
  /** What reports call this run of the task once its dependencies are done (e.g. `http:hello@1.0.0`). */
  readonly label: (deps: ReadonlyMap<string, DepResult<unknown>>) => string
  readonly keyInputs: (deps: ReadonlyMap<string, DepResult<unknown>>) => Effect.Effect<JsonObject, E, R>
  readonly execute: (deps: ReadonlyMap<string, DepResult<unknown>>) => Effect.Effect<Produced<A>, E | TaskOutputError, R>
  /** Decodes a cached output and re-validates it; Left is why the cached output cannot be used. */
  readonly restore: (output: Json) => Effect.Effect<Either.Either<Produced<A>, string>, never, R>
  /** `keyInputs` without Effects when they can be had so (undefined: use `keyInputs`); never fails. */
  readonly quickInputs: (deps: ReadonlyMap<string, DepResult<unknown>>) => JsonObject | undefined
  /** `restore` without Effects when it can tell the cached output still holds (undefined: use `restore`). */
  readonly quickRestore: (output: Json) => Produced<A> | undefined
}

export type AnyTask = Task<unknown, unknown, unknown>
export type TaskValue<T> = T extends Task<infer A, unknown, unknown> ? A : never
export type TaskError<T> = T extends Task<unknown, infer E, unknown> ? E : never
export type TaskContext<T> = T extends Task<unknown, unknown, infer R> ? R : never

type Deps = Readonly<Record<string, AnyTask>>
export type DepValues<D extends Deps> = { readonly [K in keyof D]: DepResult<TaskValue<D[K]>> }

/**
 * How a task is declared. `inputs` must name everything its result depends on besides the keys of the
 * dependencies listed in `keyDeps` (default: all); it may read the world (an Effect), e.g. to fingerprint a
 * tree. `output` encodes the result to JSON for the action cache. `run` may use a Scope (temp files, child
 * processes): it is closed when the task ends, fails or is interrupted.
 */
export interface TaskSpec<A, I extends Json, E, R, D extends Deps, EI = never, RI = never> {
  readonly id: string
  readonly kind: string
  readonly resource: ResourceClass
  readonly cacheable: boolean
  readonly deps?: D
  /**
   * Dependencies whose keys are part of this task's key. A task whose inputs already name what it uses of a
   * dependency's output (a version, a digest) lists none, so an upstream rerun with the same result does not
   * invalidate it.
   */
  readonly keyDeps?: ReadonlyArray<keyof D & string>
  readonly probe?: boolean
  readonly label?: (deps: DepValues<D>) => string
  readonly output: Schema.Schema<A, I>
  readonly inputs: (deps: DepValues<D>) => JsonObject | Effect.Effect<JsonObject, EI, RI>
  readonly run: (deps: DepValues<D>) => Effect.Effect<A, E, R>
  /** Blobs in the cache store the value refers to; a hit whose blobs are gone or damaged is a miss. */
  readonly blobs?: (value: A) => ReadonlyArray<BlobRef>
  /** Extra check on a cached value before it counts as a hit (e.g. an install dir still exists). */
  readonly validate?: (value: A) => Effect.Effect<boolean, never, R>
  /**
   * For a warm build's many hits: `inputs` without Effects, or undefined when that needs real work (e.g. a tree to
   * hash); and `validate` the same way (true: still valid; anything else: ask `validate`). A task with `validate`
   * but no `validateNow` is always restored through `validate`.
   */
  readonly quickInputs?: (deps: DepValues<D>) => JsonObject | undefined
  readonly validateNow?: (value: A) => boolean | undefined
}

/** A task produced a value its own output Schema cannot encode: a bug in the task, named here. */
export class TaskOutputError extends Data.TaggedError("TaskOutputError")<{
  readonly taskId: string
  readonly kind: string
  readonly message: string
}> {}

/** A graph that cannot be scheduled: duplicate id, dependency outside the graph, or a cycle (listed in order). */
export class GraphError extends Data.TaggedError("GraphError")<{
  readonly graph: string
  readonly reason: "DuplicateId" | "MissingDependency" | "Cycle" | "DuplicateGraph"
  readonly tasks: ReadonlyArray<string>
  readonly message: string
}> {}

/**
 * Cached outputs decoded so far, by schema and output object. A process that builds again and again (the daemon)
 * gets the same output object back from the cache store while its record file is unchanged, so a hit decodes it
 * once; decoding is pure, so the value can be shared.
 */
const decoded = new WeakMap<object, WeakMap<object, unknown>>()

const decodeNow = <A, I>(
  schema: Schema.Schema<A, I>,
  output: Json,
  decode: (u: unknown) => Either.Either<A, ParseResult.ParseError>
): Either.Either<A, string> => {
  const bySchema = typeof output === "object" && output !== null ? decoded.get(schema) : undefined
  // Only values this function stored under this schema are in `bySchema`: they have type A.
  if (bySchema?.has(output as object) === true) return Either.right(bySchema.get(output as object) as A)
  return Either.match(decode(output), {
    onLeft: (error) => Either.left(`cached output does not decode: ${ParseResult.TreeFormatter.formatErrorSync(error)}`),
    onRight: (value) => {
      if (typeof output === "object" && output !== null) {
        const memo = decoded.get(schema) ?? new WeakMap<object, unknown>()
        memo.set(output, value)
        decoded.set(schema, memo)
      }
      return Either.right(value)
    }
  })
}

export const task = <A, I extends Json, E, R, D extends Deps = {}, EI = never, RI = never>(
  spec: TaskSpec<A, I, E, R, D, EI, RI>
): Task<A, E | EI, Exclude<R | RI, Scope.Scope>> => {
  const deps = Object.entries(spec.deps ?? {})
  // The scheduler fills each alias from the task it names, so every value has that task's output type.
  const typed = (results: ReadonlyMap<string, DepResult<unknown>>) =>
    Object.fromEntries(deps.map(([alias]) => [alias, results.get(alias)])) as DepValues<D>
  const encode = Schema.encode(spec.output)
  const decode = Schema.decodeUnknownEither(spec.output)
  const produced = (value: A, output: Json): Produced<A> => ({ value, output, blobs: spec.blobs?.(value) ?? [] })
  return {
    id: spec.id,
    kind: spec.kind,
    resource: spec.resource,
    cacheable: spec.cacheable,
    deps,
    keyDeps: spec.keyDeps ?? deps.map(([alias]) => alias),
    probe: spec.probe ?? false,
    label: (results) => spec.label?.(typed(results)) ?? spec.id,
    keyInputs: (results) => {
      const inputs = spec.inputs(typed(results))
      return Effect.isEffect(inputs) ? Effect.scoped(inputs) : Effect.succeed(inputs)
    },
    execute: (results) =>
      Effect.scoped(spec.run(typed(results))).pipe(
        Effect.flatMap((value) =>
          encode(value).pipe(
            Effect.mapError((error) =>
              new TaskOutputError({
                taskId: spec.id,
                kind: spec.kind,
                message: `task ${spec.id} (${spec.kind}) produced a value its output schema cannot encode: ${ParseResult.TreeFormatter.formatErrorSync(error)}`
              })
            ),
            Effect.map((output) => produced(value, output))
          )
        )
      ),
    quickInputs: (results) => {
      try {
        if (spec.quickInputs !== undefined) return spec.quickInputs(typed(results))
        const inputs = spec.inputs(typed(results))
        return Effect.isEffect(inputs) ? undefined : inputs
      } catch {
        // `keyInputs` runs it again and reports the failure as the task's.
        return undefined
      }
    },
    quickRestore: (output) => {
      const value = decodeNow(spec.output, output, decode)
      if (Either.isLeft(value)) return undefined
      if (spec.validate !== undefined) {
        try {
          if (spec.validateNow?.(value.right) !== true) return undefined
        } catch {
          return undefined
        }
      }
      return produced(value.right, output)
    },
    restore: (output) =>
      Effect.suspend(() => decodeNow(spec.output, output, decode)).pipe(
        Effect.flatMap((value) =>
          Effect.scoped(spec.validate?.(value) ?? Effect.succeed(true)).pipe(
            Effect.flatMap((ok) => ok ? Effect.succeed(produced(value, output)) : Effect.fail("cached output failed validation"))
          )
        ),
        Effect.either
      )
  }
}

/** One image's tasks: every dependency must be listed too, ids unique, no cycles. */
export interface TaskGraph<T extends AnyTask = AnyTask> {
  readonly name: string
  readonly tasks: ReadonlyArray<T>
  /** Task ids in a dependency-first order (ties broken by listing order). */
  readonly order: ReadonlyArray<string>
}

export const taskGraph = <T extends AnyTask>(name: string, tasks: ReadonlyArray<T>): Either.Either<TaskGraph<T>, GraphError> => {
  const byId = new Map<string, T>()
  for (const t of tasks) {
    const existing = byId.get(t.id)
    if (existing !== undefined) {
      return Either.left(
        new GraphError({
          graph: name,
          reason: "DuplicateId",
          tasks: [t.id],
          message: `graph ${name}: two different tasks have the id "${t.id}"; task ids must be unique within a graph`
        })
      )
    }
    byId.set(t.id, t)
  }
  for (const t of tasks) {
    for (const [alias, dep] of t.deps) {
      if (byId.get(dep.id) !== dep) {
        return Either.left(
          new GraphError({
            graph: name,
            reason: "MissingDependency",
            tasks: [t.id, dep.id],
            message: `graph ${name}: task "${t.id}" depends on "${dep.id}" (as ${alias}), which is not among the graph's tasks; list every dependency in the graph`
          })
        )
      }
    }
  }
  return Either.map(topologicalOrder(name, tasks), (order) => ({ name, tasks, order }))
}

/** Depth-first post-order; a back edge is reported as the cycle it closes. */
const topologicalOrder = (name: string, tasks: ReadonlyArray<AnyTask>): Either.Either<ReadonlyArray<string>, GraphError> => {
  const state = new Map<string, "visiting" | "done">()
  const order: Array<string> = []
  const stack: Array<string> = []
  const visit = (t: AnyTask): Option.Option<ReadonlyArray<string>> => {
    const s = state.get(t.id)
    if (s === "done") return Option.none()
    if (s === "visiting") return Option.some([...stack.slice(stack.indexOf(t.id)), t.id])
    state.set(t.id, "visiting")
    stack.push(t.id)
    for (const [, dep] of t.deps) {
      const cycle = visit(dep)
      if (Option.isSome(cycle)) return cycle
    }
    stack.pop()
    state.set(t.id, "done")
    order.push(t.id)
    return Option.none()
  }
  for (const t of tasks) {
    const cycle = visit(t)
    if (Option.isSome(cycle)) {
      return Either.left(
        new GraphError({
          graph: name,
          reason: "Cycle",
          tasks: cycle.value,
          message: `graph ${name}: tasks depend on each other in a cycle: ${cycle.value.join(" → ")}`
        })
      )
    }
  }
  return Either.right(order)
}

/**
 * Inside `inputs` or `run` of a task whose dependencies are a record built at run time (one per tool), the
 * value of the dependency `t` listed under `alias`.
 */
export const depValue = <A>(deps: Readonly<Record<string, DepResult<unknown>>>, alias: string, t: Task<A, unknown, unknown>): A => {
  const found = deps[alias]
  if (found === undefined) throw new Error(`task dependency "${alias}" (${t.kind} ${t.id}) is not among the task's deps`)
  // The scheduler fills each alias from the task it names, so the value has t's output type.
  return found.value as A
}
