// The fault matrix's machinery (faults.test.ts): for every deployment state, how the agent is held
// there; a cell resets the robot to a known good generation, holds it, faults it (SIGKILL of the
// agent, or a power cut), and checks where it ended.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
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
import { getStatus } from "./agent.js";
import { agentClient, type CliRun, controller } from "./controller.js";
import { type RecordView, Robot, until } from "./faults.js";
import { type Ended, expectSettled } from "./settled.js";

/** Cells alternate between these two (each the other's known good generation); HELD = the other one. */
const GOOD = ["fm-held", "fm-held-header"] as const;
const HELD = "held";
/** The fixture systems' units (a failed cell prints their journal). */
export const SYSTEM_UNITS = [
  "roscore.service",
  "talker.service",
  "listener.service",
  "fm-activation.service",
];
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

/**
 * The fault matrix on the robot `robotName`: its set-up (holds installed, quicker health, every fixture
 * pushed once), a reset to a known good generation, and one cell (hold, fault, check the end).
 */
export function faultCells(robotName: string) {
  const robot = new Robot(robotName);
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
        await labLink(robotName, false);
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
    lab = await labUp(robotName); // describes the running robot (its init's pid), or boots it after a failed cell
    await robot.release();
    await labLink(robotName, true);
    await waitForAgent(robotName, { timeoutMs: 60_000 });
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
    await waitForAgent(robotName, { timeoutMs: 30_000 });
  }

  /** A power cut: the robot's init killed (so every process of the robot at once), then booted again. */
  async function powerCut(): Promise<void> {
    process.kill(lab.pid, "SIGKILL");
    unfreeze?.(); // a frozen agent's zombie would keep the robot's PID namespace alive
    // Under heavy load one `systemctl is-system-running` probe of the boot wait can time out although
    // the robot boots: then describe it as it is (the cell's checks still judge where it ended).
    lab = await labRestart(robotName, { hard: true }).catch(() => labUp(robotName));
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
      await labLink(robotName, true);
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

  return {
    robot,
    sys,
    deploy,
    resetToGood,
    runCell,
    /** The robot as last described (a power cut boots it again). */
    get lab() {
      return lab;
    },
    async setUp(): Promise<void> {
      [lab, systems] = await Promise.all([labUp(robotName), buildSystems()]);
      await waitForAgent(robotName, { timeoutMs: 30_000 });
      installHolds(robotName);
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
    },
    async tearDown(): Promise<void> {
      robot.stopFreezes();
      process.stderr.write(`fault matrix as measured:\n${measured.join("\n")}\n`);
      await labDown(robotName);
    },
  };
}
