import { Context } from "effect"

/**
 * Where long byte-moving work (a download, a layer being compressed) says how far it got. The engine provides one
 * per running task and shows it live; by default it goes nowhere, so library code never prints.
 */
export interface ProgressShape {
  /** `bytes` more of the current work are done (called from stream callbacks: must be cheap and never throw). */
  readonly advance: (bytes: number) => void
}

export class Progress extends Context.Reference<Progress>()("@engine/layout/Progress", {
  defaultValue: (): ProgressShape => ({ advance: () => undefined })
}) {}
