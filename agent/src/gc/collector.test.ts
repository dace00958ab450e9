// The collector over the deployer's REAL admission gate and a REAL nix-env profile. Nix's own
// GC is replaced: this machine's store is shared, and a real `nix-store --gc` here would delete
// other tests' paths (the lab scenarios run the real one inside a robot).
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentError } from "../errors.js";
import { DeployerLab, type Rig, SELF, until } from "../testing/deployer-rig.js";
import { Collector } from "./collector.js";
import { RootFence } from "./fence.js";
import { OutcomeLedger, outcomesFor } from "./outcomes.js";
import type { StoreGc, StoreGcResult, StoreGcRun } from "./store-gc.js";

/** Records every run; `block` keeps a run going until stop() (or finish()). */
class RecordingGc implements StoreGc {
  readonly runs: StoreGcRun[] = [];
  readonly stops: string[] = [];
  block = false;
  private end: ((r: StoreGcResult | Error) => void) | undefined;
  private startedWaiters: (() => void)[] = [];

  collect(run: StoreGcRun): Promise<StoreGcResult> {
    this.runs.push(run);
    for (const w of this.startedWaiters.splice(0)) w();
    if (!this.block) return Promise.resolve({ deletedPaths: 3, freedBytes: 4096 });
    return new Promise((resolve, reject) => {
      this.end = (r) => (r instanceof Error ? reject(r) : resolve(r));
    });
  }

  async stop(unit: string): Promise<void> {
    this.stops.push(unit);
    this.end?.(new AgentError("EXTERNAL_COMMAND_FAILED", "stopped by systemctl stop"));
  }

  started(): Promise<void> {
    if (this.runs.length > 0) return Promise.resolve();
    return new Promise((r) => this.startedWaiters.push(r));
  }
}

const lab = new DeployerLab();
beforeAll(() => lab.setup());
afterAll(() => lab.teardown());
const sys = (n: string) => lab.sys(n);

function collectorFor(r: Rig, gc: StoreGc, keepGenerations: number) {
  const ledger = new OutcomeLedger(r.stateDir);
  r.deployer.subscribe((rec) => {
    ledger.record(rec).catch(() => undefined);
  });
  const collector = new Collector({
    policy: { keepGenerations },
    profile: r.profile,
    facts: async () => {
      const gens = await r.profile.list();
      const latest = r.deployer.latest();
      return {
        generations: gens,
        current: gens.find((g) => g.current)?.number,
        bootedSystem: undefined,
        runningSystem: r.system.running,
        previous: latest?.previous.generation,
        held: new Set(),
        snapshotReferenced: new Set(),
        outcomes: outcomesFor(await ledger.read(), gens),
      };
    },
    storeGc: gc,
    fence: new RootFence(),
    gate: r.deployer,
    timeoutSeconds: 60,
    maxFreedBytes: undefined,
    now: () => Date.now(),
    log: pino({ level: "silent" }),
  });
  return { collector, ledger };
}

const numbers = async (r: Rig) => (await r.profile.list()).map((g) => g.number);

describe("Collector", () => {
  it("deletes a generation that failed though it is among the newest, then collects the store", async () => {
    const r = await lab.rig("gc-failed", { autoRollback: false });
    const gc = new RecordingGc();
    const { collector, ledger } = collectorFor(r, gc, 5);
    for (const s of ["sys-a", "sys-b", "sys-broken", "sys-a"]) {
      await until(r.deployer, (await r.deployer.activate(sys(s), "switch", SELF)).id);
    }
    expect(r.deployer.latest()?.state).toBe("succeeded");
    // Failed without a rollback (autoRollback off): generation 3 stayed in the profile.
    expect(await numbers(r)).toEqual([1, 2, 3, 4]);
    await expect.poll(async () => (await ledger.read()).get(3)?.outcome).toBe("failed");

    const dry = await collector.collect(true);
    expect(dry.removed).toEqual([{ number: 3, reason: "failed" }]);
    expect(await numbers(r)).toEqual([1, 2, 3, 4]);
    expect(gc.runs).toEqual([]);

    const report = await collector.collect(false);
    expect(report.removed).toEqual([{ number: 3, reason: "failed" }]);
    expect(report.freedBytes).toBe(4096);
    expect(await numbers(r)).toEqual([1, 2, 4]);
    expect(gc.runs).toHaveLength(1);
  });

  it("keeps the newest N and the previous generation, deletes the rest", async () => {
    const r = await lab.rig("gc-keep");
    const { collector } = collectorFor(r, new RecordingGc(), 1);
    for (const s of ["sys-a", "sys-b", "sys-a", "sys-b"]) {
      await until(r.deployer, (await r.deployer.activate(sys(s), "switch", SELF)).id);
    }
    const report = await collector.collect(false);
    expect(report.kept.map((k) => [k.number, k.reasons])).toEqual([
      [3, ["previous"]],
      [4, ["current", "running", "recent"]],
    ]);
    expect(await numbers(r)).toEqual([3, 4]);
  });

  it("is refused while a deployment runs, and deletes nothing", async () => {
    const r = await lab.rig("gc-refused");
    const gc = new RecordingGc();
    const { collector } = collectorFor(r, gc, 1);
    await until(r.deployer, (await r.deployer.activate(sys("sys-a"), "switch", SELF)).id);
    const d = await r.deployer.activate(sys("sys-b"), "switch", {});
    await until(r.deployer, d.id, "awaiting_confirmation");
    const before = await numbers(r);
    await expect(collector.collect(false)).rejects.toMatchObject({
      code: "FAILED_PRECONDITION",
      message: expect.stringMatching(/still running/),
    });
    expect(await numbers(r)).toEqual(before);
    expect(gc.runs).toEqual([]);
    await r.deployer.confirm(d.id);
  });

  it("a deployment arriving during a collection stops it and goes ahead", async () => {
    const r = await lab.rig("gc-preempt");
    const gc = new RecordingGc();
    gc.block = true;
    const { collector } = collectorFor(r, gc, 1);
    await until(r.deployer, (await r.deployer.activate(sys("sys-a"), "switch", SELF)).id);
    const collecting = collector.collect(false);
    await gc.started();
    const d = await r.deployer.activate(sys("sys-b"), "switch", SELF);
    expect(gc.stops).toEqual([gc.runs[0]?.unit]);
    expect((await until(r.deployer, d.id)).state).toBe("succeeded");
    expect((await collecting).freedBytes).toBe(0);
  });
});
