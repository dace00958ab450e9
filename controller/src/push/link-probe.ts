import {
  AgentWindow,
  E2E_MIN_MS,
  E2E_TRIAL_SKIP_WIRE_BYTES,
  E2E_TRIAL_WIRE_BYTES,
  E2E_WIRE_BYTES,
} from "./agent-window.js";
import { type CpuTimes, spareCores } from "./cpu-idle.js";
import type { AgentProgress, PipelineMeasure } from "./pipeline-measure.js";

export type { AgentProgress, PipelineMeasure } from "./pipeline-measure.js";

/**
 * `--compress auto` on compressible data starts with zstd, then measures
 * rather than guesses (adaptive-zstd.ts switches within one stream, in
 * either direction, at no cost):
 *
 * 1. zstd: once the first flow-control window is full, where does the
 *    pipeline wait? If compressed output waits for the transport, the link
 *    is the bottleneck and compressing pays: zstd to the end.
 * 2. Otherwise the link took more than zstd made (Z NAR/s, ratio r: more
 *    than Z × r wire bytes/s). Uncompressed is then faster unless the link
 *    is "medium" (between Z × r and Z). zstd can only win that case if its
 *    CPU is free: while it ran, did this machine have a core to spare? If
 *    not, zstd took CPU from the rest of the push (TLS, gRPC, and on a
 *    shared host the agent's import) and its short window overstates what
 *    it moves end to end (the lab: 83–135 MiB/s of NAR in the window, 58
 *    for the whole push): uncompressed to the end.
 * 3. With a core to spare, a trial uncompressed, measured past the buffers:
 *    zstd again (to the end) only if its rate was clearly (TRIAL_MARGIN)
 *    higher than uncompressed's, since uncompressed spares both ends' CPU.
 *
 * Tens of MiB sit between the transport and the agent's import (the 8 MiB
 * HTTP/2 window, socket buffers, the agent's queue and pipes): a window
 * shorter than that measures their filling or draining, so every verdict
 * but "link-bound" is taken past a skip of that size. Nothing here depends
 * on how fast this machine, zstd or the link are.
 *
 * When the agent reports what it consumed (the raw channel's PROGRESS), the
 * same verdicts are taken on windows measured at its end (agent-window.ts):
 * the rate is what the robot imported, with no buffer to skip, so they come
 * after a few MiB instead of tens. And "link-bound" is checked against the
 * agent's own wait: data waiting for the transport while the robot's import
 * hardly waited for the network means the import is the bottleneck (a fast
 * link, a busy robot), which compressing only slows: uncompressed.
 */
/** Link-bound with an import that waited for the network less than this share of the time: the import is the bottleneck. */
export const AGENT_STARVED = 0.5;

/** The agent measured its end and its import hardly waited for bytes: what held the transport back was the robot, not the link. */
export function importBound(m: PipelineMeasure): boolean {
  return m.agentWaitedMs !== undefined && m.ms > 0 && m.agentWaitedMs < AGENT_STARVED * m.ms;
}

const MiB = 1024 * 1024;
/** Not measured: the first flow-control window (8 MiB) and socket buffers fill at local speed. */
export const PROBE_SKIP_WIRE_BYTES = 16 * MiB;
/** The zstd phase is measured over this much compressed output after the skip. */
export const PROBE_WIRE_BYTES = 4 * MiB;
/** After switching: past zstd's backlog, until the buffers hold uncompressed data (2× the HTTP/2 window). */
export const TRIAL_SKIP_WIRE_BYTES = 16 * MiB;
/** The uncompressed trial is measured over this much. */
export const TRIAL_WIRE_BYTES = 8 * MiB;
/** zstd is one process: with less idle than this while it ran, its CPU came from the rest of the push. */
export const SPARE_CORES = 0.5;
/** zstd wins the trial only if it moved this much more NAR per second. */
export const TRIAL_MARGIN = 1.1;

