// Issue 25: the unit report of deployments whose data step stops the writers (real nix-env profile,
// real data store and directories; the switch and systemd's InvocationIDs are fakes that follow
// what the agent stops and starts).
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeployerLab, type Rig, type RigOptions, SELF, until } from "../testing/deployer-rig.js";
import { FakeHealth } from "../testing/fakes.js";

const lab = new DeployerLab();
beforeAll(() => lab.setup());
afterAll(() => lab.teardown());
const sys = (n: string) => lab.sys(n);

const NONE = { stopped: [], started: [], restarted: [], reloaded: [] };

/** A rig whose data entry is written by db.service (and map.service), both running. */
async function writerRig(name: string, o: RigOptions = {}): Promise<Rig & { data: Rig["data"] }> {
  const r0 = await lab.rig(name, { data: [] });
  const db = join(r0.stateDir, "..", "db");
  await mkdir(db, { recursive: true });
  const r = await lab.rig(name, { data: [{ path: db, units: ["db.service", "map.service"] }], ...o });
  followUnits(r);
  r.switcher.invocationsNow = { "db.service": "d1", "map.service": "m1", "talker.service": "t1" };
  return r;
}

/** systemd as the fake units drive it: a stopped unit has no invocation, a started one a new one. */
function followUnits(r: Rig, cannotStart: readonly string[] = []): void {
  let n = 0;
  r.units.stop = async (units) => {
    for (const u of units) r.units.calls.push(`stop ${u}`);
    r.switcher.invocationsNow = Object.fromEntries(
      Object.entries(r.switcher.invocationsNow).filter(([u]) => !units.includes(u)),
    );
  };
  r.units.start = async (units) => {
    for (const u of units) {
      r.units.calls.push(`start ${u}`);
      if (cannotStart.includes(u)) throw new Error(`${u} not loaded`);
      if (r.switcher.invocationsNow[u] === undefined)
        r.switcher.invocationsNow = { ...r.switcher.invocationsNow, [u]: `${u}-${++n}` };
    }
  };
}

describe("unit report around the data step", () => {
  it("a writer running before the deployment and after it is restarted, though the switch said started", async () => {
    const r = await writerRig("restarted");
    // The switch finds db stopped (by the data step) and starts it; map it leaves to the agent.
    r.switcher.outputs.set(sys("sys-a"), "starting the following units: db.service");
    r.switcher.onSwitched = () => {
      r.switcher.invocationsNow = { ...r.switcher.invocationsNow, "db.service": "d2" };
    };
    const done = await until(r.deployer, (await r.deployer.activate(sys("sys-a"), "switch", SELF)).id);
    expect(done.state).toBe("succeeded");
    expect(r.units.calls).toContain("stop db.service");
    expect(done.unitChanges).toEqual({ ...NONE, restarted: ["db.service", "map.service"] });
    // How long they were stopped is noted for the next plan.
    const last = await r.data.stops.last();
    expect([...last.keys()].sort()).toEqual(["db.service", "map.service"]);
    expect(last.get("db.service")).toBeGreaterThanOrEqual(0);
  });

  it("a writer the new system drops is stopped, and the other writers still start", async () => {
    const r = await writerRig("dropped");
    followUnits(r, ["db.service"]);
    const done = await until(r.deployer, (await r.deployer.activate(sys("sys-a"), "switch", SELF)).id);
    expect(done.state).toBe("succeeded");
    expect(done.unitChanges).toEqual({ ...NONE, stopped: ["db.service"], restarted: ["map.service"] });
    expect(r.switcher.invocationsNow["map.service"]).toBeDefined();
  });

  it("a rollback that restores data reports the writers it stopped and started again as restarted", async () => {
    const r = await writerRig("rollback", { health: new FakeHealth([true, false]) });
    await until(r.deployer, (await r.deployer.activate(sys("sys-a"), "switch", SELF)).id);
    const done = await until(
      r.deployer,
      (await r.deployer.activate(sys("sys-b"), "switch", SELF)).id,
      undefined,
      15_000,
    );
    expect(done.state).toBe("rolled_back");
    expect(done.restores?.map((s) => s.state)).toEqual(["restored"]);
    // The previous system's switch says nothing of them; the agent stopped and started them.
    expect(done.rollbackUnitChanges).toEqual({ ...NONE, restarted: ["db.service", "map.service"] });
  });

  it("an agent restarted between the capture and the switch still compares with the units from before", async () => {
    const r = await writerRig("agent-restart");
    const entries = { data: [{ path: join(r.stateDir, "..", "db"), units: ["db.service", "map.service"] }] };
    const stop = r.units.stop.bind(r.units);
    let closing: Promise<void> | undefined;
    r.units.stop = async (units) => {
      await stop(units);
      closing ??= r.deployer.close();
    };
    r.switcher.onSwitched = () => {
      r.switcher.invocationsNow = { ...r.switcher.invocationsNow, "db.service": "d2", "map.service": "m2" };
    };
    const { id } = await r.deployer.activate(sys("sys-b"), "switch", SELF);
    for (let i = 0; closing === undefined && i < 500; i++) await new Promise((res) => setTimeout(res, 10));
    await closing;
    expect(r.switcher.started).toEqual([]);
    expect(r.switcher.invocationsNow["db.service"]).toBeUndefined();
    const again = await lab.rig("agent-restart", { ...entries, system: r.system, switcher: r.switcher });
    const done = await until(again.deployer, id, undefined, 15_000);
    expect(done.state).toBe("succeeded");
    expect(done.unitChanges).toEqual({ ...NONE, restarted: ["db.service", "map.service"] });
  });
});
