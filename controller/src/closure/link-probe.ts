/**
 * `--compress auto` on compressible data starts with zstd and watches where
 * the pipeline waits. If the transport keeps waiting for the compressor, the
 * link is faster than zstd: the rest goes uncompressed (a new PushPaths
 * stream from the next path on). If the compressor's output waits for the
 * transport, the link is the bottleneck and compressing pays.
 */
export interface PipelineMeasure {
  /** The transport waited this long for compressed output. */
  readonly waitedForCompressorMs: number;
  /** Compressed output waited this long for the transport to take it. */
  readonly waitedForLinkMs: number;
  /** Compressed bytes measured over. */
  readonly wireBytes: number;
}

const MiB = 1024 * 1024;
/** Not measured: the first flow-control window (8 MiB) and socket buffers fill at local speed. */
export const PROBE_SKIP_WIRE_BYTES = 16 * MiB;
/** Measured over this much compressed output after the skip. */
export const PROBE_WIRE_BYTES = 16 * MiB;

/** The link outruns the compressor: the transport waited for it at least twice as long as the reverse. */
export function linkOutrunsCompressor(m: PipelineMeasure): boolean {
  return m.waitedForCompressorMs > 0 && m.waitedForCompressorMs >= 2 * m.waitedForLinkMs;
}

export interface LinkProbeOptions {
  readonly decide?: (m: PipelineMeasure) => boolean;
  readonly skipWireBytes?: number;
  readonly wireBytes?: number;
}

export class LinkProbe {
  private skipped = 0;
  private compressorMs = 0;
  private linkMs = 0;
  private measured = 0;
  private verdict: PipelineMeasure | undefined;

  constructor(private readonly o: LinkProbeOptions = {}) {}

  /** One message's wait for the compressor and then for the transport; `bytes` of compressed data it carried. */
  add(compressorMs: number, linkMs: number, bytes: number): void {
    if (this.verdict !== undefined) return;
    if (this.skipped < (this.o.skipWireBytes ?? PROBE_SKIP_WIRE_BYTES)) {
      this.skipped += bytes;
      return;
    }
    this.compressorMs += compressorMs;
    this.linkMs += linkMs;
    this.measured += bytes;
    if (this.measured < (this.o.wireBytes ?? PROBE_WIRE_BYTES)) return;
    const m = {
      waitedForCompressorMs: this.compressorMs,
      waitedForLinkMs: this.linkMs,
      wireBytes: this.measured,
    };
    this.verdict = m;
    this.switchToNone = (this.o.decide ?? linkOutrunsCompressor)(m);
  }

  /** Set once measured: send the rest uncompressed. */
  switchToNone = false;

  get measure(): PipelineMeasure | undefined {
    return this.verdict;
  }
}
