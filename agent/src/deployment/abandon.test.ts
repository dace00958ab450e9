// Issue 24: a deploy that captured its data but could not set the profile (no migration ran) changed
// nothing: it ends `failed` straight from `prepared` with the writers started again, and the data
// left alone, instead of restoring the data and running the previous system's switch.
import { renameSync, writeFileSync } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeployerLab, SELF, until } from "../testing/deployer-rig.js";

const lab = new DeployerLab();
beforeAll(() => lab.setup());
afterAll(() => lab.teardown());

describe("a profile that cannot be set after the data capture", () => {
  it("ends failed from prepared, writers running, data and profile as they were", async () => {
    const r0 = await lab.rig("abandon");
    const db = join(r0.stateDir, "..", "db");
    await mkdir(db, { recursive: true });
    await writeFile(join(db, "rows"), "a\n");
    const r = await lab.rig("abandon", { data: [{ path: db, units: ["db.service"] }] });
    const first = await until(r.deployer, (await r.deployer.activate(lab.sys("sys-a"), "switch", SELF)).id);
    expect(first.state).toBe("succeeded");
    const before = await r.profile.current();

    // nix-env cannot set a profile whose directory is a file: sabotaged once the capture is done.
    const dir = join(r.stateDir, "..", "profile");
    const off = r.deployer.subscribe((x) => {
      if (x.state !== "migrating") return;
      off();
      // Synchronous, so it lands before the next step runs.
      renameSync(dir, `${dir}.aside`);
      writeFileSync(dir, "");
    });
    const id = (await r.deployer.activate(lab.sys("sys-b"), "switch", SELF)).id;
    const done = await until(r.deployer, id);
    await rm(dir);
    await rename(`${dir}.aside`, dir);

    const states = r.seen.filter((x) => x.id === id).map((x) => x.state);
    expect([...new Set(states)]).toEqual(["pending", "snapshotting", "migrating", "prepared", "failed"]);
    expect(done.message).toMatch(/no migration ran, the writers are started again: nothing was changed/);
    expect(r.units.calls.slice(-2)).toEqual(["stop db.service", "start db.service"]);
    expect(r.switcher.started.map((s) => s.systemPath)).not.toContain(lab.sys("sys-b"));
    expect(await readFile(join(db, "rows"), "utf8")).toBe("a\n");
    expect(await readdir(join(r.stateDir, "snapshots"))).not.toContain(id);
    expect((await r.profile.current())?.number).toBe(before?.number);
  });
});
