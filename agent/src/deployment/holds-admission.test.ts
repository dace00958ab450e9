// Holds in the one admission decision (real nix-env profile, real hold files, fake switch/health).
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Holds } from "../holds/holds.js";
import { HoldStore } from "../holds/store.js";
import { DeployerLab, SELF, until } from "../testing/deployer-rig.js";

const lab = new DeployerLab();
let tmp = "";
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "rr-held-"));
  await lab.setup();
});
afterAll(async () => {
  await lab.teardown();
  await rm(tmp, { recursive: true, force: true });
});
const sys = (n: string) => lab.sys(n);

function holdsIn(dir: string, refused: string[][] = []): { holds: Holds; store: HoldStore; fileDir: string } {
  const store = new HoldStore(join(dir, "state"), () => Date.now());
  const fileDir = join(dir, "holds");
  const holds = new Holds({
    store,
    dir: fileDir,
    conditions: [],
    conditionDeps: { unitState: async () => "inactive", ros: undefined },
    onRefused: (h) => refused.push(h.map((x) => x.name)),
  });
  return { holds, store, fileDir };
}

describe("a held robot", () => {
  it("refuses Activate and Rollback naming every hold, changes nothing, and deploys once released", async () => {
    const refused: string[][] = [];
    const { holds, store, fileDir } = holdsIn(join(tmp, "held"), refused);
    const r = await lab.rig("held", { holds });
    await until(r.deployer, (await r.deployer.activate(sys("sys-a"), "switch", SELF)).id);
    await until(r.deployer, (await r.deployer.activate(sys("sys-b"), "switch", SELF)).id);
    const before = {
      gens: await r.profile.list(),
      record: await r.records.load(),
      running: r.system.running,
    };

    await store.set("operator", "filming a demo", undefined);
    await mkdir(fileDir, { recursive: true });
    await writeFile(join(fileDir, "mission"), "executing waypoint 3\n");
    await expect(r.deployer.activate(sys("sys-a"), "switch", SELF)).rejects.toMatchObject({
      code: "HELD",
      message:
        'the robot is held: command hold "operator": filming a demo; file hold "mission": executing waypoint 3' +
        " (to go ahead anyway: --override-hold operator --override-hold mission)",
    });
    await expect(r.deployer.rollback(undefined)).rejects.toMatchObject({ code: "HELD" });
    expect(refused).toEqual([
      ["operator", "mission"],
      ["operator", "mission"],
    ]);
    expect({
      gens: await r.profile.list(),
      record: await r.records.load(),
      running: r.system.running,
    }).toEqual(before);

    await store.release("operator");
    await expect(r.deployer.activate(sys("sys-a"), "switch", SELF)).rejects.toThrow(/file hold "mission"/);
    await rm(join(fileDir, "mission"));
    const d = await r.deployer.activate(sys("sys-a"), "switch", SELF);
    expect((await until(r.deployer, d.id)).state).toBe("succeeded");
  });

  it("goes ahead despite exactly the holds named (Activate and Rollback) and records them", async () => {
    const { holds, store, fileDir } = holdsIn(join(tmp, "override"));
    const r = await lab.rig("held-override", { holds });
    await until(r.deployer, (await r.deployer.activate(sys("sys-a"), "switch", SELF)).id);
    await store.set("operator", "filming a demo", undefined);
    await mkdir(fileDir, { recursive: true });
    await writeFile(join(fileDir, "mission"), "executing waypoint 3\n");
    const before = await r.records.load();
    await expect(
      r.deployer.activate(sys("sys-b"), "switch", { ...SELF, overrideHolds: ["operator", "Mission"] }),
    ).rejects.toMatchObject({
      code: "HELD",
      message: expect.stringMatching(
        /^the robot is held: file hold "mission": [^;]*--override-hold mission\)$/,
      ),
    });
    expect(await r.records.load()).toEqual(before);
    const d = await r.deployer.activate(sys("sys-b"), "switch", {
      ...SELF,
      overrideHolds: ["operator", "mission"],
    });
    expect(d.overriddenHolds).toEqual(["operator", "mission"]);
    expect(await until(r.deployer, d.id)).toMatchObject({
      state: "succeeded",
      overriddenHolds: ["operator", "mission"],
    });
    await expect(r.deployer.rollback(undefined, { overrideHolds: ["operator"] })).rejects.toMatchObject({
      code: "HELD",
    });
    const back = await r.deployer.rollback(undefined, { overrideHolds: ["mission", "operator"] });
    expect((await until(r.deployer, back.id)).overriddenHolds).toEqual(["operator", "mission"]);
    expect(r.system.running).toBe(sys("sys-a"));
  });

  it("still rolls back by itself (magic rollback) when a hold is set after the switch", async () => {
    const { holds, store } = holdsIn(join(tmp, "magic"));
    const r = await lab.rig("held-magic", { holds });
    await until(r.deployer, (await r.deployer.activate(sys("sys-a"), "switch", SELF)).id);
    const d = await r.deployer.activate(sys("sys-b"), "switch", { confirmTimeoutSeconds: 1 });
    await until(r.deployer, d.id, "awaiting_confirmation");
    await store.set("mission", "started right after the switch", undefined);
    const done = await until(r.deployer, d.id);
    expect(done).toMatchObject({ state: "rolled_back", rollbackReason: "not_confirmed" });
    expect(r.system.running).toBe(sys("sys-a"));
    // The hold still refuses the controller.
    await expect(r.deployer.activate(sys("sys-b"), "switch", SELF)).rejects.toThrow(/command hold "mission"/);
  });
});
