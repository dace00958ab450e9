import {
  BadFrame,
  decodeRawPushProgress,
  encodeRawPushProgress,
  FRAME,
  FRAME_HEADER_BYTES,
  FrameReader,
  frameHeader,
  MAX_RESULT_FRAME,
  PROGRESS_FRAME_BYTES,
  type RawPushProgress,
} from "@ros-rollback/proto";
import { describe, expect, it } from "vitest";
import { PROGRESS_EVERY_BYTES, PROGRESS_EVERY_MS, progressFrames, timedReads } from "./progress.js";

// PROGRESS (raw channel version 2): the frame, and when the agent sends one.

const MiB = 1024 * 1024;
const V2 = new Map<number, number>([
  [FRAME.RESULT, MAX_RESULT_FRAME],
  [FRAME.ERROR, 64 * 1024],
  [FRAME.PROGRESS, PROGRESS_FRAME_BYTES],
]);

const frames = (stream: Buffer, limits = V2) => [...new FrameReader(limits).push(stream)];

describe("the PROGRESS frame", () => {
  it.each([
    [0, 0, 0],
    [1, 3, 5],
    [2 ** 32 + 5, 2 ** 40 + 7, 2 ** 33],
    [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  ])(
    "round-trips wire %d, NAR %d, waited %d µs through the frame reader",
    (wireBytes, narBytes, waitedUs) => {
      const b = encodeRawPushProgress({ wireBytes, narBytes, waitedUs });
      expect(b.length).toBe(FRAME_HEADER_BYTES + PROGRESS_FRAME_BYTES);
      const parts = frames(b);
      expect(parts).toHaveLength(1);
      const p = parts[0];
      expect(p?.kind === "frame" && p.type === FRAME.PROGRESS).toBe(true);
      expect(p?.kind === "frame" ? decodeRawPushProgress(p.payload) : undefined).toEqual({
        wireBytes,
        narBytes,
        waitedUs,
      });
    },
  );

  it("refuses a payload of the wrong size, or counts past 2^53", () => {
    expect(decodeRawPushProgress(Buffer.alloc(23))).toBeUndefined();
    expect(decodeRawPushProgress(Buffer.alloc(25))).toBeUndefined();
    expect(decodeRawPushProgress(Buffer.alloc(0))).toBeUndefined();
    expect(decodeRawPushProgress(Buffer.alloc(24))).toEqual({ wireBytes: 0, narBytes: 0, waitedUs: 0 });
    for (const at of [0, 8, 16]) {
      const big = Buffer.alloc(24);
      big.writeBigUInt64BE(2n ** 53n, at);
      expect(decodeRawPushProgress(big)).toBeUndefined();
      big.writeBigUInt64BE(2n ** 64n - 1n, at);
      expect(decodeRawPushProgress(big)).toBeUndefined();
    }
  });

  it("a reader on version 2 refuses one longer than 24 bytes before reading it; on version 1 refuses the type", () => {
    expect(() => frames(frameHeader(FRAME.PROGRESS, PROGRESS_FRAME_BYTES + 1))).toThrow(BadFrame);
    const v1 = new Map([...V2].filter(([t]) => t !== FRAME.PROGRESS));
    expect(() => frames(encodeRawPushProgress({ wireBytes: 1, narBytes: 1, waitedUs: 1 }), v1)).toThrow(
      "unexpected frame type 18",
    );
  });
});

describe("the agent's PROGRESS frames", () => {
  function emitter() {
    const sent: RawPushProgress[] = [];
    const clock = { t: 0 };
    const counts = progressFrames(
      (f) => {
        const p = decodeRawPushProgress(f.subarray(FRAME_HEADER_BYTES));
        if (p === undefined || f[0] !== FRAME.PROGRESS) throw new Error("not a PROGRESS frame");
        sent.push(p);
      },
      () => clock.t * 10,
      () => clock.t,
    );
    return { sent, clock, counts };
  }

  it("every MiB of wire consumed on a fast push, with the NAR it came to", () => {
    const { sent, clock, counts } = emitter();
    for (let i = 0; i < 64; i++) {
      clock.t += 1; // 128 KiB per ms
      counts.wireBytes(128 * 1024);
      counts.narBytes(256 * 1024);
    }
    expect(sent.length).toBeGreaterThanOrEqual(7);
    expect(sent.length).toBeLessThanOrEqual(8);
    for (const [i, p] of sent.entries()) {
      expect(p.wireBytes).toBeGreaterThanOrEqual((i + 1) * PROGRESS_EVERY_BYTES);
      expect(p.narBytes).toBeGreaterThanOrEqual(2 * p.wireBytes - 256 * 1024);
    }
  });

  it(`every ${PROGRESS_EVERY_MS} ms on a slow one; nothing while nothing moves`, () => {
    const { sent, clock, counts } = emitter();
    for (let i = 0; i < 100; i++) {
      clock.t += 10;
      counts.wireBytes(1000);
      counts.narBytes(3000);
    }
    expect(sent.length).toBe(1000 / PROGRESS_EVERY_MS);
    clock.t += 10_000;
    expect(sent.length).toBe(1000 / PROGRESS_EVERY_MS);
    counts.narBytes(1);
    expect(sent.at(-1)).toEqual({ wireBytes: 100_000, narBytes: 300_001, waitedUs: 110_000 });
  });

  it("not more often than every 50/64 ms, however big the reads", () => {
    const { sent, counts } = emitter(); // the clock stands still
    for (let i = 0; i < 1000; i++) counts.wireBytes(16 * MiB);
    expect(sent).toEqual([]);
  });
});

describe("the agent's wait for the network", () => {
  it("counts the time a read waited for bytes, not the time the reader was busy", async () => {
    const clock = { t: 0 };
    async function* arriving(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 3; i++) {
        clock.t += 7; // the network takes 7 ms per piece
        yield Buffer.alloc(1);
      }
    }
    const reads = timedReads(arriving(), () => clock.t);
    for await (const _ of reads.bytes) clock.t += 100; // the import takes 100 ms per piece
    expect(reads.waitedUs()).toBe(3 * 7 * 1000);
  });
});
