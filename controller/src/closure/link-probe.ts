/**
 * `--compress auto` on compressible data starts with zstd, then measures
 * rather than guesses (adaptive-zstd.ts switches within one stream, in
 * either direction, at no cost):
 *
 * 1. zstd: once the first flow-control window is full, where does the
 *    pipeline wait? If compressed output waits for the transport, the link
 *    is the bottleneck and compressing pays: zstd to the end.
 * 2. Otherwise the link takes more than zstd makes: a trial uncompressed.
 *    Whichever moved more NAR bytes per second goes on to the end; zstd only
 *    if it was clearly (TRIAL_MARGIN) faster, since uncompressed spares the
 *    CPU of both ends.
 *
 * Nothing here depends on how fast this machine, zstd or the link are.
 */
export interface PipelineMeasure {
  /** The transport waited this long for the next message (zstd's output, or the NAR source). */
  readonly waitedForSourceMs: number;
  /** Messages waited this long for the transport to take them. */
  readonly waitedForLinkMs: number;
  /** NarChunk bytes measured over (compressed, in the zstd phase). */
  readonly wireBytes: number;
  /** NAR bytes those chunks carried. */
  readonly narBytes: number;
  /** Wall time of the measured messages. */
  readonly ms: number;
}

const MiB = 1024 * 1024;
/** Not measured: the first flow-control window (8 MiB) and socket buffers fill at local speed. */
export const PROBE_SKIP_WIRE_BYTES = 16 * MiB;
/** The zstd phase is measured over this much compressed output after the skip. */
export const PROBE_WIRE_BYTES = 4 * MiB;
/** After switching: what was queued and in zstd's pipes before the switch. */
export const TRIAL_SKIP_WIRE_BYTES = 2 * MiB;
/** The uncompressed trial is measured over this much. */
export const TRIAL_WIRE_BYTES = 8 * MiB;
/** zstd wins the trial only if it moved this much more NAR per second. */
export const TRIAL_MARGIN = 1.1;

/** Compressing pays: the compressed output waited for the link at least as long as the link for it. */
export function linkBound(m: PipelineMeasure): boolean {
  return m.waitedForLinkMs > 0 && m.waitedForLinkMs >= m.waitedForSourceMs;
}

/** NAR bytes per millisecond (0 when nothing was measured). */
export const narRate = (m: PipelineMeasure): number => (m.ms > 0 ? m.narBytes / m.ms : 0);

/** After the trial: true to go back to zstd. */
export function zstdWinsTrial(zstd: PipelineMeasure, raw: PipelineMeasure, margin = TRIAL_MARGIN): boolean {
  return narRate(zstd) > margin * narRate(raw);
}

export type ProbeMode = "zstd" | "raw";

export interface ProbeDecision {
  readonly mode: ProbeMode;
  /** No further change. */
  readonly final: boolean;
  readonly zstd: PipelineMeasure;
  readonly raw?: PipelineMeasure;
}

export interface LinkProbeOptions {
  readonly skipWireBytes?: number;
  readonly wireBytes?: number;
  readonly trialSkipWireBytes?: number;
  readonly trialWireBytes?: number;
  readonly trialMargin?: number;
  /** Each change of mode or verdict, for the log. */
  readonly onDecision?: (d: ProbeDecision) => void;
}

class Window {
  private skipped = 0;
  private source = 0;
  private link = 0;
  private wire = 0;
  private nar = 0;
  private ms = 0;

  constructor(
    private readonly skip: number,
    private readonly size: number,
  ) {}

  /** The measure once `size` bytes were measured after `skip`. */
  add(sourceMs: number, linkMs: number, wireBytes: number, narBytes: number): PipelineMeasure | undefined {
    if (this.skipped < this.skip) {
      this.skipped += wireBytes;
      return undefined;
    }
    this.source += sourceMs;
    this.link += linkMs;
    this.wire += wireBytes;
    this.nar += narBytes;
    this.ms += sourceMs + linkMs;
    if (this.wire < this.size) return undefined;
    return {
      waitedForSourceMs: this.source,
      waitedForLinkMs: this.link,
      wireBytes: this.wire,
      narBytes: this.nar,
      ms: this.ms,
    };
  }
}

export class LinkProbe {
  /** What the stream should send from now on. */
  mode: ProbeMode = "zstd";
  private zstd: PipelineMeasure | undefined;
  private done = false;
  private window: Window;

  constructor(private readonly o: LinkProbeOptions = {}) {
    this.window = new Window(o.skipWireBytes ?? PROBE_SKIP_WIRE_BYTES, o.wireBytes ?? PROBE_WIRE_BYTES);
  }

  /** One message: how long the transport waited for it, how long it waited for the transport, what it carried. */
  add(sourceMs: number, linkMs: number, wireBytes: number, narBytes: number): void {
    if (this.done) return;
    const m = this.window.add(sourceMs, linkMs, wireBytes, narBytes);
    if (m === undefined) return;
    if (this.zstd === undefined) {
      this.zstd = m;
      if (linkBound(m)) {
        this.decide({ mode: "zstd", final: true, zstd: m });
        return;
      }
      this.window = new Window(
        this.o.trialSkipWireBytes ?? TRIAL_SKIP_WIRE_BYTES,
        this.o.trialWireBytes ?? TRIAL_WIRE_BYTES,
      );
      this.decide({ mode: "raw", final: false, zstd: m });
      return;
    }
    const back = zstdWinsTrial(this.zstd, m, this.o.trialMargin);
    this.decide({ mode: back ? "zstd" : "raw", final: true, zstd: this.zstd, raw: m });
  }

  private decide(d: ProbeDecision): void {
    this.mode = d.mode;
    this.done = d.final;
    this.o.onDecision?.(d);
  }
}

/** One line for the log. */
export function describeDecision(d: ProbeDecision): string {
  const rate = (m: PipelineMeasure) => `${Math.round((narRate(m) * 1000) / MiB)} MiB/s of NAR`;
  const waits = (m: PipelineMeasure) =>
    `the transport waited ${Math.round(m.waitedForSourceMs)} ms for data, data ${Math.round(m.waitedForLinkMs)} ms for the transport`;
  if (d.raw !== undefined) {
    return d.mode === "zstd"
      ? `zstd again: it moved ${rate(d.zstd)}, uncompressed ${rate(d.raw)}`
      : `uncompressed: it moved ${rate(d.raw)}, zstd ${rate(d.zstd)}`;
  }
  return d.mode === "zstd"
    ? `zstd: the link is the bottleneck (${waits(d.zstd)})`
    : `trying uncompressed: the link takes more than zstd makes (${rate(d.zstd)}; ${waits(d.zstd)})`;
}
