import { cpus } from "node:os";
import { describe, expect, it } from "vitest";
import { cpuTimes, spareCores } from "./cpu-idle.js";

describe("spareCores", () => {
  it.each([
    [0, 0], // every core busy
    [100, 4], // every core idle
    [25, 1],
  ])("%d ms idle of 100 on 4 cores: %d spare", (idle, spare) => {
    const from = { idleMs: 1000, totalMs: 4000, cores: 4 };
    expect(spareCores(from, { idleMs: 1000 + idle, totalMs: 4100, cores: 4 })).toBe(spare);
  });

  it("no tick between the readings: no verdict (no division by zero)", () => {
    const t = { idleMs: 1000, totalMs: 4000, cores: 4 };
    expect(spareCores(t, t)).toBeUndefined();
  });
});

describe("cpuTimes", () => {
  it("reads this machine: every core, idle within the total, never going back", () => {
    const a = cpuTimes();
    const b = cpuTimes();
    expect(a.cores).toBe(cpus().length);
    expect(a.idleMs).toBeLessThanOrEqual(a.totalMs);
    expect(b.totalMs).toBeGreaterThanOrEqual(a.totalMs);
    const spare = spareCores(a, b);
    if (spare !== undefined) expect(spare).toBeLessThanOrEqual(a.cores);
  });
});
