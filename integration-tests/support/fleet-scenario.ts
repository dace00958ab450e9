// The fleet scenario's robots and steps: five lab robots (fl-1 … fl-5) on an inventory, single
// deploys that reset them, rollouts with the scenario's per-deploy flags, and reading them back.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import {
  buildSystems,
  type LabRobot,
  labDownMany,
  labFail,
  labInventory,
  labUpMany,
  waitForAgent,
} from "../lab/index.js";
import { controller } from "./controller.js";
import { type Fleet, type RobotState, robotState, rolloutArgs, runCli, type Selection } from "./fleet.js";

export const NAMES = ["fl-1", "fl-2", "fl-3", "fl-4", "fl-5"] as const;
/** The two systems the robots move between; both honour the fail flag (see lab/README.md). */
export const OLD = "flag-talker";
export const NEW = "flag-talker-header";
export const ROLLOUT_MS = 300_000;
/** A scenario: maybe a reset of the robots (single deploys), a rollout, and reading the robots back. */
export const SCENARIO_MS = 600_000;
const stateDir = join(tmpdir(), `rr-fleet-${process.pid}`);
const healthFile = join(stateDir, "health.json");
/** Per-deploy options every rollout passes through to each robot's deploy. */
export const DEPLOY_FLAGS = ["--health", healthFile, "--connect-timeout", "5", "--json"];

/** One robot's entry of `states()`. */
export const at = (s: Record<string, RobotState>, name: string): RobotState => {
  const r = s[name];
  if (r === undefined) throw new Error(`no state for ${name}`);
  return r;
};

/** Polls `cond` every 0.5 s until it holds; throws naming `what` after `timeoutMs`. */
export async function until(what: string, cond: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** The five robots' scenario state; its set-up boots them (and builds the fixture systems) once. */
export function fleetScenario() {
  let robots: Record<string, LabRobot>;
  let systems: Record<string, string>;
  let fleet: Fleet;

  const sys = (name: string): string => {
    const p = systems[name];
    if (p === undefined) throw new Error(`no fixture system ${name}`);
    return p;
  };
  const robot = (name: string): LabRobot => {
    const r = robots[name];
    if (r === undefined) throw new Error(`no robot ${name}`);
    return r;
  };

  async function states(): Promise<Record<string, RobotState>> {
    const entries = await Promise.all(NAMES.map(async (n) => [n, await robotState(robot(n))] as const));
    return Object.fromEntries(entries);
  }

  /** Puts every robot on `system` with single-target deploys, only where it is not already (2 at a time). */
  async function ensureAll(system: string): Promise<void> {
    // A deployment left awaiting confirmation (a killed controller) ends at its deadline: wait for it.
    let now = await states();
    await until(
      "no deployment under way",
      async () => {
        now = await states();
        return NAMES.every((n) => !at(now, n).busy);
      },
      90_000,
    );
    const todo = NAMES.filter((n) => at(now, n).current !== sys(system));
    for (let i = 0; i < todo.length; i += 2) {
      await Promise.all(
        todo.slice(i, i + 2).map(async (n) => {
          const run = await controller(
            robot(n),
            ["deploy", sys(system), "--sign-key", fleet.signingKey, "--health", healthFile],
            180_000,
          );
          expect(run.code, `${n}: ${run.stderr}`).toBe(0);
        }),
      );
    }
  }

  const rollout = (system: string, selection: Selection, ...flags: string[]) =>
    runCli(rolloutArgs(fleet, sys(system), selection, [...flags, ...DEPLOY_FLAGS]), ROLLOUT_MS);

  function expectOn(s: RobotState, system: string, name: string): void {
    expect(s.current, `${name} runs`).toBe(sys(system));
    expect(s.profile, `${name}'s profile`).toBe(sys(system));
    expect(s.busy, `${name} busy`).toBe(false);
  }

  return {
    sys,
    robot,
    states,
    ensureAll,
    rollout,
    expectOn,
    /** The lab's inventory of the five robots and the key they trust. */
    get fleet() {
      return fleet;
    },
    /** Boots the robots (or describes running ones), builds the systems, puts every robot on OLD. */
    async setUp(): Promise<void> {
      rmSync(stateDir, { recursive: true, force: true });
      mkdirSync(stateDir, { recursive: true });
      // A failing robot gives up after 14 s instead of the lab's 20 (settle 2 + 14 ≤ the allowed 22).
      writeFileSync(healthFile, JSON.stringify({ timeoutSeconds: 14 }));
      const [up, built] = await Promise.all([labUpMany(NAMES), buildSystems()]);
      robots = Object.fromEntries(up.map((r) => [r.name, r]));
      systems = built;
      await Promise.all(NAMES.map((n) => waitForAgent(n, { timeoutMs: 60_000 })));
      fleet = await labInventory(NAMES);
      await Promise.all(NAMES.map((n) => labFail(n, { off: true })));
      await ensureAll(OLD);
    },
    /** No robot's fail flag set. */
    async flagsOff(): Promise<void> {
      await Promise.all(NAMES.map((n) => labFail(n, { off: true })));
    },
    async tearDown(): Promise<void> {
      await labDownMany(NAMES);
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** The rollout's id as the controller prints it when the rollout starts (`rollout r-…: deploy to …`). */
export function rolloutId(stderr: string): string | undefined {
  return /\brollout (r-[0-9]{14}-[0-9a-f]{6})\b/.exec(stderr)?.[1];
}

export interface RolloutJson {
  outcome: string;
  exitCode: number;
  robots: { target: string; wave: number | null; outcome: string; rollback: { exitCode: number } | null }[];
}

/** target → [outcome, wave] from `deploy --json` of a rollout. */
export function byRobot(json: unknown): Record<string, [string, number | null]> {
  const r = json as RolloutJson;
  return Object.fromEntries(r.robots.map((x) => [x.target, [x.outcome, x.wave]]));
}
