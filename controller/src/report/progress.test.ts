import { describe, expect, it } from "vitest";
import {
  describeProgress,
  etaSeconds,
  formatBytes,
  formatDuration,
  ProgressReporter,
  RateMeter,
  renderBar,
} from "./progress.js";

const MiB = 1024 * 1024;

describe("formatting", () => {
  it.each([
    [0, "0 B"],
    [1023, "1023 B"],
    [1024, "1.00 KiB"],
    [15 * MiB + MiB / 2, "15.5 MiB"],
    [300 * MiB, "300 MiB"],
    [3 * 1024 * MiB, "3.00 GiB"],
  ])("formatBytes(%d) = %s", (n, s) => expect(formatBytes(n)).toBe(s));

  it.each([
    [0, "0:00"],
    [7.4, "0:07"],
    [754, "12:34"],
    [3723, "1:02:03"],
  ])("formatDuration(%d) = %s", (n, s) => expect(formatDuration(n)).toBe(s));
});

describe("rate and ETA", () => {
  it("measures the rate over the sliding window, not since the start", () => {
    const meter = new RateMeter(5_000);
    meter.add(0, 0);
    expect(meter.rate()).toBeUndefined();
    meter.add(1_000, 10 * MiB); // 10 MiB/s
    expect(meter.rate()).toBe(10 * MiB);
    // The link slows to 1 MiB/s for 10 s: the window forgets the fast start.
    for (let t = 2_000; t <= 11_000; t += 1_000) meter.add(t, 10 * MiB + ((t - 1_000) / 1_000) * MiB);
    expect(meter.rate()).toBeCloseTo(MiB, 0);
  });

  it("ETA is remaining / rate, 0 when done, unknown without a rate or when stalled", () => {
    expect(etaSeconds(40, 100, 10)).toBe(6);
    expect(etaSeconds(100, 100, undefined)).toBe(0);
    expect(etaSeconds(10, 100, undefined)).toBeUndefined();
    expect(etaSeconds(10, 100, 0)).toBeUndefined();
  });

  it("describes bytes, rate, ETA and paths", () => {
    const p = { bytesSent: 40 * MiB, bytesTotal: 100 * MiB, pathsSent: 3, pathsTotal: 9 };
    expect(describeProgress(p, 10 * MiB)).toBe("40.0 MiB/100 MiB  10.0 MiB/s  ETA 0:06  3/9 paths");
    expect(describeProgress(p, undefined)).toBe("40.0 MiB/100 MiB  --/s  ETA --  3/9 paths");
  });

  it("compressed: shows the bytes on the wire and their rate; the ETA converts it at the ratio so far", () => {
    // 10 MiB on the wire carried 40 MiB of NAR; the link does 2 MiB/s = 8 MiB/s of NAR; 60 MiB left.
    const p = {
      bytesSent: 40 * MiB,
      bytesTotal: 100 * MiB,
      wireBytesSent: 10 * MiB,
      pathsSent: 3,
      pathsTotal: 9,
    };
    expect(describeProgress(p, 2 * MiB)).toBe(
      "10.0 MiB sent  2.00 MiB/s  ETA 0:08  3/9 paths  (NAR ~40.0 MiB/100 MiB)",
    );
  });

  it("draws a bar that fits the terminal", () => {
    const p = { bytesSent: 50, bytesTotal: 100, pathsSent: 1, pathsTotal: 2 };
    const bar = renderBar("push", p, 10, 100);
    expect(bar).toMatch(/^push \[#+-+\] {2}50% /);
    expect(bar.length).toBeLessThanOrEqual(100);
    expect(renderBar("push", p, 10, 30).length).toBeLessThan(30);
    // Compressed: the bytes on the wire first; the NAR estimate goes before the bar does.
    const wire = { ...p, bytesTotal: 100 * MiB, bytesSent: 50 * MiB, wireBytesSent: 20 * MiB };
    expect(renderBar("push", wire, MiB, 200)).toMatch(
      / 50% {2}20\.0 MiB sent .*\(NAR ~50\.0 MiB\/100 MiB\)$/,
    );
    expect(renderBar("push", wire, MiB, 80)).toMatch(/^push \[#+-+\] {2}50% .*paths$/);
    expect(renderBar("push", wire, MiB, 80).length).toBeLessThan(80);
    // Some ptys report 0 columns: still draw something.
    expect(renderBar("push", p, 10, 0)).toMatch(/^push \[#+-+\] {2}50% /);
  });
});

describe("ProgressReporter", () => {
  function setup(tty: boolean) {
    let now = 0;
    const out: string[] = [];
    const reporter = new ProgressReporter(
      { write: (s) => out.push(s) },
      { tty, columns: 120, now: () => now, lineIntervalMs: 5_000, redrawIntervalMs: 100 },
    );
    return { reporter, out, tick: (ms: number) => (now += ms) };
  }
  const at = (bytesSent: number) => ({ bytesSent, bytesTotal: 100 * MiB, pathsSent: 0, pathsTotal: 4 });

  it("prints a plain line every 5 s when stderr is not a TTY, and a final one", () => {
    const { reporter, out, tick } = setup(false);
    for (let i = 0; i <= 12; i++) {
      reporter.update(at(i * 5 * MiB));
      tick(1_000);
    }
    reporter.finish();
    expect(out).toHaveLength(4); // t=0, 5 s, 10 s, final
    expect(out.every((l) => l.startsWith("push: ") && l.endsWith("\n") && !l.includes("\r"))).toBe(true);
    expect(out[1]).toBe("push:  25%  25.0 MiB/100 MiB  5.00 MiB/s  ETA 0:15  0/4 paths\n");
    expect(out[3]).toContain(" 60%  60.0 MiB/100 MiB  5.00 MiB/s  ETA 0:08");
  });

  it("compressed: the rate is of the bytes on the wire, not of the NAR bytes handed to the compressor", () => {
    const { reporter, out, tick } = setup(false);
    // Each second 1 MiB leaves the machine, carrying 4 MiB of NAR.
    for (let i = 0; i <= 5; i++) {
      reporter.update({ ...at(i * 4 * MiB), wireBytesSent: i * MiB });
      tick(1_000);
    }
    expect(out[1]).toBe(
      "push:  20%  5.00 MiB sent  1.00 MiB/s  ETA 0:20  0/4 paths  (NAR ~20.0 MiB/100 MiB)\n",
    );
  });

  it("redraws one line in place on a TTY and ends it on finish", () => {
    const { reporter, out, tick } = setup(true);
    reporter.update(at(0));
    tick(50);
    reporter.update(at(MiB)); // too soon: no redraw
    tick(100);
    reporter.update(at(2 * MiB));
    reporter.finish();
    expect(out).toHaveLength(3);
    expect(out[0]?.startsWith("\r\x1b[2Kpush [")).toBe(true);
    expect(out[out.length - 1]).toBe("\n");
  });
});
