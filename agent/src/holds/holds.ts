import { setTimeout as sleep } from "node:timers/promises";
import { AgentError } from "../errors.js";
import { type ConditionDeps, evaluateConditions, type HoldCondition } from "./conditions.js";
import { readHoldDir } from "./dir.js";
import type { HoldStore } from "./store.js";
import { describeHolds, type Hold } from "./types.js";

export interface HoldsOptions {
  readonly store: HoldStore;
  readonly dir: string;
  readonly conditions: readonly HoldCondition[];
  readonly conditionDeps: ConditionDeps;
  /** Told about every refusal (metrics). */
  readonly onRefused?: (holds: readonly Hold[]) => void;
}

/** Every source of holds behind one call: what admission asks, and what status shows. */
export class Holds {
  constructor(private readonly o: HoldsOptions) {}

  get store(): HoldStore {
    return this.o.store;
  }

  /** Every hold now: commands, files, conditions (in that order). */
  async current(signal: AbortSignal): Promise<Hold[]> {
    const [commands, files, conditions] = await Promise.all([
      this.o.store.list(),
      readHoldDir(this.o.dir),
      evaluateConditions(this.o.conditions, this.o.conditionDeps, signal),
    ]);
    return [...commands, ...files, ...conditions];
  }

  /**
   * Reads every source every `intervalMs` until stopped: keeps the topic
   * subscriptions of conditions warm (a message must have arrived before a
   * deploy asks) and the gauges current.
   */
  watch(
    intervalMs: number,
    onHolds: (holds: readonly Hold[]) => void,
    onError: (e: unknown) => void,
  ): () => void {
    const ac = new AbortController();
    const loop = async () => {
      while (!ac.signal.aborted) {
        try {
          onHolds(await this.current(AbortSignal.any([ac.signal, AbortSignal.timeout(10_000)])));
        } catch (e) {
          if (!ac.signal.aborted) onError(e);
        }
        await sleep(intervalMs, undefined, { signal: ac.signal }).catch(() => undefined);
      }
    };
    loop().catch(onError);
    return () => ac.abort();
  }

  /** Throws HELD (a FAILED_PRECONDITION a controller may wait out) naming every hold (bounded) when the robot is held. */
  async assertFree(signal: AbortSignal): Promise<void> {
    const holds = await this.current(signal);
    if (holds.length === 0) return;
    this.o.onRefused?.(holds);
    throw new AgentError("HELD", `the robot is held: ${describeHolds(holds)}`);
  }
}
