import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { type Decompressor, MAX_STRETCHES, openZstd, openZstdDemux } from "@ros-rollback/agent/testing";
import { rawZstdFrames } from "@ros-rollback/controller/testing";
import { writeTo } from "@ros-rollback/nix-core";
import { childProcesses } from "@ros-rollback/nix-core/testing";
import { describe, expect, it } from "vitest";

const zstd = (data: Buffer) => execFileSync("zstd", ["-q", "-c", "-3"], { input: data, maxBuffer: 64 << 20 });
const text = (n: number) => Buffer.from(randomBytes(n / 2).toString("hex"));
const signal = () => AbortSignal.timeout(20_000);

/** The demux over the real zstd -d, counting the processes it starts. */
async function demux() {
  let opened = 0;
  const s = signal();
  const d = await openZstdDemux(async (sig) => {
    opened++;
    return openZstd("zstd", sig);
  }, s);
  return { d, opened: () => opened, signal: s };
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

describe("openZstdDemux (COMPRESSION_ZSTD)", () => {
  it("auto's stream (zstd, raw, zstd, raw): every byte back in order, one zstd -d per compressed stretch", async () => {
    const parts = [text(600 * 1024), text(500 * 1024), text(300 * 1024), text(100 * 1024)];
    const stream = Buffer.concat([
      zstd(parts[0] as Buffer),
      ...rawZstdFrames(parts[1] as Buffer),
      zstd(parts[2] as Buffer),
      ...rawZstdFrames(parts[3] as Buffer),
    ]);
    const { d, opened, signal: s } = await demux();
    expect((await run(d, stream, s)).equals(Buffer.concat(parts))).toBe(true);
    expect(opened()).toBe(2);
  });

  it("an importer slower than the stream: what is still queued when the input ends is all read", async () => {
    const data = text(2 << 20);
    const stream = Buffer.concat([zstd(data.subarray(0, 1 << 20)), ...rawZstdFrames(data.subarray(1 << 20))]);
    const { d, signal: s } = await demux();
    expect((await run(d, stream, s, true)).equals(data)).toBe(true);
  });

  it("all raw: no data through zstd -d (one started at open, so a robot without zstd refuses at once)", async () => {
    const data = text(1 << 20);
    const { d, opened, signal: s } = await demux();
    expect((await run(d, Buffer.concat(rawZstdFrames(data)), s)).equals(data)).toBe(true);
    expect(opened()).toBe(1);
    expect(await childProcesses()).toEqual([]);
  });

  it("a client alternating frames gets at most MAX_STRETCHES processes, and still every byte", async () => {
    const parts = Array.from({ length: 40 }, () => text(4096));
    const stream = Buffer.concat(
      parts.map((p, i) => (i % 2 === 0 ? zstd(p) : Buffer.concat(rawZstdFrames(p)))),
    );
    const { d, opened, signal: s } = await demux();
    expect((await run(d, stream, s)).equals(Buffer.concat(parts))).toBe(true);
    expect(opened()).toBe(MAX_STRETCHES);
  });

  it("corrupt compressed data after raw frames: INVALID_ARGUMENT from zstd -d, processes gone", async () => {
    const bad = zstd(text(200 * 1024));
    const mid = bad.length >> 1;
    bad.writeUInt8((bad.readUInt8(mid) ^ 0xff) & 0xff, mid);
    const stream = Buffer.concat([...rawZstdFrames(text(1000)), bad]);
    const { d, signal: s } = await demux();
    await expect(run(d, stream, s)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    d.destroy();
    for (let i = 0; i < 50 && (await childProcesses()).length > 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(await childProcesses()).toEqual([]);
  });

  it("a stream that stops inside a raw frame: INVALID_ARGUMENT, not a short NAR", async () => {
    const stream = Buffer.concat(rawZstdFrames(text(1000)));
    const { d, signal: s } = await demux();
    await expect(run(d, stream.subarray(0, 500), s)).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
      message: expect.stringMatching(/ends inside a frame/),
    });
  });
});
