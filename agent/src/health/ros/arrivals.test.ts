import { describe, expect, it } from "vitest";
import { Arrivals } from "./arrivals.js";

describe("Arrivals", () => {
  it("counts arrivals since a time, forgetting those older than the retention", () => {
    const a = new Arrivals(1000, 100_000);
    for (let t = 0; t <= 5000; t += 100) a.add(t);
    // 10 Hz for 5 s: the last second holds 11 arrivals (4000..5000), the last half second 6.
    expect(a.countSince(4000)).toBe(11);
    expect(a.countSince(4500)).toBe(6);
    expect(a.countSince(5001)).toBe(0);
    // Older than retained: not counted, whatever the window asked.
    expect(a.countSince(0)).toBe(11);
    // Stale times are cut off in batches: never more than twice the window is held.
    expect(a.held).toBeLessThanOrEqual(22);
  });

  it("keeps at most `max` arrivals, the newest", () => {
    const a = new Arrivals(60_000, 50);
    for (let t = 0; t < 1000; t++) a.add(t);
    expect(a.countSince(0)).toBe(50);
    expect(a.countSince(975)).toBe(25);
    expect(a.held).toBeLessThanOrEqual(100);
  });

  it("counts nothing before the first arrival, and a burst at one instant in full", () => {
    const a = new Arrivals(1000, 100);
    expect(a.countSince(0)).toBe(0);
    for (let i = 0; i < 7; i++) a.add(42);
    expect(a.countSince(42)).toBe(7);
    a.add(2000);
    expect(a.countSince(0)).toBe(1);
  });
});
