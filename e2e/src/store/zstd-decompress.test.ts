import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { type Decompressor, openDecompressor } from "@ros-rollback/agent/testing";
import { writeTo } from "@ros-rollback/nix-core";
import { childProcesses } from "@ros-rollback/nix-core/testing";
import { Compression, rawZstdFrames } from "@ros-rollback/proto";
import { describe, expect, it } from "vitest";

// The agent's COMPRESSION_ZSTD decoder (one zstd -d) on the streams auto sends: zstd, then proto's raw frames.

const zstd = (data: Buffer) => execFileSync("zstd", ["-q", "-c", "-3"], { input: data, maxBuffer: 64 << 20 });
const text = (n: number) => Buffer.from(randomBytes(n / 2).toString("hex"));
const signal = () => AbortSignal.timeout(20_000);

async function open() {
  const s = signal();
  return { d: await openDecompressor(Compression.COMPRESSION_ZSTD, {}, s), signal: s };
}

/** Writes `stream` in 64 KiB chunks while reading the output (`slow`: a pause per buffer read). */
async function run(d: Decompressor, stream: Buffer, s: AbortSignal, slow = false): Promise<Buffer> {
  d.input.on("error", () => undefined); // surfaces through the output, as receive-push.ts reads it
  const read = (async () => {
    const out: Buffer[] = [];
    for await (const b of d.output) {
      out.push(b);
      if (slow) await new Promise((r) => setTimeout(r, 2));
    }
    return Buffer.concat(out);
  })();
  const write = (async () => {
    for (let at = 0; at < stream.length; at += 65536)
      await writeTo(d.input, stream.subarray(at, at + 65536), s);
    d.input.end();
  })();
  const [out] = await Promise.all([read, write.catch(() => undefined)]);
  return out;
}

const gone = async () => {
  for (let i = 0; i < 50 && (await childProcesses()).length > 0; i++)
    await new Promise((r) => setTimeout(r, 20));
  return childProcesses();
};

describe("openDecompressor (COMPRESSION_ZSTD)", () => {
  it("auto's stream (zstd, then raw frames), and an older controller's (zstd, raw, zstd, raw): every byte back in order", async () => {
    const parts = [text(600 * 1024), text(500 * 1024), text(300 * 1024), text(100 * 1024)];
    const auto = Buffer.concat([zstd(parts[0] as Buffer), ...rawZstdFrames(parts[1] as Buffer)]);
    const a = await open();
    expect((await run(a.d, auto, a.signal)).equals(Buffer.concat(parts.slice(0, 2)))).toBe(true);
    const old = Buffer.concat([
      zstd(parts[0] as Buffer),
      ...rawZstdFrames(parts[1] as Buffer),
      zstd(parts[2] as Buffer),
      ...rawZstdFrames(parts[3] as Buffer),
    ]);
    const b = await open();
    expect((await run(b.d, old, b.signal)).equals(Buffer.concat(parts))).toBe(true);
    expect(await gone()).toEqual([]);
  });

  it("an importer slower than the stream: what is still queued when the input ends is all read", async () => {
    const data = text(2 << 20);
    const stream = Buffer.concat([zstd(data.subarray(0, 1 << 20)), ...rawZstdFrames(data.subarray(1 << 20))]);
    const { d, signal: s } = await open();
    expect((await run(d, stream, s, true)).equals(data)).toBe(true);
  });

  it("corrupt compressed data after raw frames: INVALID_ARGUMENT from zstd -d, processes gone", async () => {
    const bad = zstd(text(200 * 1024));
    const mid = bad.length >> 1;
    bad.writeUInt8((bad.readUInt8(mid) ^ 0xff) & 0xff, mid);
    const stream = Buffer.concat([...rawZstdFrames(text(1000)), bad]);
    const { d, signal: s } = await open();
    await expect(run(d, stream, s)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    d.destroy();
    expect(await gone()).toEqual([]);
  });

  it("a stream that stops inside a raw frame: INVALID_ARGUMENT, not a short NAR", async () => {
    const stream = Buffer.concat(rawZstdFrames(text(1000)));
    const { d, signal: s } = await open();
    await expect(run(d, stream.subarray(0, 500), s)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });
});