/** Compressing pays: the compressed output waited for the link at least as long as the link for it. */
export function linkBound(m: PipelineMeasure): boolean {
  return m.waitedForLinkMs > 0 && m.waitedForLinkMs >= m.waitedForSourceMs;
}

/**
 * Wire bytes per second above which a link-bound zstd phase measured at the agent still gets the
 * uncompressed trial: at this rate the trial's few MiB cost well under a second if zstd wins.
 */
export const FAST_WIRE_BYTES_PER_SECOND = 10 * MiB;

/** Measured at the agent, and the wire moved at least FAST_WIRE_BYTES_PER_SECOND. */
export function fastWire(m: PipelineMeasure): boolean {
  return m.atAgent === true && m.ms > 0 && (m.wireBytes * 1000) / m.ms >= FAST_WIRE_BYTES_PER_SECOND;
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
  /** With the agent's progress (agent-window.ts's defaults). */
  readonly e2eWireBytes?: number;
  readonly e2eTrialWireBytes?: number;
  readonly e2eTrialSkipWireBytes?: number;
  readonly e2eMinMs?: number;
  /** The machine's CPU times (cpu-idle.ts); without it, no CPU verdict: always the trial. */
  readonly cpu?: () => CpuTimes;
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
  /** Set when the agent reports progress: its windows replace `window`. */
  private agent: AgentWindow | undefined;
  private cpuAtStart: CpuTimes | undefined;
  /** Everything the zstd phase sent so far, and the NAR counted into zstd for it. */
  private zstdWire = 0;
  private zstdNar = 0;
  /** Wire bytes sent so far. */
  private sent = 0;

  constructor(private readonly o: LinkProbeOptions = {}) {
    this.window = new Window(o.skipWireBytes ?? PROBE_SKIP_WIRE_BYTES, o.wireBytes ?? PROBE_WIRE_BYTES);
  }

  /** The agent will report what it consumed (progress()): measure at its end. Before the first add(). */
  expectProgress(): void {
    if (this.sent > 0 || this.agent !== undefined) return;
    this.agent = new AgentWindow(0, this.o.e2eWireBytes ?? E2E_WIRE_BYTES, this.o.e2eMinMs ?? E2E_MIN_MS);
  }

  /** One message: how long the transport waited for it, how long it waited for the transport, what it carried. */
  add(sourceMs: number, linkMs: number, wireBytes: number, narBytes: number): void {
    if (this.done) return;
    if (this.cpuAtStart === undefined) this.cpuAtStart = this.o.cpu?.();
    this.sent += wireBytes;
    if (this.zstd === undefined) {
      this.zstdWire += wireBytes;
      this.zstdNar += narBytes;
    }
    if (this.agent?.started === true) {
      this.agent.wait(sourceMs, linkMs);
      return;
    }
    const measured = this.window.add(sourceMs, linkMs, wireBytes, narBytes);
    if (measured === undefined) return;
    // The agent said it would report and did not (so far): measured here, as without it.
    this.agent = undefined;
    if (this.zstd === undefined) {
      // NAR is counted as it enters zstd, which holds some before its output shows: a window's own
      // count can be off several times on a loaded host; the phase's ratio is not.
      const nar = this.zstdWire > 0 ? (measured.wireBytes * this.zstdNar) / this.zstdWire : measured.narBytes;
      this.zstdVerdict({ ...measured, narBytes: nar });
      return;
    }
    this.trialVerdict(measured);
  }

  /** The agent's report (at `atMs` on the clock add()'s times come from); ignored unless expected. */
  progress(atMs: number, p: AgentProgress): void {
    if (this.done || this.agent === undefined) return;
    const measured = this.agent.progress(atMs, p);
    if (measured === undefined) return;
    if (this.zstd === undefined) this.zstdVerdict(measured);
    else this.trialVerdict(measured);
  }

  private zstdVerdict(measured: PipelineMeasure): void {
    const cpu = this.o.cpu?.();
    const spare =
      cpu === undefined || this.cpuAtStart === undefined ? undefined : spareCores(this.cpuAtStart, cpu);
    const m = { ...measured, ...(spare === undefined ? {} : { spareCores: spare }) };
    this.zstd = m;
    if (linkBound(m) && (importBound(m) || !fastWire(m))) {
      // Compressing cannot speed up an import that is the bottleneck, and costs it zstd -d.
      this.decide({ mode: importBound(m) ? "raw" : "zstd", final: true, zstd: m });
      return;
    }
    // A "link" that fast may be a busy receiver (its TLS and copies share the cores with zstd):
    // only the trial at the agent's end tells.
    if (!linkBound(m) && spare !== undefined && spare < SPARE_CORES) {
      this.decide({ mode: "raw", final: true, zstd: m });
      return;
    }
    // The agent's window if it reports, this one if it stops reporting before that starts.
    this.window = new Window(
      this.o.trialSkipWireBytes ?? TRIAL_SKIP_WIRE_BYTES,
      this.o.trialWireBytes ?? TRIAL_WIRE_BYTES,
    );
    if (this.agent !== undefined) {
      this.agent = new AgentWindow(
        this.sent + (this.o.e2eTrialSkipWireBytes ?? E2E_TRIAL_SKIP_WIRE_BYTES),
        this.o.e2eTrialWireBytes ?? E2E_TRIAL_WIRE_BYTES,
        this.o.e2eMinMs ?? E2E_MIN_MS,
      );
    }
    this.decide({ mode: "raw", final: false, zstd: m });
  }

  private trialVerdict(raw: PipelineMeasure): void {
    const zstd = this.zstd as PipelineMeasure;
    const back = zstdWinsTrial(zstd, raw, this.o.trialMargin);
    this.decide({ mode: back ? "zstd" : "raw", final: true, zstd, raw });
  }

  private decide(d: ProbeDecision): void {
    this.mode = d.mode;
    this.done = d.final;
    this.o.onDecision?.(d);
  }
}

