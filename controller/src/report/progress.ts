import type { PushProgress } from "../transfer/transfer.js";

export interface ProgressSink {
  write(text: string): void;
}

export interface ProgressOptions {
  /** true: redraw one line in place (\r); false: a plain line every `lineIntervalMs`. */
  readonly tty: boolean;
  /** Terminal width for the bar (TTY only). */
  readonly columns: number;
  readonly now: () => number;
  /** Minimum time between TTY redraws. */
  readonly redrawIntervalMs?: number;
  /** Time between plain lines when not on a TTY. */
  readonly lineIntervalMs?: number;
  /** Rate is measured over this sliding window. */
  readonly rateWindowMs?: number;
  readonly label?: string;
}

/**
 * Bytes per second over a sliding window of samples, so the rate (and the ETA
 * computed from it) follows the link as it is now, not the average since start.
 */
export class RateMeter {
  private readonly samples: { t: number; bytes: number }[] = [];

  constructor(private readonly windowMs: number) {}

  add(t: number, bytes: number): void {
    this.samples.push({ t, bytes });
    // Keep one sample older than the window as the baseline.
    while (this.samples.length > 2 && (this.samples[1]?.t ?? t) <= t - this.windowMs) this.samples.shift();
  }

  /** Bytes/second, or undefined until there is a time span to measure over. */
  rate(): number | undefined {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (first === undefined || last === undefined) return undefined;
    const dt = last.t - first.t;
    if (dt < 250) return undefined;
    return ((last.bytes - first.bytes) * 1000) / dt;
  }
}

/** Seconds left, or undefined when unknowable (no rate yet, or stalled). */
export function etaSeconds(
  bytesSent: number,
  bytesTotal: number,
  rate: number | undefined,
): number | undefined {
  const remaining = Math.max(0, bytesTotal - bytesSent);
  if (remaining === 0) return 0;
  if (rate === undefined || rate <= 0) return undefined;
  return remaining / rate;
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"] as const;

export function formatBytes(n: number): string {
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 2 : value < 100 ? 1 : 0)} ${UNITS[unit]}`;
}

/** 0:07, 12:34, 1:02:03 */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

const compressed = (p: PushProgress): p is PushProgress & { wireBytesSent: number } =>
  p.wireBytesSent !== undefined && p.wireBytesSent !== p.bytesSent;

/**
 * The numbers after the bar. `rate` is bytes on the wire per second.
 * Uncompressed: "120 MiB/260 MiB  12.1 MiB/s  ETA 0:12  34/80 paths".
 * Compressed, what has left counts, the NAR it carried is an estimate:
 * "40.0 MiB sent  12.1 MiB/s  ETA 0:12  34/80 paths  (NAR ~120 MiB/260 MiB)".
 */
export function describeProgress(p: PushProgress, rate: number | undefined, showNar = true): string {
  const rateText = rate === undefined ? "--/s" : `${formatBytes(Math.round(rate))}/s`;
  const paths = `${p.pathsSent}/${p.pathsTotal} paths`;
  if (!compressed(p)) {
    const eta = etaSeconds(p.bytesSent, p.bytesTotal, rate);
    return `${formatBytes(p.bytesSent)}/${formatBytes(p.bytesTotal)}  ${rateText}  ${etaText(eta)}  ${paths}`;
  }
  // The wire rate in NAR bytes, at the compression ratio so far.
  const narRate =
    rate === undefined || p.wireBytesSent <= 0 ? undefined : (rate * p.bytesSent) / p.wireBytesSent;
  const eta = etaSeconds(p.bytesSent, p.bytesTotal, narRate);
  const nar = showNar ? `  (NAR ~${formatBytes(p.bytesSent)}/${formatBytes(p.bytesTotal)})` : "";
  return `${formatBytes(p.wireBytesSent)} sent  ${rateText}  ${etaText(eta)}  ${paths}${nar}`;
}

const etaText = (eta: number | undefined) => (eta === undefined ? "ETA --" : `ETA ${formatDuration(eta)}`);

export function percent(p: PushProgress): number {
  if (p.bytesTotal <= 0) return p.pathsTotal <= 0 ? 100 : Math.floor((100 * p.pathsSent) / p.pathsTotal);
  return Math.min(100, Math.floor((100 * p.bytesSent) / p.bytesTotal));
}

/** "push [########--------]  45% <numbers>", fitted to `terminalColumns` (drops detail before the bar). */
export function renderBar(
  label: string,
  p: PushProgress,
  rate: number | undefined,
  terminalColumns: number,
): string {
  const columns = terminalColumns > 0 ? terminalColumns : 80;
  const pct = percent(p);
  for (const showNar of [true, false]) {
    const tail = ` ${String(pct).padStart(3)}%  ${describeProgress(p, rate, showNar)}`;
    const barWidth = Math.min(40, columns - label.length - tail.length - 4);
    if (barWidth >= 10) {
      const filled = Math.round((barWidth * pct) / 100);
      return `${label} [${"#".repeat(filled)}${"-".repeat(barWidth - filled)}]${tail}`;
    }
  }
  return `${label} ${String(pct).padStart(3)}%  ${describeProgress(p, rate, false)}`.slice(0, columns - 1);
}

/**
 * Draws push progress on stderr: a bar redrawn in place on a TTY, a plain
 * line every few seconds otherwise (logs, CI). All timing comes from `now`.
 */
export class ProgressReporter {
  private readonly meter: RateMeter;
  private readonly label: string;
  private lastDraw = Number.NEGATIVE_INFINITY;
  private last: PushProgress | undefined;
  private lastDrawn: PushProgress | undefined;
  private drawn = false;

  constructor(
    private readonly sink: ProgressSink,
    private readonly options: ProgressOptions,
  ) {
    this.meter = new RateMeter(options.rateWindowMs ?? 5_000);
    this.label = options.label ?? "push";
  }

  update(p: PushProgress): void {
    const t = this.options.now();
    // The rate of the link: compressed bytes when the push is compressed.
    this.meter.add(t, p.wireBytesSent ?? p.bytesSent);
    this.last = p;
    const interval = this.options.tty
      ? (this.options.redrawIntervalMs ?? 100)
      : (this.options.lineIntervalMs ?? 5_000);
    if (t - this.lastDraw < interval) return;
    this.lastDraw = t;
    this.draw(p);
  }

  /** Draws the final state and ends the line. */
  finish(): void {
    if (this.last !== undefined && this.last !== this.lastDrawn) this.draw(this.last);
    if (this.options.tty && this.drawn) this.sink.write("\n");
    this.drawn = false;
  }

  /** Ends the in-place line without redrawing (before printing an error). */
  interrupt(): void {
    if (this.options.tty && this.drawn) this.sink.write("\n");
    this.drawn = false;
  }

  private draw(p: PushProgress): void {
    this.lastDrawn = p;
    const rate = this.meter.rate();
    if (this.options.tty) {
      this.sink.write(`\r\x1b[2K${renderBar(this.label, p, rate, this.options.columns)}`);
      this.drawn = true;
    } else {
      this.sink.write(`${this.label}: ${String(percent(p)).padStart(3)}%  ${describeProgress(p, rate)}\n`);
    }
  }
}
