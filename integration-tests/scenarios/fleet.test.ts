// Issue 9 end to end: rollouts of one closure to 5 lab robots in waves, with a real failure on a
// real robot (the flag-talker systems fall silent where the lab set the fail flag), aborts,
// rollback on abort, a controller SIGKILLed mid-rollout and resumed, and a robot that is down.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  buildSystems,
  type LabRobot,
  labDownMany,
  labExec,
  labFail,
  labInventory,
  labUpMany,
  waitForAgent,
} from "../lab/index.js";
import { controller } from "../support/controller.js";
import {
  type Fleet,
  type RobotState,
  robotState,
  rolloutArgs,
  runCli,
  type Selection,
  startCli,
} from "../support/fleet.js";

const NAMES = ["fl-1", "fl-2", "fl-3", "fl-4", "fl-5"] as const;
/** The two systems the robots move between; both honour the fail flag (see lab/README.md). */
const OLD = "flag-talker";
const NEW = "flag-talker-header";
const ROLLOUT_MS = 300_000;
/** A scenario: maybe a reset of the robots (single deploys), a rollout, and reading the robots back. */
const SCENARIO_MS = 600_000;

let robots: Record<string, LabRobot>;
let systems: Record<string, string>;
let fleet: Fleet;
const stateDir = join(tmpdir(), `rr-fleet-${process.pid}`);
const healthFile = join(stateDir, "health.json");
/** Per-deploy options every rollout passes through to each robot's deploy. */
const DEPLOY_FLAGS = ["--health", healthFile, "--connect-timeout", "5", "--json"];

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
const at = (s: Record<string, RobotState>, name: string): RobotState => {
  const r = s[name];
  if (r === undefined) throw new Error(`no state for ${name}`);
  return r;
};

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

