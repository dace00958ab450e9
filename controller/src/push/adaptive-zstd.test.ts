import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeTo } from "@ros-rollback/nix-core";
import { Compression } from "@ros-rollback/proto";
import { describe, expect, it } from "vitest";
import { type AdaptiveZstd, openAdaptiveZstd, RAW_BLOCK_MAX, rawZstdFrames } from "./adaptive-zstd.js";
import { openCompressor } from "./compressor.js";

/** As the agent decompresses (agent/src/store/decompress.ts). */
const unzstd = (b: Buffer) =>
  execFileSync("zstd", ["-d", "-c", "-q", "--memory=32MB"], { input: b, maxBuffer: 64 << 20 });

async function collect(out: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of out) parts.push(b);
  return Buffer.concat(parts);
}

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

/** Writes `pieces`, switching to `raw[i]` before piece i; the whole output. */
async function run(z: AdaptiveZstd, pieces: Buffer[], raw: boolean[], signal: AbortSignal): Promise<Buffer> {
  const out = collect(z.output);
  for (const [i, p] of pieces.entries()) {
    z.raw = raw[i] ?? false;
    await writeTo(z.input, p, signal);
  }
  z.input.end();
  return out;
}

describe("openAdaptiveZstd", () => {
  const text = (n: number) => Buffer.from(randomBytes(n).toString("hex"));

  it.each([
    ["zstd throughout", [false, false, false, false]],
    ["raw throughout", [true, true, true, true]],
    ["zstd, then raw", [false, false, true, true]],
    ["raw, zstd, raw, zstd", [true, false, true, false]],
  ])("%s: the agent's zstd -d gets every byte back, in order", async (_name, raw) => {
    const signal = AbortSignal.timeout(20_000);
    const opened: number[] = [];
    const z = openAdaptiveZstd("zstd", signal, (s) => {
      opened.push(1);
      return openCompressor(Compression.COMPRESSION_ZSTD, "zstd", s);
    });
    const pieces = [text(300_000), text(5), text(200_000), text(70_000)];
    const wire = await run(z, pieces, raw, signal);
    expect(unzstd(wire).equals(Buffer.concat(pieces))).toBe(true);
    // A zstd process per compressed stretch, none for raw ones.
    const stretches = raw.filter((r, i) => !r && (i === 0 || raw[i - 1] === true)).length;
    expect(opened).toHaveLength(stretches);
  });

  it("raw blocks carry the data as it is; zstd shrinks it", async () => {
    const signal = AbortSignal.timeout(20_000);
    const piece = text(500_000);
    const raw = await run(openAdaptiveZstd("zstd", signal), [piece], [true], signal);
    const zstd = await run(openAdaptiveZstd("zstd", signal), [piece], [false], signal);
    expect(raw.includes(piece.subarray(0, 100_000))).toBe(true);
    expect(zstd.length).toBeLessThan(piece.length * 0.7);
  });

  it("a zstd that cannot start: the output fails with the one-line hint; raw stretches before it went out", async () => {
    const signal = AbortSignal.timeout(20_000);
    const z = openAdaptiveZstd("/nonexistent/zstd", signal);
    const parts: Buffer[] = [];
    const out = (async () => {
      for await (const b of z.output) parts.push(b);
    })();
    z.raw = true;
    await writeTo(z.input, Buffer.from("first"), signal);
    z.raw = false;
    z.input.write(Buffer.from("second"));
    z.input.end();
    await expect(out).rejects.toThrow(/cannot run \/nonexistent\/zstd for zstd compression/);
    expect(unzstd(Buffer.concat(parts)).toString()).toBe("first");
  });

  it("a zstd that fails mid-stream: the output fails with its exit status", async () => {
    const signal = AbortSignal.timeout(20_000);
    // `false` starts, reads nothing and exits 1: what a crashing zstd looks like from here.
    const z = openAdaptiveZstd("false", signal);
    const out = collect(z.output);
    z.input.write(text(1000));
    z.input.end();
    await expect(out).rejects.toThrow(/false failed \(exit 1\)/);
  });

  it("a reader slower than the writer: what is still queued when the input finishes is all read", async () => {
    const signal = AbortSignal.timeout(20_000);
    const z = openAdaptiveZstd("zstd", signal);
    const pieces = [text(300_000), text(300_000)];
    const read = (async () => {
      const parts: Buffer[] = [];
      for await (const b of z.output) {
        parts.push(b);
        await new Promise((r) => setTimeout(r, 5)); // a 20 Mbit/s link
      }
      return Buffer.concat(parts);
    })();
    z.raw = true;
    for (const p of pieces) await writeTo(z.input, p, signal);
    z.input.end();
    expect(unzstd(await read).equals(Buffer.concat(pieces))).toBe(true);
  });

  it("destroy stops the zstd process and fails the output", async () => {
    const signal = AbortSignal.timeout(20_000);
    const z = openAdaptiveZstd("zstd", signal);
    const out = collect(z.output);
    await writeTo(z.input, text(100_000), signal);
    z.destroy();
    await expect(out).rejects.toThrow();
  });
});
