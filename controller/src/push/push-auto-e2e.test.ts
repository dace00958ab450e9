import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NixFixture } from "@ros-rollback/nix-core/testing";
import type { PathInfo, PushPathsRequest } from "@ros-rollback/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { computeClosure } from "../closure/compute-closure.js";
import type { ProbeDecision } from "./link-probe.js";
import { pushRequests } from "./push-requests.js";

// pushRequests with the agent's reports (raw channel version 2): the real stream, zstd and store,
// the probe measuring at the agent's end. The agent here consumes each message as it is written.

let fx: NixFixture;
let infos: PathInfo[];
const signal = () => AbortSignal.timeout(30_000);
const MiB = 1024 * 1024;

beforeAll(async () => {
  fx = await NixFixture.create();
  const dir = mkdtempSync(join(tmpdir(), "rr-hex-"));
  infos = [];
  for (const name of ["a", "b", "c"]) {
    writeFileSync(join(dir, name), randomBytes(2 * MiB).toString("hex"));
    infos.push(...(await computeClosure(await fx.add(join(dir, name)), signal(), nixOpts())));
  }
  rmSync(dir, { recursive: true, force: true });
}, 60_000);
afterAll(async () => {
  await fx.cleanup();
});
const nixOpts = () => ({ storeUri: fx.sourceStore, env: fx.env });

/** A machine whose CPU times move `idle` of 4 cores idle per reading. */
const fakeCpu = (idle: number) => {
  let t = 0;
  return () => {
    t += 10;
    return { idleMs: t * idle, totalMs: t * 4, cores: 4 };
  };
};

/**
 * The transport waits `sourceMs` for each message (the stream reads the clock three times per
 * message), the link holds each `linkMs`; the agent's reports read it too, without counting.
 */
async function push(o: {
  sourceMs: number;
  linkMs: number;
  idle: number;
  reports: boolean;
  /** Of its time, how much the agent's import waits for the network. */
  starved: number;
}) {
  let calls = 0;
  const clock = { t: 0, quiet: false };
  const now = () => {
    if (!clock.quiet && calls++ % 3 === 1) clock.t += o.sourceMs;
    return clock.t;
  };
  const decisions: ProbeDecision[] = [];
  let narSent = 0;
  const stream = pushRequests(
    infos,
    {
      compression: "auto",
      nix: nixOpts(),
      now,
      onProgress: (p) => {
        narSent = p.bytesSent;
      },
      linkProbe: {
        // Without reports: past a skip bigger than this push, never measured.
        skipWireBytes: 64 * MiB,
        e2eWireBytes: MiB,
        e2eTrialSkipWireBytes: 2 * MiB,
        e2eTrialWireBytes: MiB,
        e2eMinMs: 1,
        cpu: fakeCpu(o.idle),
        onDecision: (d) => decisions.push(d),
      },
    },
    signal(),
  );
  if (o.reports) stream.expectAgentProgress();
  const out: PushPathsRequest[] = [];
  let wire = 0;
  let reported = 0;
  let wireAtDecision: number | undefined;
  for await (const m of stream) {
    out.push(m);
    clock.t += o.linkMs;
    stream.written(m);
    if (m.item?.$case !== "chunk") continue;
    wire += m.item.value.data.length;
    if (wire - reported >= 256 * 1024) {
      reported = wire;
      clock.quiet = true;
      stream.agentProgress({ wireBytes: wire, narBytes: narSent, waitedUs: clock.t * 1000 * o.starved });
      clock.quiet = false;
    }
    if (decisions.length > 0) wireAtDecision ??= wire;
  }
  return { decisions, wireAtDecision, out };
}

describe("auto with the agent's reports, through pushRequests", () => {
  it("a slow link: zstd to the end, decided at the agent's end within a few MiB", async () => {
    // ~1-3 MiB/s of wire (a chunk per 100 ms): below FAST_WIRE_BYTES_PER_SECOND.
    const r = await push({ sourceMs: 0, linkMs: 100, idle: 2, reports: true, starved: 0.9 });
    expect(r.decisions.map((d) => [d.mode, d.final, d.zstd.atAgent])).toEqual([["zstd", true, true]]);
    expect(r.wireAtDecision).toBeLessThan(3 * MiB);
  });

  it("data waits for the transport, but the agent's import hardly waited for the network: uncompressed", async () => {
    const r = await push({ sourceMs: 0, linkMs: 10, idle: 2, reports: true, starved: 0.1 });
    expect(r.decisions.map((d) => [d.mode, d.final, d.zstd.atAgent])).toEqual([["raw", true, true]]);
    expect(r.wireAtDecision).toBeLessThan(3 * MiB);
  });

  it("a link-bound zstd this fast may be a busy robot: the uncompressed trial, at the agent's end", async () => {
    const r = await push({ sourceMs: 0, linkMs: 10, idle: 2, reports: true, starved: 0.9 });
    expect(r.decisions.map((d) => [d.mode, d.final, d.zstd.atAgent])[0]).toEqual(["raw", false, true]);
  });

  it("a fast link on a busy machine: uncompressed from a few MiB on, judged on the agent's rate", async () => {
    const r = await push({ sourceMs: 1, linkMs: 0, idle: 0.2, reports: true, starved: 0.9 });
    expect(r.decisions.map((d) => [d.mode, d.final, d.zstd.atAgent])).toEqual([["raw", true, true]]);
    expect(r.wireAtDecision).toBeLessThan(3 * MiB);
  });

  it("the same push without reports (gRPC, or a version 1 agent): the transport's measure, here never taken", async () => {
    const r = await push({ sourceMs: 1, linkMs: 0, idle: 0.2, reports: false, starved: 0.9 });
    expect(r.decisions).toEqual([]);
  });
});
