// Issue 3 end to end on a lab robot: health (systemd + ROS liveness), confirmation over a fresh
// connection, automatic and magic rollback, and surviving an agent crash or a reboot mid-way.
import { DeploymentState, type HealthReport, RollbackReason } from "@ros-rollback/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildSystems,
  type LabRobot,
  labDown,
  labExec,
  labReachable,
  labRestart,
  labUp,
  waitForAgent,
} from "../lab/index.js";
import { activateUntil, getStatus, options, waitFinal } from "../support/agent.js";
import { agentClient, controller } from "../support/controller.js";

const NAME = "rollback";
let robot: LabRobot;
let systems: Record<string, string>;

const sys = (name: string): string => {
  const p = systems[name];
  if (p === undefined) throw new Error(`no fixture system ${name}`);
  return p;
};
const inRobot = (argv: string[], timeoutMs = 30_000) => labExec(NAME, argv, { timeoutMs });
const currentSystem = async () => (await inRobot(["readlink", "/run/current-system"])).stdout.trim();
const profileSystem = async () =>
  (await inRobot(["readlink", "-f", "/nix/var/nix/profiles/system"])).stdout.trim();

interface DeployJson {
  outcome: string;
  reason: string;
  generation: number | null;
}

function deploy(system: string, ...extra: string[]) {
  return controller(
    robot,
    ["deploy", sys(system), "--sign-key", robot.signingKey, "--json", ...extra],
    180_000,
  );
}

/** Pushes a system without activating it (a deploy of it that is then rolled back by hand is slower). */
async function ensureGood(): Promise<void> {
  if ((await currentSystem()) === sys("talker")) return;
  const run = await deploy("talker", "--no-confirm");
  expect(run.code, run.stderr).toBe(0);
}

