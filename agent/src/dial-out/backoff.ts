/** Reconnect delays: 1 s doubling to 60 s, each jittered to 50–100 % so a fleet does not reconnect in step. */
export interface Backoff {
  readonly minMs: number;
  readonly maxMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { minMs: 1_000, maxMs: 60_000 };

/** The delay before attempt `failures + 1`; `random` in [0, 1). Never above maxMs. */
export function backoffDelay(failures: number, b: Backoff, random: () => number): number {
  const ceiling = Math.min(b.maxMs, b.minMs * 2 ** Math.min(failures, 30));
  return Math.round(ceiling * (0.5 + random() / 2));
}
