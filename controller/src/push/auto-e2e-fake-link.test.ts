import { describe, expect, it } from "vitest";
import { AGENT_REPORTS, type LinkModel, type ModeSource, simulatePush } from "../testing/fake-link.js";
import type { CpuTimes } from "./cpu-idle.js";
import { type AgentProgress, LinkProbe, type ProbeDecision } from "./link-probe.js";

/**
 * `--compress auto` on the raw channel (version 2): the agent reports what it
 * imported, and the real LinkProbe measures at its end instead of past a
 * guessed skip. The simulated link (testing/fake-link.ts) with the lab's
 * rates (auto-fake-link.test.ts) and the raw channel's smaller buffers.
 */
const base: LinkModel = {
  zstdMiBs: 110,
  ratio: 0.37,
  sourceMiBs: 300,
  linkMiBs: 1000,
  importMiBs: { zstd: 200, raw: 200 },
  bufferMiB: 4,
};
const MiB = 1024 * 1024;

const cpu = (idle: number) => {
  let t = 0;
  return (): CpuTimes => {
    t += 10;
    return { idleMs: t * (idle / 4), totalMs: t, cores: 4 };
  };
};

/** The probe, counting the NAR it let go compressed. */
function counted(probe: LinkProbe): ModeSource & { zstdNarMiB: () => number } {
  let zstdNar = 0;
  return {
    get mode() {
      return probe.mode;
    },
    add: (s, l, w, n) => {
      if (probe.mode === "zstd") zstdNar += n;
      probe.add(s, l, w, n);
    },
    progress: (at: number, p: AgentProgress) => probe.progress(at, p),
    zstdNarMiB: () => zstdNar / MiB,
  };
}

function run(model: LinkModel, narMiB: number, idleCores: number, reports = true) {
  const decisions: ProbeDecision[] = [];
  const probe = new LinkProbe({ cpu: cpu(idleCores), onDecision: (d) => decisions.push(d) });
  probe.expectProgress();
  const src = counted(probe);
  const auto = simulatePush(model, narMiB, src, reports ? AGENT_REPORTS : undefined);
  const zstd = simulatePush(model, narMiB, { mode: "zstd" });
  const raw = simulatePush(model, narMiB, { mode: "raw" });
  return {
    auto,
    zstd,
    raw,
    best: Math.min(zstd, raw),
    steps: decisions.map((d) => [d.mode, d.final]),
    atAgent: decisions.map((d) => (d.raw ?? d.zstd).atAgent === true),
    zstdNarMiB: src.zstdNarMiB(),
  };
}

