import type { PathInfo } from "@ros-rollback/proto";
import type { AgentApi } from "../../agent-api.js";
import type { PushSummary, Transfer } from "../../transfer/transfer.js";

/** At most `n` holders at once; the rest wait in order. */
export class Semaphore {
  private held = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly n: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.held >= this.n) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.held++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next === undefined) this.held--;
      else next();
    }
  }
}

/**
 * A Transfer of which at most `--max-parallel` run at once; `gate` is asked
 * once a slot is free, so a rollout aborted meanwhile starts no new transfer.
 */
export class LimitedTransfer implements Transfer {
  constructor(
    private readonly inner: Transfer,
    private readonly slots: Semaphore,
    private readonly gate: () => void,
  ) {}

  ensurePaths(
    api: AgentApi,
    closure: readonly PathInfo[],
    signal: AbortSignal,
    report: (summary: PushSummary) => void,
    asked?: Promise<string[]>,
  ): Promise<PushSummary> {
    return this.slots.run(() => {
      this.gate();
      return this.inner.ensurePaths(api, closure, signal, report, asked);
    });
  }
}
