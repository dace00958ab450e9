// Issue 9 end to end: rollouts of one closure to 5 lab robots in waves, with a real failure on a
// real robot (the flag-talker systems fall silent where the lab set the fail flag), aborts,
// rollback on abort, a controller SIGKILLed mid-rollout and resumed, and a robot that is down.
// The robots and steps: support/fleet-scenario.ts.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { labExec, labFail, waitForAgent } from "../lab/index.js";
import { robotState, rolloutArgs, runCli, startRollout } from "../support/fleet.js";
import {
  at,
  byRobot,
  DEPLOY_FLAGS,
  fleetScenario,
  NAMES,
  NEW,
  OLD,
  ROLLOUT_MS,
  rolloutId,
  SCENARIO_MS,
  until,
} from "../support/fleet-scenario.js";

const f = fleetScenario();
const { sys, robot, states, ensureAll, rollout, expectOn } = f;

describe("fleet rollout to 5 lab robots", () => {
  beforeAll(() => f.setUp(), 600_000);

  afterEach(() => f.flagsOff());

  afterAll(() => f.tearDown());

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
      const first = startRollout(
        rolloutArgs(f.fleet, sys(OLD), { all: true }, ["--canary", "1", "--batch", "2", ...DEPLOY_FLAGS]),
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
      first.kill();
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
          f.fleet.inventory,
          "--sign-key",
          f.fleet.signingKey,
          ...DEPLOY_FLAGS,
        ],
        ROLLOUT_MS,
      );
      expect(resumed.code, resumed.stderr).toBe(0);
      const after = await states();
      for (const n of NAMES) expectOn(at(after, n), OLD, n);
      expect(at(after, "fl-1").lastId, "the canary was deployed again").toBe(canaryId);

      const status = await runCli(
        ["rollout", "status", id ?? "", "--inventory", f.fleet.inventory, "--json"],
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
