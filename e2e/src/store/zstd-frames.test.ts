import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { type Piece, rawFrame, ZstdFrames } from "@ros-rollback/agent/testing";
import { rawZstdFrames } from "@ros-rollback/controller/testing";
import { describe, expect, it } from "vitest";

const zstd = (data: Buffer, ...args: string[]) =>
  execFileSync("zstd", ["-q", "-c", ...args], { input: data, maxBuffer: 64 << 20 });
const text = (n: number) => Buffer.from(randomBytes(n / 2).toString("hex"));

/** What went each way, joined; fed in `step`-byte chunks. */
function split(stream: Buffer, step = stream.length, frames = new ZstdFrames()) {
  const pieces: Piece[] = [];
  for (let at = 0; at < stream.length; at += step)
    pieces.push(...frames.push(stream.subarray(at, at + step)));
  const join = (to: Piece["to"]) => Buffer.concat(pieces.filter((p) => p.to === to).map((p) => p.data));
  const order = pieces.map((p) => p.to).filter((to, i, all) => to !== all[i - 1]);
  return { zstd: join("zstd"), out: join("out"), frames, order };
}

describe("ZstdFrames", () => {
  const raw1 = text(300 * 1024);
  const raw2 = text(5000);
  const z1 = zstd(text(200 * 1024)); // the CLI's frame: a checksum, no content size (stdin)
  const z2 = zstd(Buffer.alloc(1 << 20), "--no-check"); // RLE blocks
  const mixed = Buffer.concat([z1, ...rawZstdFrames(raw1), z2, ...rawZstdFrames(raw2)]);

  it("raw frames (auto's uncompressed stretches) go straight out; zstd's frames to zstd, as they came", () => {
    for (const step of [mixed.length, 65536, 4099, 7, 1]) {
      const r = split(mixed, step);
      expect(r.out.equals(Buffer.concat([raw1, raw2]))).toBe(true);
      expect(r.zstd.equals(Buffer.concat([z1, z2]))).toBe(true);
      expect(r.frames.atFrameBoundary).toBe(true);
    }
    expect(split(mixed).order).toEqual(["zstd", "out", "zstd", "out"]);
  });

  it.each([
    ["a content size and single segment", zstd(text(1000), "--content-size", "--single-thread")],
    ["a checksum", zstd(text(70_000), "--check")],
    ["an empty frame", zstd(Buffer.alloc(0))],
  ])("zstd frames with %s: to zstd, byte for byte", (_what, frame) => {
    const stream = Buffer.concat([frame, ...rawZstdFrames(raw2), frame]);
    for (const step of [stream.length, 3, 1]) {
      const r = split(stream, step);
      expect(r.zstd.equals(Buffer.concat([frame, frame]))).toBe(true);
      expect(r.out.equals(raw2)).toBe(true);
    }
  });

  it.each([
    ["a skippable frame", Buffer.from([0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4])],
    ["a bad magic number", Buffer.from("not zstd at all, but long enough")],
    ["a reserved descriptor bit", Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x08, 0x38, 1, 0, 0])],
    ["a reserved block type", Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38, 0x07, 0, 0, 9, 9])],
  ])("%s: it and everything after go to zstd (zstd -d judges)", (_what, odd) => {
    const stream = Buffer.concat([...rawZstdFrames(raw2), odd, ...rawZstdFrames(raw2)]);
    for (const step of [stream.length, 1]) {
      const r = split(stream, step);
      expect(r.out.equals(raw2)).toBe(true);
      expect(r.zstd.equals(Buffer.concat([odd, ...rawZstdFrames(raw2)]))).toBe(true);
    }
  });

  it("a raw block bigger than its frame's window or than 128 KiB is not split out", () => {
    const big = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x48]), Buffer.alloc(3)]);
    big.writeUIntLE((256 * 1024 * 8) | 1, 6, 3); // a 256 KiB window, a 256 KiB raw block
    const stream = Buffer.concat([big, Buffer.alloc(256 * 1024)]);
    expect(split(stream).out.length).toBe(0);
    const small = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x00, 0, 0, 0]); // a 1 KiB window
    small.writeUIntLE((2048 * 8) | 1, 6, 3);
    expect(split(Buffer.concat([small, Buffer.alloc(2048)])).out.length).toBe(0);
  });

  it("knows when the stream stopped inside a frame", () => {
    const stream = Buffer.concat(rawZstdFrames(raw2));
    expect(split(stream.subarray(0, 5)).frames.atFrameBoundary).toBe(false);
    expect(split(stream.subarray(0, 100)).frames.atFrameBoundary).toBe(false);
    expect(split(z1.subarray(0, z1.length - 1)).frames.atFrameBoundary).toBe(false);
    expect(split(stream).frames.atFrameBoundary).toBe(true);
  });

  it("rawFrame makes the frames the controller sends", () => {
    const data = text(1000);
    expect(Buffer.concat(rawFrame(data)).equals(Buffer.concat(rawZstdFrames(data)))).toBe(true);
  });
});
