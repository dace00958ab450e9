// An agent killed while its deployment's data was being captured, migrated, staged or restored:
// on start it finishes the job from the record (real directories, fake switch).
import { existsSync } from "node:fs";
import { mkdir, readdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stagedPath } from "../data/store.js";
import { until } from "../testing/deployer-rig.js";
import { FakeHealth } from "../testing/fakes.js";
import type { DeploymentRecord } from "./record.js";
import { digest, run, useDataLab } from "./testing/data-rig.js";

const { lab, sys, dataRig } = useDataLab();

describe("data rolls back with the generation: an agent killed mid-way (real directories, fake switch)", () => {
  it("an agent killed mid-capture redoes the capture on start (a partial copy is discarded)", async () => {
    const r = await dataRig("crash-snap");
    await run(r, sys("sys-a"));
    const before = await digest(r.db);
    const planned = await r.data.plan("d-crash-snap", [{ path: r.db, units: ["db.service"] }]);
    const [p] = planned;
    if (p === undefined) throw new Error("no plan");
    // What a SIGKILL in the middle of `cp` leaves: a partial copy beside the location.
    await mkdir(`${p.location}.partial`, { recursive: true });
    await writeFile(`${p.location}.partial/schema`, "garbage");
    const record: DeploymentRecord = {
      ...(r.deployer.latest() as DeploymentRecord),
      id: "d-crash-snap",
      storePath: sys("v2"),
      state: "snapshotting",
      generation: undefined,
      previous: { generation: 1, storePath: sys("sys-a"), runningSystem: sys("sys-a") },
      snapshots: planned,
      restores: [],
      migrationStartedAt: undefined,
      history: [],
    };
    await r.records.save(record);
    const again = await lab.rig("crash-snap", { data: [{ path: r.db, units: ["db.service"] }] });
    const done = await until(again.deployer, "d-crash-snap", undefined, 30_000);
    expect(done.state).toBe("succeeded");
    expect(await digest(p.location)).toEqual(before);
    expect(existsSync(`${p.location}.partial`)).toBe(false);
  });

  it("an agent killed mid-restore (directory moved aside, copy staged) completes the restore on start", async () => {
    const r = await dataRig("crash-restore");
    await run(r, sys("sys-a"));
    const before = await digest(r.db);
    r.health.evaluateVerdicts = [false];
    r.health.evaluations = 0;
    const failed = await run(r, sys("v2"));
    expect(await digest(r.db)).toEqual(before);
    // Rebuild the moment of the kill: the migrated data renamed aside, the staged copy not yet swapped in.
    const id = "d-crash-restore";
    const [snap] = await r.data.plan(id, [{ path: r.db, units: ["db.service"] }]);
    if (snap === undefined) throw new Error("no plan");
    const captured = await r.data.capture(snap, new AbortController().signal);
    await writeFile(join(r.db, "schema"), "2\n");
    await r.data.stage(captured, id, new AbortController().signal);
    await rename(r.db, `${r.db}.rr-aside-${id}`);
    expect(existsSync(stagedPath(r.db, id))).toBe(true);
    const record: DeploymentRecord = {
      ...failed,
      id,
      state: "restoring",
      snapshots: [captured],
      restores: [{ ...captured, state: "swapping" }],
      history: [],
    };
    await r.records.save(record);
    const again = await lab.rig("crash-restore", {
      data: [{ path: r.db, units: ["db.service"] }],
      health: new FakeHealth([true]),
    });
    const done = await until(again.deployer, id, undefined, 30_000);
    expect(done.state).toBe("rolled_back");
    expect(done.restores).toMatchObject([{ state: "restored" }]);
    expect(await digest(r.db)).toEqual(before);
    expect((await readdir(join(r.db, ".."))).filter((n) => n.startsWith("db."))).toEqual([]);
  });

  it("an agent killed while staging redoes the staging from the snapshot", async () => {
    const r = await dataRig("crash-stage");
    await run(r, sys("sys-a"));
    const before = await digest(r.db);
    const id = "d-crash-stage";
    const [snap] = await r.data.plan(id, [{ path: r.db, units: ["db.service"] }]);
    if (snap === undefined) throw new Error("no plan");
    const captured = await r.data.capture(snap, new AbortController().signal);
    await writeFile(join(r.db, "schema"), "2\n");
    // A half-written staged copy.
    await mkdir(stagedPath(r.db, id));
    await writeFile(join(stagedPath(r.db, id), "schema"), "tor");
    const record: DeploymentRecord = {
      ...(r.deployer.latest() as DeploymentRecord),
      id,
      state: "restoring",
      storePath: sys("sys-b"),
      previous: { generation: 1, storePath: sys("sys-a"), runningSystem: sys("sys-a") },
      snapshots: [captured],
      restores: [{ ...captured, state: "staging" }],
      history: [],
    };
    await r.records.save(record);
    const again = await lab.rig("crash-stage", { data: [{ path: r.db, units: ["db.service"] }] });
    expect((await until(again.deployer, id, undefined, 30_000)).state).toBe("rolled_back");
    expect(await digest(r.db)).toEqual(before);
  });

  it("an agent killed while the migration hook ran restores the data and rolls back (the outcome is unknown)", async () => {
    const r = await dataRig("crash-migrate");
    await run(r, sys("sys-a"));
    const before = await digest(r.db);
    const id = "d-crash-migrate";
    const [snap] = await r.data.plan(id, [{ path: r.db, units: ["db.service"] }]);
    if (snap === undefined) throw new Error("no plan");
    const captured = await r.data.capture(snap, new AbortController().signal);
    await writeFile(join(r.db, "schema"), "half-migrated\n");
    await r.records.save({
      ...(r.deployer.latest() as DeploymentRecord),
      id,
      state: "migrating",
      storePath: sys("v2"),
      generation: undefined,
      previous: { generation: 1, storePath: sys("sys-a"), runningSystem: sys("sys-a") },
      snapshots: [captured],
      restores: [],
      migrationStartedAt: Date.now(),
      history: [],
    });
    const again = await lab.rig("crash-migrate", { data: [{ path: r.db, units: ["db.service"] }] });
    const done = await until(again.deployer, id, undefined, 30_000);
    expect(done.state).toBe("rolled_back");
    expect(done.history[0]?.message).toMatch(/stopped while the migration hook ran/);
    expect(await digest(r.db)).toEqual(before);
  });
});