async function until(what: string, cond: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe("fleet rollout to 5 lab robots", () => {
  beforeAll(async () => {
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
  }, 600_000);

  afterEach(async () => {
    await Promise.all(NAMES.map((n) => labFail(n, { off: true })));
  });

  afterAll(async () => {
    await labDownMany(NAMES);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it("a selection no robot matches is refused, and no robot is touched (exit 1)", async () => {
    const before = await states();
    const run = await rollout(NEW, { select: "parity=blue" });
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toMatch(/parity=blue/);
    const after = await states();
    for (const n of NAMES) expect(at(after, n), n).toEqual(at(before, n));
  });

  it(
    "all succeed: canary first, then waves of 2, every robot on the new system (exit 0)",
    async () => {
      await ensureAll(OLD);
      const before = await states();
      const run = await rollout(NEW, { all: true }, "--canary", "1", "--batch", "2", "--max-parallel", "2");
      expect(run.code, run.stderr).toBe(0);
      const after = await states();
      for (const n of NAMES) {
        expectOn(at(after, n), NEW, n);
        expect(at(after, n).lastId, n).not.toBe(at(before, n).lastId);
      }
      // Waves in order: [fl-1], [fl-2, fl-3], [fl-4, fl-5]; each ends before the next starts.
      const ended = (ns: string[]) => Math.max(...ns.map((n) => at(after, n).lastUpdatedMs));
      const began = (ns: string[]) => Math.min(...ns.map((n) => at(after, n).lastStartedMs));
      expect(ended(["fl-1"])).toBeLessThanOrEqual(began(["fl-2", "fl-3", "fl-4", "fl-5"]));
      expect(ended(["fl-2", "fl-3"])).toBeLessThanOrEqual(began(["fl-4", "fl-5"]));
    },
    SCENARIO_MS,
  );

  it(
    "the canary fails: it is rolled back and no other robot is touched (exit 2)",
    async () => {
      await ensureAll(NEW);
      const before = await states();
      await labFail("fl-1", { system: OLD });
      const run = await rollout(OLD, { all: true }, "--canary", "1", "--batch", "2");
      expect(run.code, run.stderr).toBe(2);
      const after = await states();
      expectOn(at(after, "fl-1"), NEW, "fl-1");
      expect(at(after, "fl-1").lastId).not.toBe(at(before, "fl-1").lastId);
      for (const n of ["fl-2", "fl-3", "fl-4", "fl-5"]) {
        expectOn(at(after, n), NEW, n);
        expect(at(after, n).lastId, `${n} was touched`).toBe(at(before, n).lastId);
      }
    },
    SCENARIO_MS,
  );

  it(
    "a failure in wave 2 beyond --max-failures aborts; --rollback-on-abort puts every moved robot back (exit 2)",
    async () => {
      await ensureAll(NEW);
      const before = await states();
      await labFail("fl-2", { system: OLD });
      const run = await rollout(
        OLD,
        { all: true },
        "--canary",
        "1",
        "--batch",
        "2",
        "--max-failures",
        "0",
        "--rollback-on-abort",
      );
      expect(run.code, run.stderr).toBe(2);
      const after = await states();
      // fl-1 (canary) and fl-3 moved and were rolled back; fl-2 rolled itself back; wave 3 never started.
      for (const n of NAMES) expectOn(at(after, n), NEW, n);
      for (const n of ["fl-1", "fl-2", "fl-3"]) expect(at(after, n).lastId, n).not.toBe(at(before, n).lastId);
      for (const n of ["fl-4", "fl-5"])
        expect(at(after, n).lastId, `${n} was touched`).toBe(at(before, n).lastId);
    },
    SCENARIO_MS,
  );

  it(
    "the controller is SIGKILLed mid-rollout: `rollout resume ID` finishes it without redoing finished robots",
    async () => {
      await ensureAll(NEW);
      const before = await states();
      const first = startCli(
        rolloutArgs(fleet, sys(OLD), { all: true }, ["--canary", "1", "--batch", "2", ...DEPLOY_FLAGS]),
        ROLLOUT_MS,
      );
      // Killed once wave 2 is under way: the canary's result is surely recorded, wave 2 is in flight.
      let canaryId = "";
      let exited = false;
      void first.done.then(() => {
        exited = true;
      });
      await until(
        "wave 2 started",
        async () => {
          if (exited) throw new Error(`the rollout ended before wave 2: ${(await first.done).stderr}`);
          const s = await robotState(robot("fl-2"));
          const c = await robotState(robot("fl-1"));
          canaryId = c.lastId;
          return s.busy || s.lastId !== at(before, "fl-2").lastId;
        },
        ROLLOUT_MS,
      );
      first.child.kill("SIGKILL");
      const killed = await first.done;
      expect(killed.code, killed.stderr).toBe(-1);
      const id = rolloutId(killed.stderr);
      expect(id, killed.stderr).toBeDefined();

      const resumed = await runCli(
        // The deploy's --sign-key and --health again: the robots record neither.
        [
          "rollout",
          "resume",
          id ?? "",
          "--inventory",
          fleet.inventory,
          "--sign-key",
          fleet.signingKey,
          ...DEPLOY_FLAGS,
        ],
        ROLLOUT_MS,
      );
      expect(resumed.code, resumed.stderr).toBe(0);
      const after = await states();
      for (const n of NAMES) expectOn(at(after, n), OLD, n);
      expect(at(after, "fl-1").lastId, "the canary was deployed again").toBe(canaryId);

      const status = await runCli(
        ["rollout", "status", id ?? "", "--inventory", fleet.inventory, "--json"],
        60_000,
      );
      expect(status.code, status.stderr).toBe(0);
    },
    SCENARIO_MS,
  );

  it(
    "one selected robot is down: it is skipped, the others succeed, unselected ones untouched (exit 6)",
    async () => {
      await ensureAll(OLD);
      const before = await states();
      const stop = await labExec("fl-5", ["systemctl", "stop", "ros-rollback-agent.service"]);
      expect(stop.code, stop.stderr).toBe(0);
      try {
        // parity=odd: fl-1, fl-3 and fl-5 (down).
        const run = await rollout(NEW, { select: "parity=odd" }, "--canary", "1", "--batch", "2");
        expect(run.code, run.stderr).toBe(6);
        expect(byRobot(run.json)).toEqual({
          "fl-1": ["succeeded", 1],
          "fl-3": ["succeeded", 2],
          "fl-5": ["skipped", 2],
        });
      } finally {
        await labExec("fl-5", ["systemctl", "start", "ros-rollback-agent.service"]);
        await waitForAgent("fl-5", { timeoutMs: 30_000 });
      }
      const after = await states();
      for (const n of ["fl-1", "fl-3"]) expectOn(at(after, n), NEW, n);
      for (const n of ["fl-2", "fl-4", "fl-5"]) {
        expectOn(at(after, n), OLD, n);
        expect(at(after, n).lastId, `${n} was touched`).toBe(at(before, n).lastId);
      }
    },
    SCENARIO_MS,
  );
});

/** The rollout's id as the controller prints it when the rollout starts (`rollout r-…: deploy to …`). */
function rolloutId(stderr: string): string | undefined {
  return /\brollout (r-[0-9]{14}-[0-9a-f]{6})\b/.exec(stderr)?.[1];
}

interface RolloutJson {
  outcome: string;
  exitCode: number;
  robots: { target: string; wave: number | null; outcome: string; rollback: { exitCode: number } | null }[];
}

/** target → [outcome, wave] from `deploy --json` of a rollout. */
function byRobot(json: unknown): Record<string, [string, number | null]> {
  const r = json as RolloutJson;
  return Object.fromEntries(r.robots.map((x) => [x.target, [x.outcome, x.wave]]));
}
