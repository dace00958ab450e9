import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeployerLab, type Rig, type RigOptions, SELF, until } from "../testing/deployer-rig.js";
import type { Deployer } from "./deployer.js";
import type { DeploymentRecord } from "./record.js";

const lab = new DeployerLab();
beforeAll(() => lab.setup());
afterAll(() => lab.teardown());

const sys = (n: string) => lab.sys(n);
const finished = (d: Deployer, id: string) => until(d, id);
const rig = (name: string, o: RigOptions = {}): Promise<Rig> => lab.rig(name, o);

describe("Deployer (real nix-env profile, fake switch)", () => {
  it("switches, records the previous generation, and rolls back a failed switch to exactly it", async () => {
    const r = await rig("switch");
    const first = await finished(r.deployer, (await r.deployer.activate(sys("sys-a"), "switch", SELF)).id);
    expect(first).toMatchObject({ state: "succeeded", generation: 1, previous: { generation: 0 } });
    const second = await finished(r.deployer, (await r.deployer.activate(sys("sys-b"), "switch", SELF)).id);
    expect(second).toMatchObject({
      state: "succeeded",
      generation: 2,
      previous: { generation: 1, storePath: sys("sys-a") },
    });
    const states = r.seen.filter((x) => x.id === second.id).map((x) => x.state);
    expect(states.filter((s, i) => s !== states[i - 1])).toEqual([
      "pending",
      "profile_set",
      "activating",
      "activated",
      "checking_health",
      "succeeded",
    ]);

    const bad = await finished(r.deployer, (await r.deployer.activate(sys("sys-broken"), "switch", SELF)).id);
    expect(bad).toMatchObject({ state: "rolled_back", generation: 3, exitCode: 4 });
    // Back on generation 2, and the failed generation 3 is gone from the profile.
    const gens = await r.profile.list();
    expect(gens.map((g) => [g.number, g.current])).toEqual([
      [1, false],
      [2, true],
    ]);
    expect(r.system.running).toBe(sys("sys-b"));
    expect(r.switcher.started.at(-1)).toMatchObject({ systemPath: sys("sys-b"), action: "switch" });
    // Every transient unit was cleaned up.
    expect(r.switcher.cleaned.length).toBe(r.switcher.started.length);
  });

  it("TEST leaves the profile alone and rolls back to the running system", async () => {
    const r = await rig("test");
    await finished(r.deployer, (await r.deployer.activate(sys("sys-a"), "switch", SELF)).id);
    const t = await finished(r.deployer, (await r.deployer.activate(sys("sys-b"), "test", SELF)).id);
    expect(t).toMatchObject({ state: "succeeded", generation: undefined });
    expect((await r.profile.current())?.storePath).toBe(sys("sys-a"));
    const bad = await finished(r.deployer, (await r.deployer.activate(sys("sys-broken"), "test", SELF)).id);
    expect(bad.state).toBe("rolled_back");
    expect(r.switcher.started.at(-1)).toMatchObject({ systemPath: sys("sys-b"), action: "test" });
  });

  it("reports reboot-required as its own final state and keeps the generation", async () => {
    const r = await rig("reboot");
    const d = await finished(r.deployer, (await r.deployer.activate(sys("sys-reboot"), "switch", SELF)).id);
    expect(d).toMatchObject({ state: "reboot_required", exitCode: 100, generation: 1 });
  });

  it("leaves a failed first deployment as failed: there is nothing to return to", async () => {
    const r = await rig("first-fails");
    const d = await finished(r.deployer, (await r.deployer.activate(sys("sys-broken"), "switch", SELF)).id);
    expect(d.state).toBe("failed");
    expect(d.message).toMatch(/no previous system/);
  });

  it("does not roll back when autoRollback is off", async () => {
    const r = await rig("no-auto", { autoRollback: false });
    await finished(r.deployer, (await r.deployer.activate(sys("sys-a"), "switch", SELF)).id);
    const d = await finished(r.deployer, (await r.deployer.activate(sys("sys-broken"), "switch", SELF)).id);
    expect(d.state).toBe("failed");
    expect((await r.profile.current())?.storePath).toBe(sys("sys-broken"));
  });

  it("rolls back by hand to the recorded previous generation, not one down", async () => {
    const r = await rig("manual");
    await finished(r.deployer, (await r.deployer.activate(sys("sys-a"), "switch", SELF)).id);
    await finished(r.deployer, (await r.deployer.activate(sys("sys-b"), "switch", SELF)).id);
    await finished(r.deployer, (await r.deployer.activate(sys("sys-a"), "switch", SELF)).id); // gen 3 = sys-a, previous = 2
    const rb = await finished(r.deployer, (await r.deployer.rollback(undefined)).id);
    expect(rb).toMatchObject({ kind: "rollback", state: "succeeded", generation: 2 });
    expect((await r.profile.current())?.number).toBe(2);
    const to1 = await finished(r.deployer, (await r.deployer.rollback(1)).id);
    expect(to1.generation).toBe(1);
    expect(r.system.running).toBe(sys("sys-a"));
    await expect(r.deployer.rollback(1)).rejects.toThrow(/already current/);
    await expect(r.deployer.rollback(9)).rejects.toThrow(/generation 9 does not exist/);
  });

  it("still knows the recorded previous generation after a rolled-back deployment", async () => {
    const r = await rig("lineage");
    await finished(r.deployer, (await r.deployer.activate(sys("sys-a"), "switch", SELF)).id);
    await finished(r.deployer, (await r.deployer.activate(sys("sys-b"), "switch", SELF)).id);
    const bad = await finished(r.deployer, (await r.deployer.activate(sys("sys-broken"), "switch", SELF)).id);
    expect(bad.state).toBe("rolled_back");
    const rb = await finished(r.deployer, (await r.deployer.rollback(undefined)).id);
    expect(rb).toMatchObject({ state: "succeeded", generation: 1 });
    // Generation 1 was deployed onto an empty profile: nothing recorded before it.
    await expect(r.deployer.rollback(undefined)).rejects.toThrow(/no previous generation is recorded/);
  });

  it("refuses a second deployment while one runs, naming it", async () => {
    const r = await rig("busy");
    const first = await r.deployer.activate(sys("sys-a"), "switch", SELF);
    await expect(r.deployer.activate(sys("sys-b"), "switch", SELF)).rejects.toThrow(new RegExp(first.id));
    await finished(r.deployer, first.id);
    r.system.lockHeld = true;
    await expect(r.deployer.activate(sys("sys-b"), "switch", SELF)).rejects.toThrow(
      /switch-to-configuration.lock/,
    );
  });

  it("checks the store path beside the switch lock, and still refuses on the lock first", async () => {
    const r = await rig("reads-early");
    let asked = () => {};
    const systemAsked = new Promise<void>((resolve) => {
      asked = resolve;
    });
    const assertSystem = r.system.assertSystem.bind(r.system);
    r.system.assertSystem = (path) => {
      asked();
      return assertSystem(path);
    };
    // The lock check answers only once the path is being checked: one after the other, never.
    r.system.switchLockHeld = async () => {
      await systemAsked;
      return false;
    };
    const d = await finished(r.deployer, (await r.deployer.activate(sys("sys-a"), "switch", SELF)).id);
    expect(d.state).toBe("succeeded");
    // Both refusals due: the lock's, as when the path was checked only after it.
    r.system.switchLockHeld = async () => true;
    await expect(r.deployer.activate("/nix/store/not-a-system", "switch", SELF)).rejects.toThrow(
      /switch-to-configuration.lock/,
    );
  });

  it("resumes a deployment persisted mid-way by an agent that died", async () => {
    const r = await rig("resume");
    await finished(r.deployer, (await r.deployer.activate(sys("sys-a"), "switch", SELF)).id);
    // The record an agent leaves when it dies right after persisting "activating".
    const record: DeploymentRecord = {
      ...(r.deployer.latest() as DeploymentRecord),
      id: "d-crashed",
      storePath: sys("sys-b"),
      state: "profile_set",
      generation: 2,
      previous: { generation: 1, storePath: sys("sys-a"), runningSystem: sys("sys-a") },
    };
    await r.profile.set(sys("sys-b"));
    await r.records.save(record);
    const again = await rig("resume");
    const done = await finished(again.deployer, "d-crashed");
    expect(done.state).toBe("succeeded");
    expect(again.system.running).toBe(sys("sys-b"));
  });
});
