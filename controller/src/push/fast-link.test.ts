import { describe, expect, it } from "vitest";
import { FAST_BYTES_PER_SECOND, FastLink, SKIP_MS, WINDOW_MS } from "./fast-link.js";

// auto's link rule on its inputs alone: when the first chunk left, and the agent's reports (time, wire consumed).

const MiB = 1024 * 1024;

/** Reports every `everyMs` from the start at `bytesPerSecond`; the verdict and when it came. */
function run(bytesPerSecond: number, everyMs = 50, untilMs = 2_000) {
  const link = new FastLink();
  link.started(1_000);
  for (let t = everyMs; t <= untilMs; t += everyMs) {
    const v = link.progress(1_000 + t, (bytesPerSecond * t) / 1000);
    if (v !== undefined) return { v, t };
  }
  return undefined;
}

describe("FastLink", () => {
  it("the lab's 20 Mbit/s (2.4 MiB/s of zstd output): slow, zstd to the end", () => {
    const r = run(2.4 * MiB);
    expect(r?.v.fast).toBe(false);
    expect(r?.v.bytesPerSecond).toBeCloseTo(2.4 * MiB, -3);
  });

  it("the lab's veth, even loaded (7 MiB/s of zstd output): fast, uncompressed", () => {
    expect(run(7 * MiB)?.v.fast).toBe(true);
  });

  it("the threshold itself is fast; just under it is slow", () => {
    const at = (wire: number) => {
      const link = new FastLink();
      link.started(0);
      link.progress(SKIP_MS, 0);
      return link.progress(SKIP_MS + 1000, wire)?.fast;
    };
    expect(at(FAST_BYTES_PER_SECOND)).toBe(true);
    expect(at(FAST_BYTES_PER_SECOND - 1)).toBe(false);
  });

  it("decides once the window after the skip has passed, and only once", () => {
    const r = run(100 * MiB);
    expect(r?.t).toBe(SKIP_MS + WINDOW_MS);
    expect(r?.v.atMs).toBe(SKIP_MS + WINDOW_MS);
    const link = new FastLink();
    link.started(0);
    link.progress(SKIP_MS, 0);
    expect(link.progress(SKIP_MS + WINDOW_MS, 0)?.fast).toBe(false);
    expect(link.progress(SKIP_MS + 2 * WINDOW_MS, 100 * MiB)).toBeUndefined();
    expect(link.verdict?.fast).toBe(false);
  });

  it("a burst during the skip (buffers filling at local speed) does not count", () => {
    const link = new FastLink();
    link.started(0);
    expect(link.progress(10, 8 * MiB)).toBeUndefined();
    expect(link.progress(SKIP_MS, 8 * MiB)).toBeUndefined();
    expect(link.progress(SKIP_MS + WINDOW_MS, 8 * MiB + 0.5 * MiB)?.fast).toBe(false);
  });

  it("reports before the first chunk left are ignored", () => {
    const link = new FastLink();
    expect(link.progress(5_000, 100 * MiB)).toBeUndefined();
    link.started(6_000);
    expect(link.progress(6_000 + SKIP_MS, 100 * MiB)).toBeUndefined();
    expect(link.progress(6_000 + SKIP_MS + WINDOW_MS, 100 * MiB + 0.5 * MiB)?.fast).toBe(false);
  });
});
