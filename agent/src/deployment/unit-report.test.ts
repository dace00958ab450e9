// The unit report of a deployment's switches (real nix-env profile, fake switch that "prints" and "restarts").
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeployerLab, SELF, until } from "../testing/deployer-rig.js";

const lab = new DeployerLab();
beforeAll(() => lab.setup());
afterAll(() => lab.teardown());
const sys = (n: string) => lab.sys(n);

describe("unit report", () => {
  it("records what the switch did, corrected by InvocationIDs, and what a rollback's switch did", async () => {
    const r = await lab.rig("units");
    await until(r.deployer, (await r.deployer.activate(sys("sys-a"), "switch", SELF)).id);
    r.switcher.invocationsNow = { "roscore.service": "r1", "talker.service": "t1", "listener.service": "l1" };
    // The output names talker only; systemd shows listener restarted too (by dependency).
    r.switcher.outputs.set(
      sys("sys-b"),
      "stopping the following units: talker.service\nstarting the following units: talker.service",
    );
    r.switcher.outputs.set(sys("sys-a"), "restarting the following units: talker.service");
    let n = 0;
    r.switcher.onSwitched = () => {
      n++;
      r.switcher.invocationsNow = {
        ...r.switcher.invocationsNow,
        "talker.service": `t${n + 1}`,
        "listener.service": `l${n + 1}`,
      };
    };
    const d = await r.deployer.activate(sys("sys-b"), "switch", { confirmTimeoutSeconds: 1 });
    const done = await until(r.deployer, d.id);
    expect(done.state).toBe("rolled_back");
    expect(done.unitChanges).toEqual({
      stopped: [],
      started: [],
      restarted: ["listener.service", "talker.service"],
      reloaded: [],
    });
    expect(done.rollbackUnitChanges).toEqual({
      stopped: [],
      started: [],
      restarted: ["listener.service", "talker.service"],
      reloaded: [],
    });
    // The snapshot is dropped once the report is made; roscore is in neither report.
    expect(done.unitsBefore).toBeUndefined();
    expect(JSON.stringify(await r.records.load())).not.toContain("roscore");
  });

  it("takes the units snapshot beside the admission's checks and switches with it", async () => {
    const r = await lab.rig("units-early");
    await until(r.deployer, (await r.deployer.activate(sys("sys-a"), "switch", SELF)).id);
    r.switcher.invocationsNow = { "talker.service": "t1" };
    let snapshotStarted = () => {};
    const started = new Promise<void>((resolve) => {
      snapshotStarted = resolve;
    });
    const invocations = r.switcher.invocations.bind(r.switcher);
    let calls = 0;
    r.switcher.invocations = () => {
      calls++;
      snapshotStarted();
      return invocations();
    };
    // The lock check answers only once the snapshot has started: taken after the checks, it never would.
    r.system.switchLockHeld = async () => {
      await started;
      return false;
    };
    r.switcher.onSwitched = () => {
      r.switcher.invocationsNow = { "talker.service": "t2" };
    };
    const done = await until(r.deployer, (await r.deployer.activate(sys("sys-b"), "switch", SELF)).id);
    expect(done.state).toBe("succeeded");
    expect(done.unitChanges?.restarted).toEqual(["talker.service"]);
    expect(calls).toBe(2); // at admission, and after the switch; none in between
  });
});
