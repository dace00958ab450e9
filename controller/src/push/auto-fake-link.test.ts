import { randomBytes } from "node:crypto";
import { Compression } from "@ros-rollback/proto";
import { describe, expect, it } from "vitest";
import { type LinkModel, simulatePush } from "../testing/fake-link.js";
import { chooseCompression, sampleRatio } from "./compress-choice.js";
import type { CpuTimes } from "./cpu-idle.js";
import { LinkProbe, type ProbeDecision } from "./link-probe.js";

/**
 * `--compress auto` against a simulated throttled link (testing/fake-link.ts):
 * the real LinkProbe, told what push-requests.ts would measure, with the
 * pipeline's buffers in the way. Rates from the lab host (zstd -3 ~110 MiB/s
 * of NAR while the push runs, binaries to 37 %, 12 MiB buffered).
 */
const base: LinkModel = {
  zstdMiBs: 110,
  ratio: 0.37,
  sourceMiBs: 300,
  linkMiBs: 1000,
  importMiBs: { zstd: 200, raw: 200 },
  bufferMiB: 12,
};

/** CPU times with `idle` of 4 cores idle, 10 ms per reading. */
const cpu = (idle: number) => {
  let t = 0;
  return (): CpuTimes => {
    t += 10;
    return { idleMs: t * (idle / 4), totalMs: t, cores: 4 };
  };
};

function run(model: LinkModel, narMiB: number, idleCores: number) {
  const decisions: ProbeDecision[] = [];
  const probe = new LinkProbe({ cpu: cpu(idleCores), onDecision: (d) => decisions.push(d) });
  const auto = simulatePush(model, narMiB, probe);
  const zstd = simulatePush(model, narMiB, { mode: "zstd" });
  const raw = simulatePush(model, narMiB, { mode: "raw" });
  return { auto, zstd, raw, best: Math.min(zstd, raw), steps: decisions.map((d) => [d.mode, d.final]) };
}

describe("auto on a fake link", () => {
  it("fast link, shared CPU (the lab's veth: zstd slows the import): uncompressed after the zstd window", () => {
    const lab = { ...base, importMiBs: { zstd: 64, raw: 75 } };
    const r = run(lab, 200, 0.1);
    expect(r.raw).toBeLessThan(r.zstd);
    expect(r.steps).toEqual([["raw", true]]);
    expect(r.auto).toBeLessThan(r.zstd);
    expect(r.auto).toBeLessThan(1.06 * r.best);
  });

  it("fast link, a core to spare: the trial shows uncompressed moves more", () => {
    const r = run({ ...base, importMiBs: { zstd: 300, raw: 300 } }, 500, 2);
    expect(r.steps).toEqual([
      ["raw", false],
      ["raw", true],
    ]);
    expect(r.auto).toBeLessThan(1.3 * r.best); // the zstd window before any verdict costs a 500 MiB push this much
    expect(r.auto).toBeLessThan(0.7 * r.zstd);
  });

  it("slow link (20 Mbit/s): zstd to the end, whatever the CPU", () => {
    for (const idle of [0, 2]) {
      const r = run({ ...base, linkMiBs: 2.4 }, 200, idle);
      expect(r.steps).toEqual([["zstd", true]]);
      expect(r.auto).toBe(r.zstd);
      expect(r.auto).toBeLessThan(0.4 * r.raw);
    }
  });

  it("slow link, a push smaller than the buffers: never measured, zstd throughout", () => {
    const r = run({ ...base, linkMiBs: 2.4 }, 32, 2);
    expect(r.steps).toEqual([]);
    expect(r.auto).toBe(r.zstd);
  });

  it("medium link (60 MiB/s: more than zstd's 41 MiB/s of output, less than its 110 of NAR): zstd wins the trial", () => {
    const r = run({ ...base, linkMiBs: 60 }, 200, 2);
    expect(r.zstd).toBeLessThan(0.6 * r.raw);
    expect(r.steps).toEqual([
      ["raw", false],
      ["zstd", true],
    ]);
    expect(r.auto).toBeLessThan(1.05 * r.zstd);
  });

  it("the same medium link read with the old trial (2 MiB past the switch): the buffers filling looked like a fast link", () => {
    const decisions: ProbeDecision[] = [];
    const old = new LinkProbe({
      cpu: cpu(2),
      trialSkipWireBytes: 2 * 1024 * 1024,
      onDecision: (d) => decisions.push(d),
    });
    const model = { ...base, linkMiBs: 60 };
    const auto = simulatePush(model, 200, old);
    expect(decisions.at(-1)?.mode).toBe("raw");
    expect(auto).toBeGreaterThan(1.4 * simulatePush(model, 200, { mode: "zstd" }));
  });

  it("incompressible data: uncompressed from the first byte (the sample), and the probe would agree", () => {
    const sample = sampleRatio([randomBytes(1024 * 1024)]);
    expect(chooseCompression({ sampleRatio: sample.ratio, sampleBytes: sample.bytes }).compression).toBe(
      Compression.COMPRESSION_NONE,
    );
    const r = run({ ...base, ratio: 0.98, importMiBs: { zstd: 75, raw: 75 } }, 200, 0);
    expect(r.steps).toEqual([["raw", true]]);
    expect(r.auto).toBeLessThan(1.02 * r.best);
  });
});
