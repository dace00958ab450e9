import type { AgentProgress, PipelineMeasure } from "./pipeline-measure.js";

const MiB = 1024 * 1024;
/** With the agent's progress: the zstd phase is measured over this much wire it consumed… */
export const E2E_WIRE_BYTES = 2 * MiB;
/** …and the uncompressed trial over this much… */
export const E2E_TRIAL_WIRE_BYTES = 4 * MiB;
/** …each over at least this long (the agent reports every 50 ms or MiB: a few reports). */
export const E2E_MIN_MS = 100;
/**
 * The trial starts where the agent reaches the first uncompressed byte: past
 * what was sent at the switch and what waited behind it (the push's queue,
 * ~1 MiB, and zstd's last output).
 */
export const E2E_TRIAL_SKIP_WIRE_BYTES = 2 * MiB;

/**
 * A window measured at the agent's end (raw channel version 2): what it
 * consumed per second, from its PROGRESS reports, so no skip past buffers is
 * guessed. Starts at the first report past `from` wire bytes; the
 * controller's waits (add) are counted over the same span for the link-bound
 * verdict.
 */
export class AgentWindow {
  private start: { at: number; p: AgentProgress } | undefined;
  private source = 0;
  private link = 0;

  constructor(
    private readonly from: number,
    private readonly size: number,
    private readonly minMs: number,
  ) {}

  /** The agent reported past `from`. */
  get started(): boolean {
    return this.start !== undefined;
  }

  wait(sourceMs: number, linkMs: number): void {
    if (this.start === undefined) return;
    this.source += sourceMs;
    this.link += linkMs;
  }

  /** The measure once the agent consumed `size` wire bytes, over `minMs` at least, after the start. */
  progress(atMs: number, p: AgentProgress): PipelineMeasure | undefined {
    const s = this.start;
    if (s === undefined) {
      if (p.wireBytes > this.from) this.start = { at: atMs, p };
      return undefined;
    }
    const ms = atMs - s.at;
    if (p.wireBytes - s.p.wireBytes < this.size || ms < this.minMs) return undefined;
    return {
      waitedForSourceMs: this.source,
      waitedForLinkMs: this.link,
      wireBytes: p.wireBytes - s.p.wireBytes,
      narBytes: p.narBytes - s.p.narBytes,
      ms,
      atAgent: true,
      agentWaitedMs: Math.min(ms, (p.waitedUs - s.p.waitedUs) / 1000),
    };
  }
}
