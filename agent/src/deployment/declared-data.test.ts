// Issue 24: a system's own data.json gets the config's rules, checked when its deploy is admitted:
// a refusal (INVALID_ARGUMENT, exit 1 at the controller) before the record, no writer stopped.
import { mkdir, symlink } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isAgentError } from "../errors.js";
import { DeployerLab, type Rig, SELF, until } from "../testing/deployer-rig.js";

const lab = new DeployerLab();
beforeAll(() => lab.setup());
afterAll(() => lab.teardown());

async function rigWithDb(name: string): Promise<Rig & { db: string }> {
  const r0 = await lab.rig(name);
  const db = join(r0.stateDir, "..", "db");
  await mkdir(db, { recursive: true });
  return { ...(await lab.rig(name, { data: [{ path: db, units: ["db.service"] }] })), db };
}

function declaring(name: string, entries: unknown): string {
  return lab.addSystem(name, { "ros-rollback/data.json": JSON.stringify(entries) });
}

describe("data a system declares", () => {
  it.each([
    [
      "the Nix store",
      () => [{ path: "/nix/store" }],
      /data\.json entry 0\.path "\/nix\/store" lies inside \/nix/,
    ],
    ["a directory inside the configured one", (db: string) => [{ path: join(db, "x") }], /nest/],
    ["a bad unit", (db: string) => [{ path: db, units: ["-x; rm -rf /"] }], /is not a systemd unit name/],
    ["a newline", (db: string) => [{ path: `${db}2\n` }], /holds a control character/],
    [
      "a symlink to the state directory",
      (db: string) => [{ path: join(db, "..", "link") }],
      /goes through a symbolic link: it is really .*state"/,
    ],
  ])("refuses %s before the record, naming data.json", async (name, entries, want) => {
    const r = await rigWithDb(`refuse-${name.replace(/\W/g, "-")}`);
    await mkdir(r.stateDir, { recursive: true });
    await symlink(r.stateDir, join(r.db, "..", "link"));
    const path = declaring(`bad-${name.replace(/\W/g, "-")}`, entries(r.db));
    r.system.systems.add(path);
    const e: unknown = await r.deployer.activate(path, "switch", SELF).then(
      () => undefined,
      (err: unknown) => err,
    );
    if (!isAgentError(e)) throw new Error(`expected an AgentError, got ${String(e)}`);
    expect(e.code).toBe("INVALID_ARGUMENT");
    expect(e.message).toMatch(/ros-rollback\/data\.json: /);
    expect(e.message).toMatch(want);
    expect(e.message).not.toContain("\n");
    expect(await r.records.load()).toBeUndefined();
    expect(r.units.calls).toEqual([]);
  });

  it("the configured directory again only adds its units", async () => {
    const r = await rigWithDb("merge");
    const path = declaring("merge", [{ path: r.db, units: ["mapper.service"] }]);
    r.system.systems.add(path);
    const done = await until(
      r.deployer,
      (await r.deployer.activate(path, "switch", SELF)).id,
      undefined,
      30_000,
    );
    expect(done.snapshots?.map((s) => [s.path, s.units])).toEqual([[r.db, ["db.service", "mapper.service"]]]);
  });
});
