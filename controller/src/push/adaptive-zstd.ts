import { Writable } from "node:stream";
import { writeTo } from "@ros-rollback/nix-core";
import { Compression } from "@ros-rollback/proto";
import { Channel } from "./channel.js";
import { type Compressor, openCompressor } from "./compressor.js";

/**
 * A zstd stream whose data can go uncompressed from any write on, and back:
 * zstd frames may follow each other, and a frame may hold "raw" (stored)
 * blocks. So `--compress auto` switches inside ONE PushPaths stream that
 * every agent able to read COMPRESSION_ZSTD reads, without a second stream
 * (a pipeline bubble) and without a change to the wire format.
 */
export interface AdaptiveZstd extends Compressor {
  /** From the next write on: uncompressed (raw blocks) or through a zstd process. */
  raw: boolean;
}

/** Zstd_Magic_Number, little-endian (RFC 8878 §3.1.1). */
const MAGIC = 0xfd2fb528;
/** Frame_Header_Descriptor: no content size, not single-segment, no checksum, no dictionary. */
const FHD = 0x00;
/** Window_Descriptor: exponent 7 → a 128 KiB window (2^(10+7)), no mantissa: far under the agent's limit. */
const WINDOW_128K = 7 << 3;
/** Block_Maximum_Size with that window. */
export const RAW_BLOCK_MAX = 128 * 1024;
const HEADER = 4 + 1 + 1 + 3;

/** `data` as zstd frames of one raw block each: 9 bytes per 128 KiB, no copy of the data. */
export function rawZstdFrames(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < data.length; at += RAW_BLOCK_MAX) {
    const block = data.subarray(at, at + RAW_BLOCK_MAX);
    const h = Buffer.allocUnsafe(HEADER);
    h.writeUInt32LE(MAGIC, 0);
    h[4] = FHD;
    h[5] = WINDOW_128K;
    // Block_Header: Last_Block = 1, Block_Type = 0 (Raw_Block), Block_Size in the 21 high bits.
    h.writeUIntLE(block.length * 8 + 1, 6, 3);
    out.push(h, block);
  }
  return out;
}

/** zstd output waiting for the message queue: a switch waits for it to leave. */
const QUEUE = 4;

/** `open`: a zstd compressor (a process per compressed stretch; defaults to openCompressor). */
export function openAdaptiveZstd(
  zstdBin: string,
  signal: AbortSignal,
  open: (signal: AbortSignal) => Promise<Compressor> = (s) =>
    openCompressor(Compression.COMPRESSION_ZSTD, zstdBin, s),
): AdaptiveZstd {
  const out = new Channel<Buffer>(QUEUE);
  let zstd: { c: Compressor; pumped: Promise<void> } | undefined;
  const all: Compressor[] = [];

  const pump = async (c: Compressor) => {
    for await (const b of c.output) await out.push(b, signal);
  };
  const endZstd = async () => {
    const z = zstd;
    if (z === undefined) return;
    zstd = undefined;
    z.c.input.end();
    await z.pumped; // every compressed byte out before what follows
  };
  const write = async (data: Buffer) => {
    if (self.raw) {
      await endZstd();
      for (const b of rawZstdFrames(data)) await out.push(b, signal);
      return;
    }
    if (zstd === undefined) {
      const c = await open(signal);
      all.push(c);
      zstd = { c, pumped: pump(c) };
      // A failing compressor fails the output now, not only when its stretch ends.
      zstd.pumped.catch((e: unknown) => out.fail(e));
    }
    const z = zstd;
    try {
      await writeTo(z.c.input, data, signal);
    } catch (e) {
      await z.pumped; // a zstd that died says why (its exit status) rather than "stopped"
      throw e;
    }
  };

  const input = new Writable({
    highWaterMark: 128 * 1024,
    write(chunk: Buffer, _enc, cb) {
      write(chunk).then(() => cb(), cb);
    },
    final(cb) {
      endZstd().then(
        () => {
          out.close();
          cb();
        },
        (e: unknown) => {
          out.fail(e);
          cb(e as Error);
        },
      );
    },
    destroy(e, cb) {
      // Also called after a normal finish (autoDestroy): what is queued is still to be read.
      if (e) {
        for (const c of all) c.destroy();
        out.fail(e);
      }
      cb(e);
    },
  });
  input.on("error", (e) => out.fail(e));
  const self: AdaptiveZstd = {
    raw: false,
    input,
    output: out,
    destroy: () => {
      for (const c of all) c.destroy();
      out.fail(new Error("the compressor was stopped"));
      input.destroy();
    },
  };
  return self;
}
