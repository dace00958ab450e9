import type { Clock } from "../clock.js";

interface Sleeper {
  readonly at: number;
  readonly resolve: () => void;
}

/**
 * Virtual time that runs by itself: whenever the process has nothing else to
 * do (a macrotask turn after the last sleep was scheduled), time jumps to the
 * earliest sleeper's deadline and wakes it. Tests using it never really wait,
 * and everything that is not sleeping (fake checks resolving promptly) runs
 * before time moves.
 */
export class FakeClock implements Clock {
  private t = 0;
  private sleepers: Sleeper[] = [];
  private scheduled = false;

  constructor(start = 1_000_000) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const sleeper: Sleeper = {
        at: this.t + Math.max(0, ms),
        resolve: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      const onAbort = (): void => {
        this.sleepers = this.sleepers.filter((s) => s !== sleeper);
        reject(signal?.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.sleepers.push(sleeper);
      this.schedule();
    });
  }

  /** Moves time by hand (sleepers whose deadline passes wake up on the next turn). */
  advance(ms: number): void {
    this.t += ms;
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // Several turns, so promise chains and immediates started by the previous wake-up settle first.
    setImmediate(() => setImmediate(() => setImmediate(() => this.tick())));
  }

  private tick(): void {
    this.scheduled = false;
    if (this.sleepers.length === 0) return;
    const at = Math.min(...this.sleepers.map((s) => s.at));
    this.t = Math.max(this.t, at);
    const due = this.sleepers.filter((s) => s.at <= this.t);
    this.sleepers = this.sleepers.filter((s) => s.at > this.t);
    for (const s of due) s.resolve();
    if (this.sleepers.length > 0) this.schedule();
  }
}
