import type { Writable } from "node:stream";

// Apart from decompress.ts so zstd-demux.ts (which decompress.ts opens) can name it without a circle.
/** Compressed bytes go into `input`; `output` yields the NAR bytes and throws if the data is corrupt. */
export interface Decompressor {
  readonly input: Writable;
  readonly output: AsyncIterable<Buffer>;
  destroy(): void;
}
