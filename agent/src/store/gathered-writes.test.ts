import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { GatheredWrites } from "./gathered-writes.js";

/** A sink that records what it gets (as copies: the originals may be reused) and when it may release it. */
function recording() {
  const got: { data: Buffer; at: Buffer; written: () => void }[] = [];
  const sink = async (data: Buffer, written: () => void) => {
    got.push({ data: Buffer.from(data), at: data, written });
  };
  return { got, sink };
}

describe("GatheredWrites", () => {
  it("joins 16 KiB writes into writes of its size, the bytes in order, the rest on flush", async () => {
    const { got, sink } = recording();
    const w = new GatheredWrites(sink, 64 * 1024);
    const input = Array.from({ length: 9 }, () => randomBytes(16 * 1024));
    for (const b of input) await w.write(b);
    expect(got.map((g) => g.data.length)).toEqual([65_536, 65_536]);
    expect(w.pending).toBe(16 * 1024);
    await w.flush();
    expect(got.map((g) => g.data.length)).toEqual([65_536, 65_536, 16_384]);
    expect(Buffer.concat(got.map((g) => g.data)).equals(Buffer.concat(input))).toBe(true);
    await w.flush();
    expect(got).toHaveLength(3);
  });

  it("fills its buffer from a write at any offset, and hands on a big rest as it is", async () => {
    const { got, sink } = recording();
    const w = new GatheredWrites(sink, 1000);
    const input = [randomBytes(700), randomBytes(2500), randomBytes(10), randomBytes(995)];
    for (const b of input) await w.write(b);
    await w.flush();
    expect(got.map((g) => g.data.length)).toEqual([1000, 2200, 1000, 5]);
    expect(Buffer.concat(got.map((g) => g.data)).equals(Buffer.concat(input))).toBe(true);
  });

  it("reuses a buffer only once the sink is done with it", async () => {
    const { got, sink } = recording();
    const w = new GatheredWrites(sink, 100);
    const fill = async () => {
      await w.write(randomBytes(50));
      await w.write(randomBytes(50));
    };
    await fill();
    await fill();
    // Neither released: each went into its own buffer, untouched since.
    expect(got[1]?.at.buffer).not.toBe(got[0]?.at.buffer);
    expect(got.every((g) => g.at.equals(g.data))).toBe(true);
    got[0]?.written();
    await fill();
    expect(got[2]?.at.buffer).toBe(got[0]?.at.buffer);
    expect(got.slice(1).every((g) => g.at.equals(g.data))).toBe(true);
  });

  it("hands on a write of its size or more as it is when nothing is gathered", async () => {
    const { got, sink } = recording();
    const w = new GatheredWrites(sink, 100);
    const big = randomBytes(250);
    await w.write(big);
    expect(got.map((g) => g.at.buffer)).toEqual([big.buffer]);
    await w.write(randomBytes(10));
    await w.write(big);
    await w.flush();
    expect(got.map((g) => g.data.length)).toEqual([250, 100, 160]);
  });
});
