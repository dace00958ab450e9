import { setTimeout as sleep } from "node:timers/promises";
import { withDeadline } from "../abort/with-deadline.js";
import { AgentError } from "../errors.js";
import { cut, MAX_MESSAGE } from "../text/bounded.js";
import {
  type ConditionDeps,
  conditionTopics,
  evaluateConditions,
  type HoldCondition,
  syncTopics,
} from "./conditions.js";
import { holdDirReader } from "./dir-reader.js";
import { type HoldSplit, overrideHint, splitHolds } from "./override.js";
import type { HoldStore } from "./store.js";
import { describeHolds, type Hold } from "./types.js";

export interface HoldsOptions {
  readonly store: HoldStore;
  readonly dir: string;
  /** How long a read of `dir` may take before it counts as held (default HOLD_DIR_TIMEOUT_MS). */
  readonly dirTimeoutMs?: number;
  readonly conditions: readonly HoldCondition[];
  readonly conditionDeps: ConditionDeps;
  /** Told about every refusal (metrics). */
  readonly onRefused?: (holds: readonly Hold[]) => void;
  /** Told about every hold a request went ahead despite (metrics). */
  readonly onOverridden?: (holds: readonly Hold[]) => void;
}

/** Every source of holds behind one call: what admission asks, and what status shows. */
export class Holds {
  private readonly readDir: () => Promise<Hold[]>;

  constructor(private readonly o: HoldsOptions) {
    this.readDir = holdDirReader(o.dir, o.dirTimeoutMs);
  }

  get store(): HoldStore {
    return this.o.store;
  }

  /** Every hold now: commands, files, conditions (in that order). */
  async current(signal: AbortSignal): Promise<Hold[]> {
    const [commands, files, conditions] = await Promise.all([
      this.o.store.list(),
      this.readDir(),
      evaluateConditions(this.o.conditions, this.o.conditionDeps, signal),
    ]);
    return [...commands, ...files, ...conditions];
  }

  /**
   * Keeps the subscriptions of topic conditions warm (a message must have arrived before a
   * deploy asks) by syncing them every `intervalMs` until stopped. Nothing else is polled:
   * files, command holds and unit conditions are read when asked (admission, status, a
   * Prometheus scrape). Without topic conditions no timer runs at all.
   */
  keepTopicsWarm(intervalMs: number, onError: (e: unknown) => void): () => void {
    const ros = this.o.conditionDeps.ros;
    const topics = conditionTopics(this.o.conditions);
    if (ros === undefined || topics.length === 0) return () => {};
    const ac = new AbortController();
    const loop = async () => {
      while (!ac.signal.aborted) {
        const deadline = withDeadline(ac.signal, 10_000);
        try {
          await syncTopics(ros, topics, deadline.signal);
        } catch (e) {
          if (!ac.signal.aborted) onError(e);
        } finally {
          deadline.clear();
        }
        await sleep(intervalMs, undefined, { signal: ac.signal }).catch(() => undefined);
      }
    };
    loop().catch(onError);
    return () => ac.abort();
  }

  /**
   * Throws HELD (a FAILED_PRECONDITION a controller may wait out) naming every
   * hold not in `override` (bounded) and how to override them. Returns the
   * split when the request may go ahead (`overridden`: the holds it goes ahead despite).
   */
  async assertFree(signal: AbortSignal, override: readonly string[] = []): Promise<HoldSplit> {
    const split = splitHolds(await this.current(signal), override);
    if (split.blocking.length > 0) {
      this.o.onRefused?.(split.blocking);
      // The hint goes last and must survive the trailer's cut: the list gives way first.
      const hint = overrideHint(split.blocking);
      const head = "the robot is held: ";
      const room = Math.max(300, MAX_MESSAGE - 100 - head.length - hint.length);
      const list = cut(describeHolds(split.blocking), room);
      throw new AgentError("HELD", `${head}${list}${hint}`);
    }
    if (split.overridden.length > 0) this.o.onOverridden?.(split.overridden);
    return split;
  }
}
