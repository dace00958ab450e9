import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";

/** Monotonic time and sleeping; the evaluator never reads a wall clock, so tests can run on a fake. */
export interface Clock {
  /** Milliseconds on a monotonic scale (not the epoch). */
  now(): number;
  /** Resolves after `ms`; rejects with the signal's reason when aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const monotonicClock: Clock = {
  now: () => performance.now(),
  sleep: async (ms, signal) => {
    await sleep(Math.max(0, ms), undefined, { signal });
  },
};
