/**
 * `--compress auto` on data that compresses starts with zstd (right on a slow
 * link from the first byte) and keeps it only if the link is what holds the
 * push back: zstd's output waited for the transport at least as long as the
 * transport waited for it, AND the agent's reads waited for the network most
 * of the time (raw channel version 2's PROGRESS). Anything else (zstd cannot
 * keep up: a fast link or a busy machine; or the robot's import is the
 * bottleneck) goes uncompressed from there: zstd only costs CPU at both ends.
 * One verdict per push, on one window.
 */
export interface LinkVerdict {
  readonly linkBound: boolean;
  readonly why: string;
}

/** What the agent has consumed (totals since the push began). */
export interface AgentReport {
  readonly wireBytes: number;
  /** Microseconds its reads waited for the network. */
  readonly waitedUs: number;
}

/** Not judged: the agent's start and the buffers filling at local speed. From the agent's first report. */
export const SKIP_MS = 100;
/** The window judged, after the skip. */
export const WINDOW_MS = 250;
/** The agent's reads waited for the network at least this share of the window: it is starved. */
export const STARVED = 0.5;

export class LinkWatch {
  private firstAt: number | undefined;
  private mark: { readonly at: number; readonly report: AgentReport } | undefined;
  private source = 0;
  private link = 0;
  verdict: LinkVerdict | undefined;

  /** One message of the stream: how long the transport waited for it, and it for the transport. */
  waited(sourceMs: number, linkMs: number): void {
    if (this.mark === undefined || this.verdict !== undefined) return;
    this.source += sourceMs;
    this.link += linkMs;
  }

  /** The agent's report, received at `at` ms (the clock `waited` is timed by). The verdict, once. */
  progress(at: number, r: AgentReport): LinkVerdict | undefined {
    if (this.verdict !== undefined) return undefined;
    this.firstAt ??= at;
    if (this.mark === undefined) {
      if (at - this.firstAt >= SKIP_MS) this.mark = { at, report: r };
      return undefined;
    }
    const ms = at - this.mark.at;
    if (ms < WINDOW_MS) return undefined;
    const starved = (r.waitedUs - this.mark.report.waitedUs) / 1000 >= STARVED * ms;
    const linkBound = this.link > 0 && this.link >= this.source && starved;
    const rate = (r.wireBytes - this.mark.report.wireBytes) / 1024 / 1024 / (ms / 1000);
    const waits =
      `zstd's output waited ${Math.round(this.link)} ms for the transport, the transport ` +
      `${Math.round(this.source)} ms for it; the agent took ${rate.toFixed(1)} MiB/s, ` +
      `its reads waited ${Math.round((r.waitedUs - this.mark.report.waitedUs) / 1000)} of ${Math.round(ms)} ms`;
    this.verdict = {
      linkBound,
      why: linkBound
        ? `the link is the bottleneck, zstd to the end (${waits})`
        : `uncompressed from here (${waits})`,
    };
    return this.verdict;
  }
}
