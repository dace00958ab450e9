// Issue 8: the fault matrix (as Mender's Killed_in_X). For every state a deployment passes
// through, the agent is held in that state (no timing luck: a held command, a held fixture, or
// strace freezing it right after the record write), checked to be there, then SIGKILLed — or the
// robot's power is cut. Every run must end by itself on a healthy generation (the new one,
// confirmed, or exactly the recorded previous one), with a final record, no switch unit left, a
// verifying store, and the controller's exit code saying which. Then systemd dropping one call of
// the switch (as at the end of a boot) must not roll it back. At the end: the lab talker's stop
// when SIGTERM lands inside rospy's queue lock (else up to 90 s in any switch restarting it), and the
// admission race.

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { DeploymentState } from "@ros-rollback/proto";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import {
  buildSystems,
  installHolds,
  type LabRobot,
  labDown,
  labLink,
  labRestart,
  labUp,
  waitForAgent,
} from "../lab/index.js";
import { getStatus } from "../support/agent.js";
import { agentClient, type CliRun, controller } from "../support/controller.js";
import { robotDiagnostics } from "../support/diagnose.js";
import { deployDroppingOnce } from "../support/dropped-call.js";
import { type RecordView, Robot, until } from "../support/faults.js";
import { activateAll } from "../support/race.js";
import { type Ended, expectSettled } from "../support/settled.js";
import { talkerStopUnderQueueLock } from "../support/stop-probe.js";

const NAME = "fm-lab";
/** Cells alternate between these two (each the other's known good generation); HELD = the other one. */
const GOOD = ["fm-held", "fm-held-header"] as const;
const HELD = "held";
/** The fixture systems' units (a failed cell prints their journal). */
const SYSTEM_UNITS = ["roscore.service", "talker.service", "listener.service", "fm-activation.service"];
const robot = new Robot(NAME);
let lab: LabRobot;
let systems: Record<string, string>;
const measured: string[] = [];

const sys = (name: string): string => {
  const p = systems[name];
  if (p === undefined) throw new Error(`no fixture system ${name}`);
  return p;
};

function deploy(storePath: string, ...extra: string[]): Promise<CliRun> {
  // biome-ignore format: flags read best in pairs
  return controller(lab, [
    "deploy", storePath, "--sign-key", lab.signingKey, "--json",
    "--follow-timeout", "240", "--reconnect-grace", "30", ...extra,
  ], 300_000);
}

/** One deployment state: what to deploy, and how to hold the agent in that state. */
interface Stage {
  readonly system: string;
  readonly args: readonly string[];
  /** Flags set before the deploy starts. */
  readonly flags: readonly [flag: string, word?: string][];
  /** Resolves with the record once the agent is held in the state. */
  reach(): Promise<RecordView>;
  /** The cable stays cut through the fault until the record is final (nobody can confirm). */
  readonly cutUntilFinal?: boolean;
}

let unfreeze: (() => void) | undefined;
async function freezeThenRelease(flag: string, state: string): Promise<RecordView> {
  await robot.held(flag);
  unfreeze = (await robot.freezeAfterNextRecordWrite(lab.pid)).stop;
  await robot.release(flag);
  return robot.recordIn([state]);
}

const STAGES: Record<string, Stage> = {
  // nix-env --set has run (the profile moved) but the agent has not recorded it yet.
  pending: {
    system: HELD,
    args: [],
    flags: [["nix-env.after", "--set"]],
    reach: async () => {
      await robot.held("nix-env.after");
      return robot.recordIn(["pending"]);
    },
  },
  profile_set: {
    system: HELD,
    args: [],
    flags: [["nix-env.after", "--set"]],
    reach: () => freezeThenRelease("nix-env.after", "profile_set"),
  },
  // switch-to-configuration is running (a oneshot of the new system still starting).
  activating: {
    system: HELD,
    args: [],
    flags: [["activation"]],
    reach: async () => {
      const r = await robot.recordIn(["activating"]);
      await until(
        "the switch unit running",
        async () => {
          const unit = r.switchUnit ?? "";
          const s = await robot.exec(["systemctl", "show", "-p", "SubState", "--value", unit]);
          return s.stdout.trim() === "running" ? true : undefined;
        },
        30_000,
      );
      return r;
    },
  },
  // The switch exited 0 and its unit is cleaned up; the agent froze right after recording it.
  activated: {
    system: HELD,
    args: [],
    flags: [["systemctl.before", "stop ros-rollback-switch-"]],
    reach: () => freezeThenRelease("systemctl.before", "activated"),
  },
  // The new talker is active but silent: health is judged, not yet healthy.
  checking_health: {
    system: HELD,
    args: [],
    flags: [["talker"]],
    reach: () => robot.recordIn(["checking_health"]),
  },
  // Healthy and waiting, but the controller's Confirm cannot get through (cable cut before).
  awaiting_confirmation: {
    system: HELD,
    args: ["--confirm-timeout", "6"],
    flags: [["talker"]],
    cutUntilFinal: true,
    reach: async () => {
      await robot.recordIn(["checking_health"]);
      await labLink(NAME, false);
      await robot.release("talker");
      return robot.recordIn(["awaiting_confirmation"]);
    },
  },
  // crashing-talker failed; the profile is back, the rollback's switch not yet started.
  rolling_back: {
    system: "crashing-talker",
    args: [],
    flags: [["systemd-run.before", "--unit=ros-rollback-rollback-"]],
    reach: async () => {
      await robot.held("systemd-run.before");
      return robot.recordIn(["rolling_back"]);
    },
  },
};

