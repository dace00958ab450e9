// Data rolls back with the generation (real directories, fake switch): capture, migration,
// restore, retention. An agent killed mid-way: data-crash.test.ts.
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SELF, until } from "../testing/deployer-rig.js";
import { digest, run, states, useDataLab } from "./testing/data-rig.js";

const { lab, sys, dataRig } = useDataLab();

describe("data rolls back with the generation (real directories, fake switch)", () => {
  it("captures before the switch, runs the migration, keeps v2 when healthy", async () => {
    const r = await dataRig("migrate-ok");
    await run(r, sys("sys-a"));
    const done = await run(r, sys("v2"));
    expect(done.state).toBe("succeeded");
    expect(states(r, done.id)).toEqual([
      "pending",
      "snapshotting",
      "migrating",
      "prepared",
      "profile_set",
      "activating",
      "activated",
      "checking_health",
      "succeeded",
    ]);
    expect(await readFile(join(r.db, "schema"), "utf8")).toBe("2\n");
    const [snap] = done.snapshots ?? [];
    // This machine's /tmp (ext4) has no reflinks and no subvolumes: an honest full copy.
    expect(snap).toMatchObject({ path: r.db, method: "copy", state: "captured", units: ["db.service"] });
    expect(await readFile(join(snap?.location ?? "", "schema"), "utf8")).toBe("1\n");
    // Writers stopped before the capture, started again only after the switch.
    expect(r.units.calls.slice(-2)).toEqual(["stop db.service", "start db.service"]);
    expect(r.units.running.has("db.service")).toBe(true);
  });

  it("migrates, fails health, rolls back: the data is byte-identical to before", async () => {
    const r = await dataRig("migrate-unhealthy");
    await run(r, sys("sys-a"));
    const before = await digest(r.db);
    r.health.evaluateVerdicts = [false, true];
    r.health.evaluations = 0;
    const done = await run(r, sys("v2"));
    expect(done.state).toBe("rolled_back");
    expect(await digest(r.db)).toEqual(before);
    expect(states(r, done.id)).toContain("restoring");
    expect(states(r, done.id).slice(-3)).toEqual(["restoring", "rolling_back", "rolled_back"]);
    expect(done.restores).toMatchObject([{ path: r.db, state: "restored" }]);
    expect(done.message).toMatch(new RegExp(`; data restored: ${r.db}$`));
    expect(r.system.running).toBe(sys("sys-a"));
    // Nothing left beside the directory; the restored deployment's snapshots are deleted.
    expect((await readdir(join(r.db, ".."))).filter((n) => n.startsWith("db."))).toEqual([]);
    expect(existsSync(join(r.stateDir, "snapshots", done.id))).toBe(false);
  });

  it("a failing migration hook fails the deployment: rolled back, data restored", async () => {
    const r = await dataRig("migrate-fails");
    await run(r, sys("sys-a"));
    const before = await digest(r.db);
    const done = await run(r, sys("v2-failing"));
    expect(done.state).toBe("rolled_back");
    expect(done.history.map((h) => h.message).join("\n")).toMatch(
      /migration failed: .*exited 3: column exists/,
    );
    expect(await digest(r.db)).toEqual(before);
    // The profile never moved to the new system.
    expect((await r.profile.current())?.storePath).toBe(sys("sys-a"));
  });

  it("a migration hook over its time is killed and rolled back", async () => {
    const r = await dataRig("migrate-slow", { migrateTimeoutMs: 300 });
    await run(r, sys("sys-a"));
    const before = await digest(r.db);
    const done = await run(r, sys("v2-slow"));
    expect(done.state).toBe("rolled_back");
    expect(done.history.map((h) => h.message).join("\n")).toMatch(/did not finish within 0.3 s/);
    expect(await digest(r.db)).toEqual(before);
  });

  it("refuses a deployment whose snapshots do not fit, naming the numbers, changing nothing", async () => {
    const r = await dataRig("no-space", { reserveBytes: 2 ** 60 });
    const err = await r.deployer.activate(sys("v2"), "switch", SELF).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "RESOURCE_EXHAUSTED" });
    expect((err as Error).message).toMatch(/need .* bytes\).*free .* bytes\); nothing was changed/);
    expect(r.deployer.latest()).toBeUndefined();
    expect(await r.profile.current()).toBeUndefined();
    expect(await readdir(join(r.stateDir, "snapshots"))).toEqual([]);
    expect(await readFile(join(r.db, "schema"), "utf8")).toBe("1\n");
  });

  it("an operator rollback restores the undone deployment's data, capturing the current data first", async () => {
    const r = await dataRig("operator");
    await run(r, sys("sys-a"));
    const v1 = await digest(r.db);
    await run(r, sys("v2"));
    const v2 = await digest(r.db);
    const back = await until(r.deployer, (await r.deployer.rollback(undefined)).id, undefined, 30_000);
    expect(back).toMatchObject({ kind: "rollback", state: "succeeded", generation: 1 });
    expect(await digest(r.db)).toEqual(v1);
    expect(back.restores).toMatchObject([{ path: r.db, state: "restored" }]);
    // Nothing lost: the v2 data is kept in the rollback's own snapshot.
    const [mine] = back.snapshots ?? [];
    expect(await digest(mine?.location ?? "")).toEqual(v2);
    expect(states(r, back.id).slice(0, 4)).toEqual(["pending", "snapshotting", "restoring", "prepared"]);
  });

  it("keeps the snapshots of the last N confirmed deployments, deleting older ones", async () => {
    const r = await dataRig("retention", { keep: 1 });
    const a = await run(r, sys("sys-a"));
    const b = await run(r, sys("sys-b"));
    expect(b.state).toBe("succeeded");
    expect(await readdir(join(r.stateDir, "snapshots"))).toEqual([b.id]);
    expect(a.snapshots?.[0]?.state).toBe("captured");
  });

  it("captures what the system itself declares, and removes a directory that did not exist before", async () => {
    const r = await dataRig("declared");
    await run(r, sys("sys-a"));
    const maps = join(r.db, "..", "maps");
    const path = lab.addSystem("declares", {
      "ros-rollback/data.json": JSON.stringify([{ path: maps, units: ["mapper.service"] }]),
      "ros-rollback/migrate": `#!/bin/sh\nmkdir -p ${maps}\necho new > ${maps}/m\n`,
    });
    r.system.systems.add(path);
    r.health.evaluateVerdicts = [false];
    r.health.evaluations = 0;
    const done = await run(r, path);
    expect(done.snapshots?.map((s) => [s.path, s.absent])).toEqual([
      [r.db, false],
      [maps, true],
    ]);
    expect(done.state).toBe("rolled_back");
    expect(existsSync(maps)).toBe(false);
    expect(r.units.calls).toContain("stop mapper.service");
  });
});
