import { describe, expect, it } from "vitest";
import { type AgentReport, LinkWatch, SKIP_MS, WINDOW_MS } from "./link-verdict.js";

// auto's link rule on its inputs alone: the stream's waits and the agent's reports, on one clock.

const MiB = 1024 * 1024;

/**
 * Reports every 50 ms: the agent consumes `rate` MiB/s and its reads wait `starved` of the time;
 * per 50 ms the stream waited `sourceMs` for zstd's output and it `linkMs` for the transport.
 */
function judge(o: { rate: number; starved: number; sourceMs: number; linkMs: number }) {
  const w = new LinkWatch();
  for (let t = 0; t <= 2_000; t += 50) {
    w.waited(o.sourceMs, o.linkMs);
    const r: AgentReport = { wireBytes: (o.rate * MiB * t) / 1000, waitedUs: o.starved * t * 1000 };
    const v = w.progress(10_000 + t, r);
    if (v !== undefined) return { v, t };
  }
  return undefined;
}

describe("LinkWatch", () => {
  it("20 Mbit/s: zstd's output waits for the link, the agent waits for the network: zstd to the end", () => {
    const r = judge({ rate: 2.4, starved: 0.95, sourceMs: 0, linkMs: 50 });
    expect(r?.v.linkBound).toBe(true);
    expect(r?.v.why).toMatch(
      /^the link is the bottleneck, zstd to the end \(zstd's output waited 250 ms for the transport, the transport 0 ms for it; the agent took 2\.4 MiB\/s, its reads waited 238 of 250 ms\)$/,
    );
  });

  it("a fast link or a busy machine: the transport waits for zstd: uncompressed", () => {
    // As slow on the wire as 20 Mbit/s (the lab's veth with zstd under a load of 15), but zstd is the bottleneck.
    const r = judge({ rate: 2.4, starved: 0.95, sourceMs: 40, linkMs: 10 });
    expect(r?.v.linkBound).toBe(false);
    expect(r?.v.why).toMatch(/^uncompressed from here \(/);
  });

  it("the transport is full but the agent's reads hardly wait: the robot's import is the bottleneck: uncompressed", () => {
    expect(judge({ rate: 30, starved: 0.1, sourceMs: 0, linkMs: 50 })?.v.linkBound).toBe(false);
  });

  it("the agent starved half the window is starved; a hair less is not", () => {
    expect(judge({ rate: 2, starved: 0.5, sourceMs: 0, linkMs: 50 })?.v.linkBound).toBe(true);
    expect(judge({ rate: 2, starved: 0.49, sourceMs: 0, linkMs: 50 })?.v.linkBound).toBe(false);
  });

  it("judges one window after the skip, from the agent's first report; then never again", () => {
    const r = judge({ rate: 2, starved: 1, sourceMs: 0, linkMs: 50 });
    expect(r?.t).toBe(SKIP_MS + WINDOW_MS);
    const w = new LinkWatch();
    w.waited(0, 1_000); // before the window: not counted
    w.progress(5_000, { wireBytes: 0, waitedUs: 0 });
    w.progress(5_000 + SKIP_MS, { wireBytes: 0, waitedUs: 0 });
    w.waited(10, 0);
    const v = w.progress(5_000 + SKIP_MS + WINDOW_MS, { wireBytes: MiB, waitedUs: WINDOW_MS * 1000 });
    expect(v?.linkBound).toBe(false);
    w.waited(0, 1_000);
    expect(w.progress(9_000, { wireBytes: 2 * MiB, waitedUs: 9_000_000 })).toBeUndefined();
    expect(w.verdict?.linkBound).toBe(false);
  });
});
