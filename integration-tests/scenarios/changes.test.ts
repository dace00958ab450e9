// Issue 11 on a lab robot: the plan before a deploy predicts what the report after it says
// (talker → talker-header restarts talker and listener, roscore untouched), and holds by command
// and by file refuse deploys and rollbacks until released.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildSystems, type LabRobot, labDown, labExec, labUp, waitForAgent } from "../lab/index.js";
import { controller } from "../support/controller.js";

const NAME = "ch-changes";
let robot: LabRobot;
let systems: Record<string, string>;

const sys = (name: string): string => {
  const p = systems[name];
  if (p === undefined) throw new Error(`no fixture system ${name}`);
  return p;
};
const inRobot = (argv: string[]) => labExec(NAME, argv, { timeoutMs: 30_000 });
const mainPid = async (unit: string) =>
  (await inRobot(["systemctl", "show", "-p", "MainPID", unit])).stdout.trim();
const signed = (...args: string[]) => [...args, "--sign-key", robot.signingKey, "--json"];

interface Units {
  stopped: string[];
  started: string[];
  restarted: string[];
  reloaded: string[];
}

describe("what a deployment changes, and holds", () => {
  beforeAll(async () => {
    [robot, systems] = await Promise.all([labUp(NAME), buildSystems()]);
    await waitForAgent(NAME, { timeoutMs: 30_000 });
    expect((await controller(robot, signed("deploy", sys("talker")))).code).toBe(0);
  }, 240_000);
  afterAll(() => labDown(NAME), 60_000);

  it("plan predicts talker and listener restarted and roscore untouched, and the deploy reports exactly that", async () => {
    const roscore = await mainPid("roscore.service");
    const plan = await controller(robot, signed("plan", sys("talker-header")));
    expect(plan.code).toBe(0);
    const p = plan.json as { units: Units; unchanged: string[] };
    expect(p.units).toEqual({
      stopped: [],
      started: [],
      restarted: ["listener.service", "talker.service"],
      reloaded: [],
    });
    expect(p.unchanged).toEqual(["roscore.service"]);
    // The plan changed nothing.
    expect(await mainPid("roscore.service")).toBe(roscore);
    expect((await inRobot(["readlink", "/run/current-system"])).stdout.trim()).toBe(sys("talker"));

    const d = await controller(robot, signed("deploy", sys("talker-header")));
    expect(d.code).toBe(0);
    expect((d.json as { unitChanges: Units }).unitChanges).toEqual(p.units);
    expect(await mainPid("roscore.service")).toBe(roscore);
  }, 180_000);

  it("a hold by command and one by file refuse deploy and rollback (exit 1, nothing changed) until released", async () => {
    expect((await controller(robot, ["hold", "--reason", "demo", "--for", "1h"])).code).toBe(0);
    await inRobot([
      "sh",
      "-c",
      "mkdir -p /run/ros-rollback/holds && echo 'executing waypoint 3' > /run/ros-rollback/holds/mission",
    ]);
    const refused = await controller(robot, signed("deploy", sys("talker")));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      'command hold "operator": demo; file hold "mission": executing waypoint 3',
    );
    expect((await controller(robot, ["rollback"])).code).toBe(1);
    expect((await inRobot(["readlink", "/run/current-system"])).stdout.trim()).toBe(sys("talker-header"));
    const status = await controller(robot, ["status", "--json"]);
    expect((status.json as { holds: { name: string }[] }).holds.map((h) => h.name)).toEqual([
      "operator",
      "mission",
    ]);

    expect((await controller(robot, ["release"])).code).toBe(0);
    expect((await controller(robot, signed("deploy", sys("talker")))).code).toBe(1);
    await inRobot(["rm", "/run/ros-rollback/holds/mission"]);
    expect((await controller(robot, signed("deploy", sys("talker")))).code).toBe(0);
  }, 180_000);
});
