import { describe, expect, it } from "vitest";
import {
  describeDecision,
  LinkProbe,
  linkBound,
  narRate,
  type PipelineMeasure,
  PROBE_SKIP_WIRE_BYTES,
  PROBE_WIRE_BYTES,
  type ProbeDecision,
  SPARE_CORES,
  TRIAL_SKIP_WIRE_BYTES,
  TRIAL_WIRE_BYTES,
  zstdWinsTrial,
} from "./link-probe.js";

const MiB = 1024 * 1024;
const measure = (m: Partial<PipelineMeasure>): PipelineMeasure => ({
  waitedForSourceMs: 0,
  waitedForLinkMs: 0,
  wireBytes: MiB,
  narBytes: MiB,
  ms: 1,
  ...m,
});

describe("linkBound", () => {
  it.each([
    [0, 500, true], // compressed output waited for the link: compressing pays
    [100, 100, true],
    [101, 100, false], // the link took more than zstd made: worth a trial
    [10, 0, false],
    [0, 0, false], // nothing waited anywhere: try uncompressed
  ])("waited %d ms for data, %d ms for the link: %s", (source, link, out) => {
    expect(linkBound(measure({ waitedForSourceMs: source, waitedForLinkMs: link }))).toBe(out);
  });
});

describe("zstdWinsTrial", () => {
  it.each([
    [300, 100, true], // zstd moved 3 MiB of NAR per ms against 1
    [111, 100, true],
    [110, 100, false], // within the margin: uncompressed (it spares both ends' CPU)
    [100, 100, false],
    [50, 100, false],
  ])("zstd %d, uncompressed %d NAR bytes per ms: zstd again = %s", (z, r, out) => {
    expect(zstdWinsTrial(measure({ narBytes: z, ms: 1 }), measure({ narBytes: r, ms: 1 }))).toBe(out);
  });

  it("a phase measured over no time moves nothing (no division by zero)", () => {
    expect(narRate(measure({ ms: 0 }))).toBe(0);
    expect(zstdWinsTrial(measure({ ms: 0 }), measure({ narBytes: 1, ms: 1 }))).toBe(false);
    expect(zstdWinsTrial(measure({ narBytes: 1, ms: 1 }), measure({ ms: 0 }))).toBe(true);
  });
});

/** Feeds 1 MiB messages until `bytes` of wire went through. */
function feed(probe: LinkProbe, bytes: number, sourceMs: number, linkMs: number, narPerWire: number): void {
  for (let sent = 0; sent < bytes; sent += MiB) probe.add(sourceMs, linkMs, MiB, MiB * narPerWire);
}

/** CPU times that move `idle` cores of 2 idle per reading (10 ms per reading); undefined: no reading. */
function fakeCpu(idle: number | undefined) {
  let t = 0;
  if (idle === undefined) return undefined;
  return () => {
    t += 10;
    return { idleMs: t * (idle / 2), totalMs: t, cores: 2 };
  };
}

function probeWithLog(idle: number | undefined = 2) {
  const decisions: ProbeDecision[] = [];
  const cpu = fakeCpu(idle);
  const probe = new LinkProbe({
    onDecision: (d) => decisions.push(d),
    ...(cpu === undefined ? {} : { cpu }),
  });
  return { probe, decisions };
}

