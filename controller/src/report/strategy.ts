// A rollout's strategy as data, and how results show it; rollout/fleet/strategy.ts parses and
// plans with it.

/** A number of robots, or a share of the rollout's robots. */
export type Amount =
  | { readonly kind: "count"; readonly n: number }
  | { readonly kind: "percent"; readonly p: number };

/** How a rollout moves through its robots (the options of `deploy` with several targets). */
export interface Strategy {
  /** The first N robots go alone; any failure among them stops the rollout. 0 = no canary. */
  readonly canary: number;
  /** Wave size after the canary (default: every remaining robot). */
  readonly batch: Amount;
  /** Transfers at once. */
  readonly maxParallel: number;
  /** Abort when more robots than this failed (default 0: the first failure aborts)… */
  readonly maxFailures: Amount;
  /** …once at least this many robots finished. */
  readonly minSample: number;
  /** Between waves. */
  readonly pauseSeconds: number;
  /** On abort, robots this rollout moved go back to their own recorded previous generation. */
  readonly rollbackOnAbort: boolean;
  /** Skipped robots (unreachable, refusing) count as failures. */
  readonly strict: boolean;
}

export function formatAmount(a: Amount): string {
  return a.kind === "count" ? String(a.n) : `${a.p}%`;
}

export function strategyJson(s: Strategy) {
  return {
    canary: s.canary,
    batch: formatAmount(s.batch),
    maxParallel: s.maxParallel,
    maxFailures: formatAmount(s.maxFailures),
    minSample: s.minSample,
    pauseSeconds: s.pauseSeconds,
    rollbackOnAbort: s.rollbackOnAbort,
    strict: s.strict,
  };
}