/**
 * Nothing held, cable in, no deployment running, on one of GOOD (each cell checked its end state;
 * after a failed cell, or at the start, deploy one). Returns the other one, to deploy next.
 */
async function resetToGood(): Promise<string> {
  unfreeze = undefined;
  robot.stopFreezes();
  lab = await labUp(NAME); // describes the running robot (its init's pid), or boots it after a failed cell
  await robot.release();
  await labLink(NAME, true);
  await waitForAgent(NAME, { timeoutMs: 60_000 });
  await until(
    "no deployment running",
    async () => {
      const c = agentClient(lab);
      try {
        return (await getStatus(c)).deployment === undefined ? true : undefined;
      } catch {
        return undefined;
      } finally {
        c.close();
      }
    },
    120_000,
  );
  const current = (await robot.exec(["readlink", "/run/current-system"])).stdout.trim();
  if (current === sys("fm-held")) return sys("fm-held-header");
  if (current === sys("fm-held-header")) return sys("fm-held");
  const run = await deploy(sys("fm-held"), "--no-confirm");
  expect(run.code, run.stderr).toBe(0);
  return sys("fm-held-header");
}

/** Shorter health windows for this robot (a deploy may only lengthen them), so each cell is quick. */
async function quickerHealth(): Promise<void> {
  const file = join(lab.rootDir, "etc/ros-rollback/agent.json");
  const config = JSON.parse(readFileSync(file, "utf8")) as { health: Record<string, unknown> };
  config.health = { ...config.health, settleSeconds: 1, stableSeconds: 2 };
  writeFileSync(file, `${JSON.stringify(config)}\n`);
  expect((await robot.exec(["systemctl", "restart", "ros-rollback-agent"])).code).toBe(0);
  await waitForAgent(NAME, { timeoutMs: 30_000 });
}

/** A power cut: the robot's init killed (so every process of the robot at once), then booted again. */
async function powerCut(): Promise<void> {
  process.kill(lab.pid, "SIGKILL");
  unfreeze?.(); // a frozen agent's zombie would keep the robot's PID namespace alive
  // Under heavy load one `systemctl is-system-running` probe of the boot wait can time out although
  // the robot boots: then describe it as it is (the cell's checks still judge where it ended).
  lab = await labRestart(NAME, { hard: true }).catch(() => labUp(NAME));
}

const t0 = Date.now();
const mark = (what: string) =>
  process.stderr.write(`fm ${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}\n`);

async function runCell(state: string, fault: "SIGKILL" | "power cut"): Promise<Ended> {
  const stage = STAGES[state];
  if (stage === undefined) throw new Error(`no stage ${state}`);
  mark(`${fault} in ${state}: reset`);
  const next = await resetToGood();
  const target = stage.system === HELD ? next : sys(stage.system);
  mark("deploy");
  for (const [flag, word] of stage.flags) await robot.hold(flag, word);
  const ctl = deploy(target, ...stage.args);
  ctl.catch(() => undefined); // awaited below; not unhandled if a step before throws
  const held = await stage.reach();
  expect(held.state).toBe(state);
  mark(`held in ${state}`);
  if (fault === "SIGKILL") {
    const dead = await robot.killAgent();
    expect(dead.record.state, "the record when the agent died").toBe(state);
    expect(dead.record.id).toBe(held.id);
    unfreeze?.();
    await robot.agentRestarted(dead.pid);
    await robot.release();
  } else {
    await powerCut();
  }
  unfreeze = undefined;
  if (stage.cutUntilFinal) {
    await robot.recordIn(["rolled_back", "succeeded", "failed", "rollback_failed"], held.id, 120_000);
    await labLink(NAME, true);
  }
  mark("faulted");
  const run = await ctl;
  mark(`controller exit ${run.code}`);
  const ended = await expectSettled(lab, robot, held.id, target, run);
  mark("checked");
  measured.push(
    `| ${state} | ${fault} | ${ended.where} (${ended.state.replace("DEPLOYMENT_STATE_", "")}) | ${ended.code} |`,
  );
  return ended;
}