/** One line for the log. */
export function describeDecision(d: ProbeDecision): string {
  const rate = (m: PipelineMeasure) =>
    `${Math.round((narRate(m) * 1000) / MiB)} MiB/s of NAR${m.atAgent === true ? " imported" : ""}`;
  const starved = (m: PipelineMeasure) =>
    m.agentWaitedMs === undefined
      ? ""
      : `; the robot's import waited ${Math.round(m.agentWaitedMs)} of ${Math.round(m.ms)} ms for the network`;
  const waits = (m: PipelineMeasure) =>
    `the transport waited ${Math.round(m.waitedForSourceMs)} ms for data, data ${Math.round(m.waitedForLinkMs)} ms for the transport`;
  if (d.raw !== undefined) {
    return d.mode === "zstd"
      ? `zstd again: it moved ${rate(d.zstd)}, uncompressed ${rate(d.raw)}`
      : `uncompressed: it moved ${rate(d.raw)}, zstd ${rate(d.zstd)}`;
  }
  if (d.mode === "zstd") return `zstd: the link is the bottleneck (${waits(d.zstd)}${starved(d.zstd)})`;
  if (d.final && linkBound(d.zstd)) {
    return `uncompressed: the robot's import is the bottleneck, not the link (${waits(d.zstd)}${starved(d.zstd)})`;
  }
  if (!d.final && linkBound(d.zstd)) {
    const wire = Math.round((d.zstd.wireBytes * 1000) / Math.max(d.zstd.ms, 1) / MiB);
    return `trying uncompressed: the link took ${wire} MiB/s of zstd, fast enough for the robot to be the bottleneck (${waits(d.zstd)}${starved(d.zstd)})`;
  }
  const spare = d.zstd.spareCores;
  return d.final && spare !== undefined
    ? `uncompressed: the link takes more than zstd makes (${rate(d.zstd)}) and zstd had no core to spare (${spare.toFixed(1)} idle)`
    : `trying uncompressed: the link takes more than zstd makes (${rate(d.zstd)}; ${waits(d.zstd)})`;
}
