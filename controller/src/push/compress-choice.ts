import { deflateRawSync } from "node:zlib";
import { Compression } from "@ros-rollback/proto";
import type { CompressionChoice } from "../closure/port.js";

export interface ChoiceInputs {
  /** Compressed ÷ original size of a sample of the NARs (deflate level 1 ≈ zstd -3 here). */
  readonly sampleRatio: number;
  /** Bytes of the sample (too small a sample decides nothing). */
  readonly sampleBytes: number;
}

/** Above this, zstd saves too little to pay for its CPU and the pipeline it adds. */
export const INCOMPRESSIBLE_RATIO = 0.8;
/** Less than this tells nothing about the rest (a handful of tiny paths). */
export const MIN_SAMPLE_BYTES = 64 * 1024;

/**
 * `--compress auto`, before the first byte: incompressible data goes
 * uncompressed. Compressible data starts with zstd; whether the link is fast
 * enough to skip it is measured on the way (link-probe.ts), not guessed.
 */
export function chooseCompression(i: ChoiceInputs): CompressionChoice {
  if (i.sampleBytes >= MIN_SAMPLE_BYTES && i.sampleRatio > INCOMPRESSIBLE_RATIO) {
    return {
      compression: Compression.COMPRESSION_NONE,
      why: `the data does not compress (sample: ${pct(i.sampleRatio)} of its size)`,
    };
  }
  return {
    compression: Compression.COMPRESSION_ZSTD,
    why: i.sampleBytes >= MIN_SAMPLE_BYTES ? `sample: ${pct(i.sampleRatio)} of its size` : "small push",
  };
}

/** Compressed ÷ original of `sample`: deflate at level 1 runs at ~100 MB/s, a MiB costs ~10 ms. */
export function sampleRatio(sample: readonly Buffer[]): { ratio: number; bytes: number } {
  const data = Buffer.concat(sample);
  if (data.length === 0) return { ratio: 1, bytes: 0 };
  return { ratio: deflateRawSync(data, { level: 1 }).length / data.length, bytes: data.length };
}

const pct = (r: number) => `${Math.round(r * 100)} %`;