describe("LinkProbe", () => {
  it("skips the first window, then a link-bound zstd phase decides zstd for good", () => {
    const { probe, decisions } = probeWithLog();
    feed(probe, PROBE_SKIP_WIRE_BYTES, 1000, 0, 3); // the window fills at local speed: not counted
    expect(decisions).toEqual([]);
    feed(probe, PROBE_WIRE_BYTES, 1, 9, 3);
    expect(probe.mode).toBe("zstd");
    expect(decisions).toEqual([
      {
        mode: "zstd",
        final: true,
        zstd: {
          waitedForSourceMs: PROBE_WIRE_BYTES / MiB,
          waitedForLinkMs: (9 * PROBE_WIRE_BYTES) / MiB,
          wireBytes: PROBE_WIRE_BYTES,
          narBytes: 3 * PROBE_WIRE_BYTES,
          ms: (10 * PROBE_WIRE_BYTES) / MiB,
          spareCores: 2,
        },
      },
    ]);
    feed(probe, 64 * MiB, 1000, 0, 1); // decided: later messages change nothing
    expect(decisions).toHaveLength(1);
    expect(probe.mode).toBe("zstd");
  });

  it("zstd-bound: an uncompressed trial, kept when it moves more NAR per second", () => {
    const { probe, decisions } = probeWithLog();
    feed(probe, PROBE_SKIP_WIRE_BYTES + PROBE_WIRE_BYTES, 10, 0, 3); // 3 MiB of NAR per 10 ms
    expect(probe.mode).toBe("raw");
    expect(decisions.map((d) => [d.mode, d.final])).toEqual([["raw", false]]);
    feed(probe, TRIAL_SKIP_WIRE_BYTES, 1000, 1000, 1); // what was queued before the switch: not counted
    feed(probe, TRIAL_WIRE_BYTES - MiB, 2, 1, 1); // 1 MiB per 3 ms
    expect(decisions).toHaveLength(1); // one message short of the trial
    feed(probe, MiB, 2, 1, 1);
    expect(decisions.map((d) => [d.mode, d.final])).toEqual([
      ["raw", false],
      ["raw", true],
    ]);
    expect(decisions[1]?.raw).toEqual({
      waitedForSourceMs: (2 * TRIAL_WIRE_BYTES) / MiB,
      waitedForLinkMs: TRIAL_WIRE_BYTES / MiB,
      wireBytes: TRIAL_WIRE_BYTES,
      narBytes: TRIAL_WIRE_BYTES,
      ms: (3 * TRIAL_WIRE_BYTES) / MiB,
    });
    expect(describeDecision(decisions[1] as ProbeDecision)).toBe(
      "uncompressed: it moved 333 MiB/s of NAR, zstd 300 MiB/s of NAR",
    );
  });

  it("zstd-bound, but the link cannot take the data uncompressed: back to zstd for good", () => {
    const { probe, decisions } = probeWithLog();
    feed(probe, PROBE_SKIP_WIRE_BYTES + PROBE_WIRE_BYTES, 10, 0, 3);
    feed(probe, TRIAL_SKIP_WIRE_BYTES + TRIAL_WIRE_BYTES, 0, 8, 1); // 1 MiB per 8 ms
    expect(probe.mode).toBe("zstd");
    expect(decisions.map((d) => [d.mode, d.final])).toEqual([
      ["raw", false],
      ["zstd", true],
    ]);
    expect(describeDecision(decisions[1] as ProbeDecision)).toBe(
      "zstd again: it moved 300 MiB/s of NAR, uncompressed 125 MiB/s of NAR",
    );
    feed(probe, 64 * MiB, 0, 0, 1);
    expect(decisions).toHaveLength(2);
  });

  it.each([
    [0, "raw", true],
    [SPARE_CORES - 0.01, "raw", true], // zstd's CPU came from the rest of the push: uncompressed, no trial
    [SPARE_CORES, "raw", false], // a core to spare: the trial decides
    [2, "raw", false],
    [undefined, "raw", false], // no CPU reading: the trial decides
  ])("zstd-bound with %s cores idle: %s, final %s", (idle, mode, final) => {
    const { probe, decisions } = probeWithLog(idle);
    feed(probe, PROBE_SKIP_WIRE_BYTES + PROBE_WIRE_BYTES, 10, 0, 3);
    expect(decisions.map((d) => [d.mode, d.final])).toEqual([[mode, final]]);
    if (idle !== undefined) expect(decisions[0]?.zstd.spareCores).toBeCloseTo(idle);
  });

  it("a link-bound zstd stays zstd however busy the machine", () => {
    const { probe, decisions } = probeWithLog(0);
    feed(probe, PROBE_SKIP_WIRE_BYTES + PROBE_WIRE_BYTES, 1, 9, 3);
    expect(decisions.map((d) => [d.mode, d.final])).toEqual([["zstd", true]]);
  });

  it("a clock that did not tick gives no CPU verdict: the trial decides", () => {
    const decisions: ProbeDecision[] = [];
    const probe = new LinkProbe({
      onDecision: (d) => decisions.push(d),
      cpu: () => ({ idleMs: 5, totalMs: 10, cores: 2 }),
    });
    feed(probe, PROBE_SKIP_WIRE_BYTES + PROBE_WIRE_BYTES, 10, 0, 3);
    expect(decisions.map((d) => [d.mode, d.final, d.zstd.spareCores])).toEqual([["raw", false, undefined]]);
  });

  it("zstd's NAR per window is the phase's ratio: NAR counted into zstd before its output shows is not lost", () => {
    const { probe, decisions } = probeWithLog();
    // zstd took NAR ahead of its output: the skip's messages carry 4× their wire, the window's only 1×.
    feed(probe, PROBE_SKIP_WIRE_BYTES, 10, 0, 4);
    feed(probe, PROBE_WIRE_BYTES, 10, 0, 1);
    const ratio = (4 * PROBE_SKIP_WIRE_BYTES + PROBE_WIRE_BYTES) / (PROBE_SKIP_WIRE_BYTES + PROBE_WIRE_BYTES);
    expect(decisions[0]?.zstd.narBytes).toBeCloseTo(PROBE_WIRE_BYTES * ratio);
    expect(decisions[0]?.zstd.wireBytes).toBe(PROBE_WIRE_BYTES);
  });

  it("a push shorter than the skip is never measured: zstd throughout", () => {
    const { probe, decisions } = probeWithLog();
    feed(probe, PROBE_SKIP_WIRE_BYTES, 100, 0, 3);
    expect(probe.mode).toBe("zstd");
    expect(decisions).toEqual([]);
  });

  it("the log line says what it saw", () => {
    expect(
      describeDecision({
        mode: "raw",
        final: true,
        zstd: measure({ narBytes: 3 * MiB, ms: 10, spareCores: 0.04 }),
      }),
    ).toBe(
      "uncompressed: the link takes more than zstd makes (300 MiB/s of NAR) and zstd had no core to spare (0.0 idle)",
    );
    const zstd = measure({ waitedForSourceMs: 12.4, waitedForLinkMs: 30.6 });
    expect(describeDecision({ mode: "zstd", final: true, zstd })).toBe(
      "zstd: the link is the bottleneck (the transport waited 12 ms for data, data 31 ms for the transport)",
    );
    expect(
      describeDecision({ mode: "raw", final: false, zstd: measure({ narBytes: 3 * MiB, ms: 10 }) }),
    ).toBe(
      "trying uncompressed: the link takes more than zstd makes (300 MiB/s of NAR; the transport waited 0 ms for data, data 0 ms for the transport)",
    );
  });
});

