import { deflateRawSync } from "node:zlib";
import { Compression } from "@ros-rollback/proto";

export interface CompressionChoice {
  readonly compression: Compression.COMPRESSION_NONE | Compression.COMPRESSION_ZSTD;
  /** One line for the log: why. */
  readonly why: string;
}

export interface ChoiceInputs {
  /** Compressed ÷ original size of a sample of the NARs (deflate level 1 ≈ zstd -3 here). */
  readonly sampleRatio: number;
  /** Bytes of the sample (too small a sample decides nothing). */
  readonly sampleBytes: number;
  /** The link's measured rate in bytes/s, when known. */
  readonly linkBytesPerSecond?: number;
}

/** Above this, zstd saves too little to pay for its CPU and the pipeline it adds. */
export const INCOMPRESSIBLE_RATIO = 0.8;
/**
 * Faster than this the link outruns single-threaded zstd -3 and the agent's
 * import (~250–300 MB/s measured), so compressing only adds work.
 */
export const FAST_LINK_BYTES_PER_SECOND = 100 * 1024 * 1024;
/** Less than this tells nothing about the rest (a handful of tiny paths). */
export const MIN_SAMPLE_BYTES = 64 * 1024;

/** `--compress auto`: compress only when it pays. */
export function chooseCompression(i: ChoiceInputs): CompressionChoice {
  const link = i.linkBytesPerSecond;
  if (link !== undefined && link >= FAST_LINK_BYTES_PER_SECOND) {
    return { compression: Compression.COMPRESSION_NONE, why: `fast link (${mbps(link)})` };
  }
  if (i.sampleBytes >= MIN_SAMPLE_BYTES && i.sampleRatio > INCOMPRESSIBLE_RATIO) {
    return {
      compression: Compression.COMPRESSION_NONE,
      why: `the data does not compress (sample: ${pct(i.sampleRatio)} of its size)`,
    };
  }
  const sample =
    i.sampleBytes >= MIN_SAMPLE_BYTES ? `sample: ${pct(i.sampleRatio)} of its size` : "small push";
  return {
    compression: Compression.COMPRESSION_ZSTD,
    why: link === undefined ? sample : `${sample}, link ${mbps(link)}`,
  };
}

/** Compressed ÷ original of `sample`: deflate at level 1 runs at ~100 MB/s, a MiB costs ~10 ms. */
export function sampleRatio(sample: readonly Buffer[]): { ratio: number; bytes: number } {
  const data = Buffer.concat(sample);
  if (data.length === 0) return { ratio: 1, bytes: 0 };
  return { ratio: deflateRawSync(data, { level: 1 }).length / data.length, bytes: data.length };
}

const pct = (r: number) => `${Math.round(r * 100)} %`;
const mbps = (b: number) => `${Math.round((b * 8) / 1e6)} Mbit/s`;
