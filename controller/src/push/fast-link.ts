/**
 * `--compress auto` on data that compresses starts with zstd (right on a slow
 * link from the first byte) and goes uncompressed for the rest once the
 * agent's reports (raw channel version 2: what it consumed, so no buffer
 * between us and the link to guess past) show the link takes zstd's output
 * fast: there zstd only costs both ends' CPU. One verdict per push.
 */
export interface LinkVerdict {
  readonly fast: boolean;
  /** Wire bytes per second the agent consumed over the window. */
  readonly bytesPerSecond: number;
  /** The window's end, in ms since the first chunk left. */
  readonly atMs: number;
}

const MiB = 1024 * 1024;
/** Not measured: the agent's start and TCP's slow start, not the link. */
export const SKIP_MS = 100;
/** The rate is taken over at least this long after the skip. */
export const WINDOW_MS = 250;
/**
 * At or above this the link is not what holds zstd back: uncompressed. The bench's links: 20 Mbit/s
 * carries 2.4 MiB/s; the lab's veth took 7–26 MiB/s of zstd output, loaded or quiet.
 */
export const FAST_BYTES_PER_SECOND = 4 * MiB;

export class FastLink {
  private startedAt: number | undefined;
  private mark: { readonly at: number; readonly wireBytes: number } | undefined;
  verdict: LinkVerdict | undefined;

  /** The first chunk left, at `at` ms. */
  started(at: number): void {
    this.startedAt ??= at;
  }

  /** The agent's report, received at `at` ms: wire bytes it consumed since the push began. The verdict, once. */
  progress(at: number, wireBytes: number): LinkVerdict | undefined {
    if (this.verdict !== undefined || this.startedAt === undefined) return undefined;
    if (this.mark === undefined) {
      if (at - this.startedAt >= SKIP_MS) this.mark = { at, wireBytes };
      return undefined;
    }
    const window = at - this.mark.at;
    if (window < WINDOW_MS) return undefined;
    const bytesPerSecond = (wireBytes - this.mark.wireBytes) / (window / 1000);
    this.verdict = { fast: bytesPerSecond >= FAST_BYTES_PER_SECOND, bytesPerSecond, atMs: at - this.startedAt };
    return this.verdict;
  }
}

/** One line for the log. */
export function describeVerdict(v: LinkVerdict): string {
  const rate = `the agent took ${(v.bytesPerSecond / MiB).toFixed(1)} MiB/s of zstd at ${Math.round(v.atMs)} ms`;
  return v.fast ? `${rate}: the link is fast, uncompressed from here` : `${rate}: the link is slow, zstd to the end`;
}
