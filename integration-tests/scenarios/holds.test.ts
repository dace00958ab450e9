// Issue 11's holds on a lab robot whose agent is held while /mission_state (std_msgs/String) is not
// "idle": a deploy refused then succeeding once the topic says idle; `deploy --wait-for-release`
// deploying when it does; and holds of every source set after the switch not stopping a magic
// rollback; `deploy --override-hold` going ahead despite exactly the holds it names. The hold dir
// is made as the NixOS module makes it.
import { DeploymentState, RollbackReason } from "@ros-rollback/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AGENT_HOLD_DIR,
  buildSystems,
  exportClosure,
  type LabRobot,
  labDown,
  labExec,
  labUp,
  waitForAgent,
} from "../lab/index.js";
import { activateUntil, getStatus, options, waitFinal } from "../support/agent.js";
import { agentClient, type CliRun, controller, startController } from "../support/controller.js";
import { until } from "../support/faults.js";

const NAME = "hl-holds";
const TOPIC = "/mission_state";
const CONDITION = `topic:${TOPIC}`;
const PUBLISHER = "hl-mission-state";
/** How the agent's refusal and the waiting controller name the hold and its reason. */
const BUSY = `condition hold "${CONDITION}": ${TOPIC} says "busy"`;
let robot: LabRobot;
let systems: Record<string, string>;

const sys = (name: string): string => {
  const p = systems[name];
  if (p === undefined) throw new Error(`no fixture system ${name}`);
  return p;
};
const inRobot = (argv: string[]) => labExec(NAME, argv, { timeoutMs: 30_000 });
const currentSystem = async () => (await inRobot(["readlink", "/run/current-system"])).stdout.trim();
const signed = (...args: string[]) => [...args, "--sign-key", robot.signingKey];

async function agentHolds(): Promise<{ name: string; reason: string }[]> {
  const c = agentClient(robot);
  try {
    return (await getStatus(c)).holds;
  } finally {
    c.close();
  }
}
const holdNames = async () => (await agentHolds()).map((h) => h.name);

/**
 * Robot software saying what it does: a latched publisher (a transient unit with the ROS
 * environment talker has), replaced on every call. Returns once the agent has seen it.
 */
async function missionState(state: "busy" | "idle"): Promise<void> {
  await inRobot(["systemctl", "stop", `${PUBLISHER}.service`]);
  await inRobot(["systemctl", "reset-failed", `${PUBLISHER}.service`]);
  const env = ["ROS_MASTER_URI=http://127.0.0.1:11311", "ROS_IP=127.0.0.1", "ROS_HOME=/var/lib/ros"];
  const pub = await inRobot([
    "systemd-run",
    `--unit=${PUBLISHER}`,
    "--collect",
    ...env.flatMap((e) => ["-E", e]),
    "rostopic",
    "pub",
    "-l",
    TOPIC,
    "std_msgs/String",
    state,
  ]);
  expect(pub.code, pub.stderr).toBe(0);
  // Held says nothing: no message yet holds too.
  const seen = async () => {
    const hold = (await agentHolds()).find((h) => h.name === CONDITION);
    return state === "busy" ? hold?.reason === `${TOPIC} says "busy"` : hold === undefined;
  };
  await until(
    `the agent to see ${TOPIC} say ${state}`,
    async () => ((await seen()) ? true : undefined),
    30_000,
  );
}

interface StatusJson {
  currentSystem: string;
  currentGeneration: number | null;
  lastDeployment: { id: string; overriddenHolds: string[] } | null;
  holds: { name: string; source: string; reason: string }[];
}
const status = async () => (await controller(robot, ["status", "--json"])).json as StatusJson;

/** The controller CLI with its output readable while it runs (controller() gives it at exit). */
function started(args: readonly string[], timeoutMs: number) {
  const run = startController(robot, args, timeoutMs);
  let exited: number | undefined;
  const done = run.done.then((r): CliRun => {
    exited = r.code ?? -1;
    return { code: exited, stdout: r.stdout, stderr: r.stderr, json: undefined };
  });
  /** Resolves once the output contains `text`; fails at once if the controller ended first. */
  const shows = (text: string, ms: number) =>
    until(
      `the controller to print ${text}`,
      async () => {
        if ((run.stdout() + run.stderr()).includes(text)) return true;
        if (exited !== undefined) {
          throw new Error(`controller exited ${exited} first:\n${run.stdout()}${run.stderr()}`);
        }
        return undefined;
      },
      ms,
    );
  return { shows, done, kill: run.kill };
}

