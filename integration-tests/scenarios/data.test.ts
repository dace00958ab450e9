// Issue 12 on a lab robot: a service's database is captured before the switch, migrated by the new
// system's hook, and put back byte for byte when the new system is rolled back.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildSystems, type LabRobot, labDown, labExec, labUp, waitForAgent } from "../lab/index.js";
import { controller } from "../support/controller.js";

const NAME = "da-data";
let robot: LabRobot;
let systems: Record<string, string>;

const sys = (name: string): string => {
  const p = systems[name];
  if (p === undefined) throw new Error(`no fixture system ${name}`);
  return p;
};
const inRobot = (argv: string[]) => labExec(NAME, argv, { timeoutMs: 30_000 });
/** Every file of the database with its bytes (sha256), sorted. */
const dbDigest = async () =>
  (await inRobot(["sh", "-c", "cd /var/lib/labdb && find . -type f | sort | xargs sha256sum"])).stdout;

function deploy(system: string, ...extra: string[]) {
  return controller(
    robot,
    ["deploy", sys(system), "--sign-key", robot.signingKey, "--json", ...extra],
    180_000,
  );
}

describe("data rolls back with the generation on a lab robot", () => {
  beforeAll(async () => {
    [robot, systems] = await Promise.all([labUp(NAME), buildSystems()]);
    await waitForAgent(NAME, { timeoutMs: 30_000 });
    const first = await deploy("db-v1", "--no-confirm");
    expect(first.code, first.stderr).toBe(0);
    // Data the service's users added: must survive everything below.
    await inRobot(["sh", "-c", "echo row2 >> /var/lib/labdb/rows"]);
  }, 600_000);
  afterAll(async () => {
    await labDown(NAME);
  });

  it("migrates and then fails health: rolled back, the database byte-identical to before", async () => {
    const before = await dbDigest();
    expect(before).toMatch(/schema/);
    const run = await deploy("db-v2-broken", "--no-confirm");
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toMatch(/MIGRATING/);
    expect(run.stderr).toMatch(/RESTORING/);
    expect(await dbDigest()).toBe(before);
    expect((await inRobot(["cat", "/var/lib/labdb/schema"])).stdout).toBe("1\n");
    const status = await controller(robot, ["status", "--json"]);
    const last = (status.json as { lastDeployment: { restores: { path: string; state: string }[] } })
      .lastDeployment;
    expect(last.restores).toEqual([expect.objectContaining({ path: "/var/lib/labdb", state: "restored" })]);
    expect((await inRobot(["systemctl", "is-active", "labdb.service"])).stdout.trim()).toBe("active");
  });

  it("migrates and is healthy: kept with schema 2, the snapshot listed by status", async () => {
    const run = await deploy("db-v2", "--no-confirm");
    expect(run.code, run.stderr).toBe(0);
    expect((await inRobot(["cat", "/var/lib/labdb/schema"])).stdout).toBe("2\n");
    expect((await inRobot(["cat", "/var/lib/labdb/rows"])).stdout).toBe("row1\nrow2\nmigrated\n");
    const status = await controller(robot, ["status"]);
    expect(status.stdout).toMatch(
      /snapshot: {4}\/var\/lib\/labdb (copy|reflink|btrfs) .* captured at \/var\/lib\/ros-rollback\/snapshots\//,
    );
    expect((await inRobot(["systemctl", "is-active", "labdb.service"])).stdout.trim()).toBe("active");
  });
});