async function until(cond: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe("health, confirmation and rollback on a lab robot", () => {
  beforeAll(async () => {
    [robot, systems] = await Promise.all([labUp(NAME), buildSystems()]);
    await waitForAgent(NAME, { timeoutMs: 30_000 });
    // Push every fixture once, so each scenario below measures activation, not transfer.
    for (const s of ["crashing-talker", "silent-talker", "no-network", "talker-header"]) {
      const run = await controller(robot, [
        "deploy",
        sys(s),
        "--sign-key",
        robot.signingKey,
        "--action",
        "dry-activate",
      ]);
      expect(run.code, run.stderr).toBe(0);
    }
    const first = await deploy("talker");
    expect(first.code, first.stderr).toBe(0);
  }, 600_000);
  afterAll(async () => {
    await labDown(NAME);
  });

  it("talker-header over talker: healthy, confirmed over a new connection, exit 0", async () => {
    const run = await deploy("talker-header");
    expect(run.code, run.stderr).toBe(0);
    expect(run.json).toMatchObject({ outcome: "succeeded" });
    expect(run.stderr).toMatch(/AWAITING_CONFIRMATION/);
    expect(await currentSystem()).toBe(sys("talker-header"));
  });

  it("crashing-talker: rolled back, and the reason names talker.service", async () => {
    await ensureGood();
    const run = await deploy("crashing-talker");
    expect(run.code, run.stderr).toBe(2);
    expect((run.json as DeployJson).reason).toMatch(/talker\.service/);
    expect(await currentSystem()).toBe(sys("talker"));
    expect(await profileSystem()).toBe(sys("talker"));
  });

  it("silent-talker (unit active, no messages): rolled back, and the reason names /chatter", async () => {
    await ensureGood();
    const run = await deploy("silent-talker");
    expect(run.code, run.stderr).toBe(2);
    expect((run.json as DeployJson).reason).toMatch(/\/chatter/);
    expect(await currentSystem()).toBe(sys("talker"));
  });

  it("no-network: the controller cannot confirm; the robot rolls back by itself and is reachable again", async () => {
    await ensureGood();
    const started = Date.now();
    const run = await deploy("no-network", "--confirm-timeout", "6");
    expect(run.code, run.stderr).toBe(2);
    expect((run.json as DeployJson).reason).toMatch(/not confirmed/);
    expect(await labReachable(NAME)).toBe(true);
    expect(await currentSystem()).toBe(sys("talker"));
    expect(Date.now() - started).toBeLessThan(120_000);
  });

  it("--no-magic-rollback with no confirm: stays on the new generation", async () => {
    await ensureGood();
    const c = agentClient(robot);
    const waiting = await activateUntil(
      c,
      sys("talker-header"),
      options({ confirmTimeoutSeconds: 3, magicRollback: false }),
      DeploymentState.DEPLOYMENT_STATE_AWAITING_CONFIRMATION,
    );
    c.close();
    const done = await waitFinal(() => agentClient(robot), waiting.deploymentId, 30_000);
    expect(DeploymentState[done.state]).toBe("DEPLOYMENT_STATE_SUCCEEDED");
    expect(await currentSystem()).toBe(sys("talker-header"));
  });

  it("agent SIGKILLed while waiting for confirmation: systemd restarts it and it rolls back at the ORIGINAL deadline", async () => {
    await ensureGood();
    const c = agentClient(robot);
    const waiting = await activateUntil(
      c,
      sys("talker-header"),
      options({ confirmTimeoutSeconds: 8 }),
      DeploymentState.DEPLOYMENT_STATE_AWAITING_CONFIRMATION,
    );
    c.close();
    const pid = (
      await inRobot(["systemctl", "show", "-p", "MainPID", "--value", "ros-rollback-agent"])
    ).stdout.trim();
    expect((await inRobot(["kill", "-9", pid])).code).toBe(0);
    const done = await waitFinal(() => agentClient(robot), waiting.deploymentId, 60_000);
    expect(done.rollbackReason, done.message).toBe(RollbackReason.ROLLBACK_REASON_NOT_CONFIRMED);
    expect(done.confirmDeadlineUnixMs).toBe(waiting.confirmDeadlineUnixMs);
    const newPid = (
      await inRobot(["systemctl", "show", "-p", "MainPID", "--value", "ros-rollback-agent"])
    ).stdout.trim();
    expect(newPid).not.toBe(pid);
    expect(await currentSystem()).toBe(sys("talker"));
  });

  it("robot rebooted while waiting for confirmation: after boot it is on the previous generation", async () => {
    await ensureGood();
    const c = agentClient(robot);
    const waiting = await activateUntil(
      c,
      sys("talker-header"),
      options({ confirmTimeoutSeconds: 10 }),
      DeploymentState.DEPLOYMENT_STATE_AWAITING_CONFIRMATION,
    );
    c.close();
    robot = await labRestart(NAME, { hard: true });
    await waitForAgent(NAME, { timeoutMs: 30_000 });
    const done = await waitFinal(() => agentClient(robot), waiting.deploymentId, 90_000);
    expect(DeploymentState[done.state]).toBe("DEPLOYMENT_STATE_ROLLED_BACK");
    expect(await currentSystem()).toBe(sys("talker"));
    expect(await profileSystem()).toBe(sys("talker"));
  });

  it("health checks never hang: master down, unknown unit and a stalled systemd give clear reasons in time", async () => {
    await ensureGood();
    const c = agentClient(robot);
    const check = () =>
      new Promise<HealthReport>((resolve, reject) =>
        c.checkHealth({}, (e, r) => (e ? reject(e) : resolve(r))),
      );
    expect((await check()).healthy).toBe(true);

    await inRobot(["systemctl", "stop", "roscore.service"]);
    let t = Date.now();
    const masterDown = await check();
    expect(masterDown.healthy).toBe(false);
    expect(masterDown.reason).toMatch(/master/i);
    expect(Date.now() - t).toBeLessThan(15_000);
    await inRobot(["systemctl", "start", "roscore.service", "talker.service", "listener.service"]);
    await until(async () => (await check()).healthy, 30_000);

    // systemd itself stops answering (its PID 1 stopped, from the host: init ignores SIGSTOP from
    // inside its own namespace): the unit checks time out instead of hanging.
    process.kill(robot.pid, "SIGSTOP");
    t = Date.now();
    try {
      const stalled = await check();
      expect(stalled.healthy).toBe(false);
      const unitReasons = stalled.checks.filter((x) => x.kind === "unit").map((x) => x.reason);
      expect(unitReasons.join("; ")).toMatch(/time|killed/i);
    } finally {
      process.kill(robot.pid, "SIGCONT");
    }
    expect(Date.now() - t).toBeLessThan(20_000);

    const st = await getStatus(c);
    expect(st.health).toBeDefined();
    c.close();

    // A deploy that asks for a unit the robot does not have is judged unhealthy, not stuck.
    const health = JSON.stringify({ units: [{ name: "no-such-unit.service" }] });
    const file = `/tmp/rr-health-${process.pid}.json`;
    const { writeFileSync } = await import("node:fs");
    writeFileSync(file, health);
    const run = await deploy("talker-header", "--health", file);
    expect(run.code, run.stderr).toBe(2);
    expect((run.json as DeployJson).reason).toMatch(/no-such-unit\.service/);
  });
});