describe("holds on a lab robot: a ROS topic, --wait-for-release, and magic rollbacks during a hold", () => {
  beforeAll(async () => {
    [robot, systems] = await Promise.all([
      labUp(NAME, { holdConditions: [{ kind: "topic", topic: TOPIC, releasedWhen: ["idle"] }] }),
      buildSystems(),
    ]);
    await waitForAgent(NAME, { timeoutMs: 30_000 });
    // No system yet, so no ROS master: nothing can say idle, and unknown holds. The first system is
    // installed as nixos-install would (profile set, then its switch), not deployed.
    expect(await holdNames()).toEqual([CONDITION]);
    const imported = await labExec(NAME, ["nix-store", "--import"], {
      input: await exportClosure(sys("talker")),
      timeoutMs: 60_000,
    });
    expect(imported.code, imported.stderr).toBe(0);
    const profile = "/nix/var/nix/profiles/system";
    expect((await inRobot(["nix-env", "-p", profile, "--set", sys("talker")])).code).toBe(0);
    const sw = await inRobot([`${sys("talker")}/bin/switch-to-configuration`, "switch"]);
    expect(sw.code, sw.stderr).toBe(0);
  }, 240_000);
  afterAll(() => labDown(NAME), 60_000);

  it("the hold dir is made at boot as the NixOS module makes it", async () => {
    const st = await inRobot(["stat", "-c", "%a %U %G", AGENT_HOLD_DIR]);
    expect(st.stdout.trim()).toBe("1770 root ros-rollback-hold");
  });

  it("held while the topic says busy: deploy exits 1 naming the hold, nothing changed; deployed once it says idle", async () => {
    await missionState("busy");
    const before = await status();
    const refused = await controller(robot, signed("deploy", sys("talker-header")));
    expect(refused.code, refused.stderr).toBe(1);
    expect(refused.stderr).toContain(BUSY);
    const after = await status();
    expect(after.currentSystem).toBe(sys("talker"));
    expect(after.currentGeneration).toBe(before.currentGeneration);
    expect(after.lastDeployment?.id).toBe(before.lastDeployment?.id);

    await missionState("idle");
    const d = await controller(robot, signed("deploy", sys("talker-header")));
    expect(d.code, d.stderr).toBe(0);
    expect(await currentSystem()).toBe(sys("talker-header"));
  }, 180_000);

  it("deploy --wait-for-release waits, showing the hold, and deploys once the topic says idle", async () => {
    await missionState("busy");
    const run = started(signed("deploy", sys("talker"), "--wait-for-release", "60"), 150_000);
    try {
      await run.shows(BUSY, 60_000);
      expect(await currentSystem()).toBe(sys("talker-header"));
      await missionState("idle");
    } catch (e) {
      run.kill();
      throw e;
    }
    const done = await run.done;
    expect(done.code, done.stdout + done.stderr).toBe(0);
    expect(await currentSystem()).toBe(sys("talker"));
  }, 180_000);

  it("holds set after the switch (command, file, topic) do not stop the magic rollback, and stay", async () => {
    await missionState("idle");
    // Both are in the store since the first test; whichever is not running.
    const from = await currentSystem();
    const to = from === sys("talker") ? sys("talker-header") : sys("talker");
    const c = agentClient(robot);
    const waiting = await activateUntil(
      c,
      to,
      options({ confirmTimeoutSeconds: 15 }),
      DeploymentState.DEPLOYMENT_STATE_AWAITING_CONFIRMATION,
    );
    c.close();
    expect(await currentSystem()).toBe(to);
    const hold = await controller(robot, ["hold", "--reason", "set after the switch"]);
    expect(hold.code, hold.stderr).toBe(0);
    const file = await inRobot(["sh", "-c", `echo 'docking' > ${AGENT_HOLD_DIR}/mission`]);
    expect(file.code, file.stderr).toBe(0);
    await missionState("busy");
    // The holds are in place while the deployment still awaits its confirmation.
    const during = agentClient(robot);
    const st = await getStatus(during).finally(() => during.close());
    expect(st.deployment?.id).toBe(waiting.deploymentId);
    expect(DeploymentState[st.deployment?.state ?? 0]).toBe("DEPLOYMENT_STATE_AWAITING_CONFIRMATION");
    expect(st.holds.map((h) => h.name)).toEqual(["operator", "mission", CONDITION]);

    const done = await waitFinal(() => agentClient(robot), waiting.deploymentId, 60_000);
    expect(DeploymentState[done.state], done.message).toBe("DEPLOYMENT_STATE_ROLLED_BACK");
    expect(done.rollbackReason).toBe(RollbackReason.ROLLBACK_REASON_NOT_CONFIRMED);
    expect(await currentSystem()).toBe(from);
    expect((await status()).holds.map((h) => h.name)).toEqual(["operator", "mission", CONDITION]);
  }, 120_000);

  it("deploy --override-hold goes ahead despite exactly the holds named, and the robot records them", async () => {
    // Still held by the three holds of the test before (the topic says busy).
    const from = await currentSystem();
    const to = from === sys("talker") ? sys("talker-header") : sys("talker");
    const one = await controller(robot, signed("deploy", to, "--override-hold", CONDITION));
    expect(one.code, one.stderr).toBe(1);
    expect(one.stderr).toContain(`warning: overriding hold(s): ${CONDITION}`);
    expect(one.stderr).toContain("(to go ahead anyway: --override-hold operator --override-hold mission)");
    expect(await currentSystem()).toBe(from);

    const all = ["operator", "mission", CONDITION].flatMap((n) => ["--override-hold", n]);
    const d = await controller(robot, signed("deploy", to, ...all));
    expect(d.code, d.stderr).toBe(0);
    expect(await currentSystem()).toBe(to);
    const st = await status();
    expect(st.lastDeployment?.overriddenHolds).toEqual(["operator", "mission", CONDITION]);
    expect(st.holds.map((h) => h.name)).toEqual(["operator", "mission", CONDITION]);
  }, 180_000);
});
