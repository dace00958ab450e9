// Issue 29 end to end: a lab robot enforces roles. The read-only certificate reads (status,
// generations, audit) and is refused every change, which leaves the robot as it was; the
// operator's deploy is recorded as started by the operator. The operator's certificate is rotated
// during a deployment: the new one confirms it, the old one, revoked, is refused without a restart.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DeploymentState } from "@ros-rollback/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildSystems,
  type LabRobot,
  labDown,
  labExec,
  labRotateController,
  labUp,
  waitForAgent,
} from "../lab/index.js";
import { activateUntil, options } from "../support/agent.js";
import { agentClient, controller } from "../support/controller.js";

const NAME = "ro-1";
let robot: LabRobot;
let reader: LabRobot;
let systems: Record<string, string>;

const sys = (name: string): string => {
  const p = systems[name];
  if (p === undefined) throw new Error(`no fixture system ${name}`);
  return p;
};

/** What a refused change must leave alone: the profile's generation and target, and the store path. */
async function robotState(storePath: string): Promise<string> {
  const r = await labExec(
    NAME,
    [
      "sh",
      "-c",
      `readlink /nix/var/nix/profiles/system; readlink -f /nix/var/nix/profiles/system; nix-store --check-validity ${storePath} 2>/dev/null && echo valid || echo invalid`,
    ],
    { timeoutMs: 30_000 },
  );
  return r.stdout;
}

const REFUSED =
  /permission denied to CN=ros-rollback reader \[sha256 [0-9A-F:]+…\]: it lacks role "(deploy|hold)"/;

describe("roles on a lab robot", () => {
  beforeAll(async () => {
    [robot, systems] = await Promise.all([labUp(NAME), buildSystems()]);
    reader = { ...robot, inventory: robot.readOnlyInventory };
    await waitForAgent(NAME, { timeoutMs: 30_000 });
  });
  afterAll(async () => {
    await labDown(NAME);
  });

  it("the read-only certificate reads status, generations and the audit log", async () => {
    for (const args of [
      ["status", "--json"],
      ["generations", "--json"],
      ["audit", "--json"],
    ]) {
      const r = await controller(reader, args);
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(0);
    }
  });

  it("the operator deploys, and status names the operator as who started it", async () => {
    const run = await controller(robot, ["deploy", sys("talker"), "--sign-key", robot.signingKey, "--json"]);
    expect(run.code, run.stderr).toBe(0);
    const st = await controller(reader, ["status", "--json"]);
    expect(st.json).toMatchObject({
      lastDeployment: {
        startedBy: expect.stringMatching(/^CN=ros-rollback controller \[sha256 [0-9A-F:]+…\]$/),
      },
    });
    const text = await controller(robot, ["status"]);
    expect(text.stdout).toMatch(/^ {2}started by: {2}CN=ros-rollback controller \[sha256 /m);
  });

  it("the read-only certificate is refused deploy, rollback and hold: exit 1, robot unchanged, audited", async () => {
    const before = await robotState(sys("talker-header"));
    expect(before).toMatch(/system-1-link\n.*\ninvalid\n$/);
    const tries = [
      ["deploy", sys("talker-header"), "--sign-key", robot.signingKey],
      ["rollback", "--to", "1"],
      ["hold", "--reason", "not mine to give"],
    ];
    for (const args of tries) {
      const r = await controller(reader, args);
      expect(r.code, `${args[0]}: ${r.stdout}${r.stderr}`).toBe(1);
      expect(r.stderr, args[0]).toMatch(REFUSED);
    }
    expect(await robotState(sys("talker-header"))).toBe(before);
    const audit = await controller(reader, ["audit", "--json"]);
    const entries = (
      audit.json as { entries: { rpc: string; subject: string; admission: string; role: string }[] }
    ).entries;
    const refused = entries
      .filter((e) => e.admission === "denied" && e.subject.startsWith("CN=ros-rollback reader "))
      .map((e) => `${e.rpc}/${e.role}`);
    expect(refused).toEqual(expect.arrayContaining(["Rollback/deploy", "Hold/hold"]));
    expect(refused.some((r) => r.endsWith("/deploy") && !r.startsWith("Rollback"))).toBe(true);
  });

  it("a rotated operator certificate confirms a running deployment; the old one, revoked, is refused from its next handshake", async () => {
    const pushed = await controller(robot, [
      "deploy",
      sys("talker-header"),
      "--sign-key",
      robot.signingKey,
      "--plan",
    ]);
    expect(pushed.code, pushed.stderr).toBe(0);
    const old = agentClient(robot);
    const awaiting = await activateUntil(
      old,
      sys("talker-header"),
      options({ confirmTimeoutSeconds: 120 }),
      DeploymentState.DEPLOYMENT_STATE_AWAITING_CONFIRMATION,
    );
    old.close();
    const { old: revoked } = await labRotateController(NAME);
    const dir = mkdtempSync(join(tmpdir(), "rr-roles-"));
    try {
      const oldInventory = join(dir, "old.json");
      const address = robot.address;
      writeFileSync(
        oldInventory,
        JSON.stringify({ targets: { [NAME]: { address, ...revoked, serverName: NAME } } }),
      );
      const asOld = { ...robot, inventory: oldInventory };
      // The agent sees the CRL change within its 2 s poll and reloads: no restart.
      const end = Date.now() + 20_000;
      let refused = await controller(asOld, ["status"]);
      while (refused.code === 0 && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 500));
        refused = await controller(asOld, ["status"]);
      }
      expect(refused.code, refused.stdout).toBe(1);
      const st = await controller(reader, ["status", "--json"]);
      expect(st.json).toMatchObject({
        deployment: { id: awaiting.deploymentId, state: "AWAITING_CONFIRMATION" },
      });
      const confirmed = await controller(robot, ["confirm"]);
      expect(confirmed.code, `${confirmed.stdout}${confirmed.stderr}`).toBe(0);
      const after = await controller(reader, ["status", "--json"]);
      expect(after.json).toMatchObject({
        lastDeployment: { id: awaiting.deploymentId, state: "SUCCEEDED", storePath: sys("talker-header") },
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
