import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { RAW_BLOCK_MAX, rawZstdFrames } from "@ros-rollback/proto";
import { describe, expect, it } from "vitest";

// proto's raw zstd frames (what auto sends once uncompressed), read back by zstd -d as the agent runs it.

/** As the agent decompresses (agent/src/store/decompress.ts). */
const unzstd = (b: Buffer) =>
  execFileSync("zstd", ["-d", "-c", "-q", "--memory=32MB"], { input: b, maxBuffer: 64 << 20 });

describe("rawZstdFrames", () => {
  it.each([
    [1, 1],
    [RAW_BLOCK_MAX, 1],
    [RAW_BLOCK_MAX + 1, 2], // a block holds at most 128 KiB with this window
    [3 * RAW_BLOCK_MAX + 7, 4],
  ])("%d bytes: %d frames that zstd -d reads back", (size, frames) => {
    const data = randomBytes(size);
    const parts = rawZstdFrames(data);
    expect(parts).toHaveLength(2 * frames);
    const wire = Buffer.concat(parts);
    expect(wire.length).toBe(size + 9 * frames);
    expect(unzstd(wire).equals(data)).toBe(true);
  });

  it("nothing: no frame", () => {
    expect(rawZstdFrames(Buffer.alloc(0))).toEqual([]);
  });

  it("a raw frame between compressed ones: one stream, read back in order", () => {
    const a = Buffer.from("a".repeat(100_000));
    const b = randomBytes(1000);
    const c = Buffer.from("c".repeat(100_000));
    const z = (d: Buffer) => execFileSync("zstd", ["-3", "-q", "-c"], { input: d });
    expect(unzstd(Buffer.concat([z(a), ...rawZstdFrames(b), z(c)])).equals(Buffer.concat([a, b, c]))).toBe(
      true,
    );
  });
});
