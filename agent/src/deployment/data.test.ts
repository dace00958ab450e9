import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stagedPath } from "../data/store.js";
import { DeployerLab, type Rig, type RigOptions, SELF, until } from "../testing/deployer-rig.js";
import { FakeHealth } from "../testing/fakes.js";
import type { DeploymentRecord } from "./record.js";

const lab = new DeployerLab();
const MIGRATE = `#!/bin/sh\nset -e\necho 2 > "$RR_TEST_DATA/schema"\necho migrated >> "$RR_TEST_DATA/rows"\n`;
beforeAll(async () => {
  await lab.setup();
  lab.addSystem("v2", { "ros-rollback/migrate": MIGRATE });
  lab.addSystem("v2-failing", { "ros-rollback/migrate": `${MIGRATE}echo 'column exists' >&2\nexit 3\n` });
  lab.addSystem("v2-slow", { "ros-rollback/migrate": "#!/bin/sh\nexec sleep 30\n" });
});
afterAll(() => lab.teardown());

const sys = (n: string) => lab.sys(n);

/** Every file under dir with its mode and bytes: equal digests mean byte-identical trees. */
async function digest(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string) => {
    for (const e of (await readdir(d, { withFileTypes: true })).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p, `${rel}${e.name}/`);
      else out.push(`${rel}${e.name}:${(await readFile(p)).toString("base64")}`);
    }
  };
  await walk(dir, "");
  return out;
}

interface DataRig extends Rig {
  db: string;
}

async function dataRig(name: string, o: RigOptions = {}): Promise<DataRig> {
  const r0 = await lab.rig(name, { data: [], ...o });
  const db = join(r0.stateDir, "..", "db");
  await mkdir(join(db, "tables"), { recursive: true });
  await writeFile(join(db, "schema"), "1\n");
  await writeFile(join(db, "rows"), "a\nb\n");
  await writeFile(join(db, "tables", "t1"), Buffer.from([0, 1, 2, 255]));
  process.env.RR_TEST_DATA = db;
  const r = await lab.rig(name, { data: [{ path: db, units: ["db.service"] }], ...o });
  return { ...r, db };
}

const run = async (r: Rig, path: string) =>
  until(r.deployer, (await r.deployer.activate(path, "switch", SELF)).id, undefined, 30_000);
const states = (r: Rig, id: string) =>
  r.seen
    .filter((x) => x.id === id)
    .map((x) => x.state)
    .filter((s, i, a) => s !== a[i - 1]);

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
