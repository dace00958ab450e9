/**
 * Message arrival times of one topic, kept for `retainMs` (and at most `max` of them): what
 * rates are computed from. Adding is amortized O(1): stale times are cut off in batches, not
 * by copying the window for every message.
 */
export class Arrivals {
  /** Oldest first; those before index `kept` are stale. */
  private times: number[] = [];
  private kept = 0;

  constructor(
    private readonly retainMs: number,
    private readonly max: number,
  ) {}

  add(now: number): void {
    this.times.push(now);
    const keepFrom = now - this.retainMs;
    while ((this.times[this.kept] ?? now) < keepFrom) this.kept++;
    this.kept = Math.max(this.kept, this.times.length - this.max);
    if (this.kept > 0 && this.kept * 2 >= this.times.length) {
      this.times = this.times.slice(this.kept);
      this.kept = 0;
    }
  }

  /** Arrivals at or after `fromMs` (within what is retained). */
  countSince(fromMs: number): number {
    let n = 0;
    for (let i = this.times.length - 1; i >= this.kept && (this.times[i] ?? 0) >= fromMs; i--) n++;
    return n;
  }

  /** How many times are held, stale ones included (bounded by twice what is retained). */
  get held(): number {
    return this.times.length;
  }
}