describe("a link-bound zstd phase measured at the agent", () => {
  /** zstd at `wireMiBs` over a link that is the bottleneck, the robot's import starved 80 % of the time. */
  function linkBoundAtAgent(wireMiBs: number, idleCores: number) {
    const decisions: ProbeDecision[] = [];
    const cpu = fakeCpu(idleCores);
    const probe = new LinkProbe({
      ...(cpu === undefined ? {} : { cpu }),
      onDecision: (d) => decisions.push(d),
    });
    probe.expectProgress();
    const step = 10;
    const wire = (wireMiBs * MiB * step) / 1000;
    let sent = 0;
    for (let t = step; t <= 5000 && decisions.length === 0; t += step) {
      probe.add(0, step, wire, 3 * wire);
      sent += wire;
      probe.progress(t, { wireBytes: sent, narBytes: 3 * sent, waitedUs: t * 800 });
    }
    return decisions.map((d) => [d.mode, d.final]);
  }

  it("on a slow link: zstd for good", () => {
    expect(linkBoundAtAgent(2.5, 0.1)).toEqual([["zstd", true]]);
    expect(linkBoundAtAgent(2.5, 2)).toEqual([["zstd", true]]);
  });

  it("this fast, the receiver may be the bottleneck (a busy robot): the uncompressed trial decides", () => {
    expect(linkBoundAtAgent(16, 0.1)).toEqual([["raw", false]]);
    expect(linkBoundAtAgent(16, 2)).toEqual([["raw", false]]);
  });
});
