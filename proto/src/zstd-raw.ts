// The one zstd frame shape written without a zstd library: a frame of one raw ("stored") block
// (RFC 8878 §3.1.1). `--compress auto` sends the uncompressed rest of a COMPRESSION_ZSTD push as
// these, so the agent's one zstd -d reads the whole push, whatever it switched.

const MAGIC = 0xfd2fb528;
/** Frame_Header_Descriptor: no content size, not single-segment, no checksum, no dictionary. */
const FHD = 0x00;
/** Window_Descriptor: exponent 7 → a 128 KiB window, far under the agent's limit. */
const WINDOW_128K = 7 << 3;
/** Block_Maximum_Size with that window. */
export const RAW_BLOCK_MAX = 128 * 1024;
/** Magic, descriptor, window, block header. */
const HEADER_BYTES = 9;

/** `data` as zstd frames of one raw block each: 9 bytes per 128 KiB, no copy of the data. */
export function rawZstdFrames(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < data.length; at += RAW_BLOCK_MAX) {
    const block = data.subarray(at, at + RAW_BLOCK_MAX);
    const h = Buffer.allocUnsafe(HEADER_BYTES);
    h.writeUInt32LE(MAGIC, 0);
    h[4] = FHD;
    h[5] = WINDOW_128K;
    // Block_Header: Last_Block = 1, Block_Type = 0 (Raw_Block), Block_Size in the 21 high bits.
    h.writeUIntLE(block.length * 8 + 1, 6, 3);
    out.push(h, block);
  }
  return out;
}
