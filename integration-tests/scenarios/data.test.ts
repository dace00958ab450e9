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

  it("a snapshot that does not fit the free space is refused, naming the numbers, nothing changed", async () => {
    const current = (await inRobot(["readlink", "/run/current-system"])).stdout.trim();
    await inRobot([
      "sh",
      "-c",
      "mkdir -p /var/lib/ros-rollback/snapshots && mount -t tmpfs -o size=4m tmpfs /var/lib/ros-rollback/snapshots",
    ]);
    await inRobot(["sh", "-c", "head -c 16777216 /dev/urandom > /var/lib/labdb/big"]);
    try {
      const run = await deploy("db-v1", "--no-confirm");
      expect(run.code, run.stderr).toBe(1);
      expect(run.stderr).toMatch(
        /not enough free space .*need .* bytes\).*free .* bytes\); nothing was changed/,
      );
      expect((await inRobot(["readlink", "/run/current-system"])).stdout.trim()).toBe(current);
      expect((await inRobot(["systemctl", "is-active", "labdb.service"])).stdout.trim()).toBe("active");
    } finally {
      await inRobot(["sh", "-c", "umount /var/lib/ros-rollback/snapshots; rm -f /var/lib/labdb/big"]);
    }
  });

  it("a snapshot that fails half-way (out of inodes) exits 1: the robot, its data and writers as they were", async () => {
    const current = (await inRobot(["readlink", "/run/current-system"])).stdout.trim();
    const profile = (await inRobot(["readlink", "/nix/var/nix/profiles/system"])).stdout.trim();
    // More files than the snapshot directory has inodes: the plan fits, the copy does not.
    await inRobot([
      "sh",
      "-c",
      "mkdir -p /var/lib/labdb/many && cd /var/lib/labdb/many && for i in $(seq 1 200); do echo $i > $i; done",
    ]);
    await inRobot([
      "sh",
      "-c",
      "mkdir -p /var/lib/ros-rollback/snapshots && mount -t tmpfs -o nr_inodes=64 tmpfs /var/lib/ros-rollback/snapshots",
    ]);
    const before = await dbDigest();
    try {
      const run = await deploy("db-v1", "--no-confirm");
      expect(run.stderr).toMatch(/SNAPSHOTTING/);
      expect(run.stderr).toMatch(/snapshot of the declared data failed: .*; nothing was changed/);
      expect((run.json as { outcome: string }).outcome).toBe("unchanged");
      expect(run.code, run.stderr).toBe(1);
      expect((await inRobot(["readlink", "/run/current-system"])).stdout.trim()).toBe(current);
      expect((await inRobot(["readlink", "/nix/var/nix/profiles/system"])).stdout.trim()).toBe(profile);
      expect(await dbDigest()).toBe(before);
      expect((await inRobot(["systemctl", "is-active", "labdb.service"])).stdout.trim()).toBe("active");
      // The half-made snapshot is gone.
      expect(
        (await inRobot(["sh", "-c", "ls -A /var/lib/ros-rollback/snapshots | wc -l"])).stdout.trim(),
      ).toBe("0");
      const status = await controller(robot, ["status", "--json"]);
      expect((status.json as { lastDeployment: { state: string } }).lastDeployment.state).toBe("FAILED");
    } finally {
      await inRobot(["sh", "-c", "umount /var/lib/ros-rollback/snapshots; rm -rf /var/lib/labdb/many"]);
    }
  });

  it("the agent SIGKILLed in the middle of the restore: the restarted agent completes it", async () => {
    // Enough files that the capture and the restore take a while.
    await inRobot([
      "sh",
      "-c",
      "mkdir -p /var/lib/labdb/blobs && cd /var/lib/labdb/blobs && for i in $(seq 1 30000); do echo $i > $i; done",
    ]);
    const before = await dbDigest();
    const since = (await inRobot(["date", "+%Y-%m-%d %H:%M:%S"])).stdout.trim();
    // Inside the robot: SIGKILL the agent the moment its record says "restoring" (the capture of
    // 30,000 files comes first: minutes on a loaded 2-core machine).
    const killer = labExec(
      NAME,
      [
        "sh",
        "-c",
        `until grep -q '"state": "restoring"' /var/lib/ros-rollback/deployment.json; do :; done; kill -9 $(systemctl show -p MainPID --value ros-rollback-agent)`,
      ],
      { timeoutMs: 180_000 },
    );
    // db-v2-broken's hook refuses schema 2: the migration fails, the data is restored.
    const run = await deploy("db-v2-broken", "--no-confirm");
    expect((await killer).code).toBe(0);
    expect(run.code).not.toBe(0);
    await waitForAgent(NAME, { timeoutMs: 30_000 });
    const end = Date.now() + 120_000;
    let state = "";
    while (Date.now() < end) {
      const st = await controller(robot, ["status", "--json"]);
      state = (st.json as { lastDeployment: { state: string } | null }).lastDeployment?.state ?? "";
      if (state === "ROLLED_BACK" || state === "ROLLBACK_FAILED") break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(state).toBe("ROLLED_BACK");
    // The agent logs natively to journald: the record's state is the STATE field.
    const resumed = await inRobot([
      "journalctl",
      "-u",
      "ros-rollback-agent",
      "--since",
      since,
      "-o",
      "cat",
      "STATE=restoring",
    ]);
    expect(resumed.stdout).toMatch(/resuming a deployment left unfinished/);
    expect(await dbDigest()).toBe(before);
    expect((await inRobot(["sh", "-c", "ls -d /var/lib/labdb.rr-* 2>/dev/null | wc -l"])).stdout.trim()).toBe(
      "0",
    );
  }, 300_000);
});