describe("fault matrix: SIGKILL and power cut in every deployment state", () => {
  beforeAll(async () => {
    [lab, systems] = await Promise.all([labUp(NAME), buildSystems()]);
    await waitForAgent(NAME, { timeoutMs: 30_000 });
    installHolds(NAME);
    await quickerHealth();
    // Push every fixture once, so the cells measure activation, not transfer.
    for (const s of [...GOOD, "crashing-talker", "talker-header"]) {
      const run = await controller(lab, [
        "deploy",
        sys(s),
        "--sign-key",
        lab.signingKey,
        "--action",
        "dry-activate",
      ]);
      expect(run.code, run.stderr).toBe(0);
    }
  }, 600_000);
  afterAll(async () => {
    robot.stopFreezes();
    process.stderr.write(`fault matrix as measured:\n${measured.join("\n")}\n`);
    await labDown(NAME);
  });

  const expected: Record<string, Ended["where"]> = {
    pending: "kept",
    profile_set: "kept",
    activating: "kept",
    activated: "kept",
    checking_health: "kept",
    awaiting_confirmation: "rolled back",
    rolling_back: "rolled back",
  };
  for (const [state, where] of Object.entries(expected)) {
    for (const fault of ["SIGKILL", "power cut"] as const) {
      it(`${fault} in ${state}: ends ${where}, exit ${where === "kept" ? 0 : 2}`, async () => {
        // Read before the next cell's reset (or labDown) wipes what the failure left.
        onTestFailed(async () => {
          process.stderr.write(await robotDiagnostics(robot, SYSTEM_UNITS));
        });
        expect((await runCell(state, fault)).where).toBe(where);
      }, 240_000);
    }
  }

  it("systemd drops the switch's systemd-run, or its status query, once: asked again, kept", async () => {
    onTestFailed(async () => {
      process.stderr.write(await robotDiagnostics(robot, SYSTEM_UNITS));
    });
    const drops = [
      ["systemd-run", "--unit=ros-rollback-switch-"],
      ["systemctl", "show ros-rollback-switch-"],
    ] as const;
    for (const [tool, word] of drops) {
      const target = await resetToGood();
      const dropped = await deployDroppingOnce(robot, tool, word, () => deploy(target));
      expect(dropped.used, `${tool}: a call dropped`).toBe(true);
      const ended = await expectSettled(lab, robot, dropped.id, target, dropped.run);
      expect(ended.where, `${tool}: controller exit ${ended.code}`).toBe("kept");
      expect(dropped.retries, `${tool}: the agent's journal`).toHaveLength(1);
    }
  }, 300_000);

  it("the lab talker stops by itself on a SIGTERM that lands while it holds a subscriber's queue lock", async () => {
    await resetToGood(); // a system running: roscore, and the talker's ros-nodes
    const probe = await talkerStopUnderQueueLock(robot);
    expect(probe.fired, probe.output).toBe(true);
    expect(probe.code, probe.output).toBe(0);
  }, 180_000);

  it("admission race: 8 Activates of talker-header on separate channels at once: exactly one proceeds", async () => {
    await resetToGood();
    // The agent's collection after each kept deployment may have removed the path pushed in
    // beforeAll (no generation keeps it): push it again, as deploy would.
    const push = await controller(lab, [
      "deploy",
      sys("talker-header"),
      "--sign-key",
      lab.signingKey,
      "--action",
      "dry-activate",
    ]);
    expect(push.code, push.stderr).toBe(0);
    const clients = Array.from({ length: 8 }, () =>
      agentClient(lab, undefined, { "grpc.use_local_subchannel_pool": 1 }),
    );
    const streams = await activateAll(clients, sys("talker-header"), 90_000);
    for (const c of clients) c.close();
    expect(
      streams.map((s) => s.endSeq >= 0),
      "every stream ended",
    ).toEqual(Array(8).fill(true));
    const winners = streams.filter((s) => s.events.length > 0);
    expect(winners.length, "streams that got events").toBe(1);
    const last = winners[0]?.events.at(-1);
    expect(last?.event.final).toBe(true);
    expect(DeploymentState[last?.event.state ?? 0]).toBe("DEPLOYMENT_STATE_SUCCEEDED");
    const losers = streams.filter((s) => s.events.length === 0);
    expect(losers.map((s) => s.error?.code)).toEqual(Array(7).fill(status.FAILED_PRECONDITION));
    // "At once": every refusal came before the winner's deployment ended.
    for (const l of losers) expect(l.endSeq).toBeLessThan(last?.seq ?? -1);
  }, 180_000);
});