describe("auto with the agent's progress, on a fake link", () => {
  it("fast link, busy CPU (the lab's veth): uncompressed after a few MiB, not tens", () => {
    const lab = { ...base, importMiBs: { zstd: 64, raw: 75 } };
    const r = run(lab, 200, 0.1);
    expect(r.steps).toEqual([["raw", true]]);
    expect(r.atAgent).toEqual([true]);
    expect(r.zstdNarMiB).toBeLessThan(24);
    expect(r.auto).toBeLessThan(1.03 * r.best);
    // Without reports the same push compresses past the 16 MiB skip first.
    const old = new LinkProbe({ cpu: cpu(0.1) });
    const oldSrc = counted(old);
    simulatePush(lab, 200, oldSrc);
    expect(oldSrc.zstdNarMiB()).toBeGreaterThan(2 * r.zstdNarMiB);
  });

  it("fast link, a core to spare: the trial at the agent's end shows uncompressed moves more", () => {
    const r = run({ ...base, importMiBs: { zstd: 300, raw: 300 } }, 500, 2);
    expect(r.steps).toEqual([
      ["raw", false],
      ["raw", true],
    ]);
    expect(r.atAgent).toEqual([true, true]);
    expect(r.auto).toBeLessThan(1.1 * r.best);
  });

  it("fast link, the robot's import slower than zstd's output (data waits for it): uncompressed, however idle the CPU", () => {
    for (const idle of [0, 2]) {
      const r = run({ ...base, importMiBs: { zstd: 50, raw: 70 } }, 200, idle);
      expect(r.steps.at(-1)).toEqual(["raw", true]);
      expect(r.auto).toBeLessThan(1.05 * r.best);
      expect(r.raw).toBeLessThan(r.zstd);
    }
    // What the transport alone sees there: the link is the bottleneck.
    const decisions: ProbeDecision[] = [];
    const old = new LinkProbe({ cpu: cpu(2), onDecision: (d) => decisions.push(d) });
    simulatePush({ ...base, importMiBs: { zstd: 50, raw: 70 } }, 200, old);
    expect(decisions.map((d) => [d.mode, d.final])).toEqual([["zstd", true]]);
  });

  it("slow link (20 Mbit/s): zstd to the end", () => {
    for (const idle of [0, 2]) {
      const r = run({ ...base, linkMiBs: 2.4 }, 200, idle);
      expect(r.steps).toEqual([["zstd", true]]);
      expect(r.auto).toBe(r.zstd);
    }
  });

  it("medium link (60 MiB/s): zstd wins the trial", () => {
    const r = run({ ...base, linkMiBs: 60 }, 200, 2);
    expect(r.steps).toEqual([
      ["raw", false],
      ["zstd", true],
    ]);
    expect(r.auto).toBeLessThan(1.05 * r.zstd);
  });

  it("incompressible data (zstd saves 2 %) on a fast link: uncompressed", () => {
    for (const idle of [0, 2]) {
      const r = run({ ...base, ratio: 0.98, importMiBs: { zstd: 75, raw: 75 } }, 200, idle);
      expect(r.steps.at(-1)).toEqual(["raw", true]);
      expect(r.auto).toBeLessThan(1.05 * r.best);
    }
  });

  it("an agent that promised reports and sends none: the transport's measure decides, as without them", () => {
    const lab = { ...base, importMiBs: { zstd: 64, raw: 75 }, bufferMiB: 12 };
    const r = run(lab, 200, 0.1, false);
    const decisions: ProbeDecision[] = [];
    simulatePush(lab, 200, new LinkProbe({ cpu: cpu(0.1), onDecision: (d) => decisions.push(d) }));
    expect(r.steps).toEqual(decisions.map((d) => [d.mode, d.final]));
    expect(r.steps).toEqual([["raw", true]]);
    expect(r.atAgent).toEqual([false]);
  });

  it("reports that stop after the zstd window: the trial falls back to the transport's measure", () => {
    const decisions: ProbeDecision[] = [];
    const probe = new LinkProbe({ cpu: cpu(2), onDecision: (d) => decisions.push(d) });
    probe.expectProgress();
    let reports = 0;
    const src: ModeSource = {
      get mode() {
        return probe.mode;
      },
      add: (s, l, w, n) => probe.add(s, l, w, n),
      progress: (at, p) => {
        if (decisions.length === 0 && reports++ < 1000) probe.progress(at, p);
      },
    };
    simulatePush({ ...base, importMiBs: { zstd: 300, raw: 300 } }, 300, src, AGENT_REPORTS);
    expect(decisions.map((d) => [d.mode, d.final, (d.raw ?? d.zstd).atAgent === true])).toEqual([
      ["raw", false, true],
      ["raw", true, false],
    ]);
  });

  it("a report before any byte moved, or repeated, or out of the blue on gRPC: no verdict from it", () => {
    const decisions: ProbeDecision[] = [];
    const grpc = new LinkProbe({ onDecision: (d) => decisions.push(d) });
    for (let t = 0; t < 10_000; t += 10)
      grpc.progress(t, { wireBytes: t * MiB, narBytes: 3 * t * MiB, waitedUs: 0 });
    expect(decisions).toEqual([]);
    const raw = new LinkProbe({ onDecision: (d) => decisions.push(d) });
    raw.expectProgress();
    for (let t = 0; t < 10_000; t += 10) raw.progress(t, { wireBytes: 0, narBytes: 0, waitedUs: 0 });
    raw.progress(10_000, { wireBytes: MiB, narBytes: 3 * MiB, waitedUs: 0 });
    raw.progress(20_000, { wireBytes: MiB, narBytes: 3 * MiB, waitedUs: 0 });
    expect(decisions).toEqual([]);
  });
});
