import { status } from "@grpc/grpc-js";
import { type Hold, HoldSource } from "@ros-rollback/proto";
import { beforeEach, describe, expect, it } from "vitest";
import { InterruptedError } from "../core/errors.js";
import { virtualClock } from "../testing/capture-io.js";
import { useCliRig } from "../testing/cli-rig.js";
import { pathInfo } from "../testing/fake-closure.js";
import { acceptPush } from "../testing/robot-fixtures.js";
import { type SimOptions, SimulatedAgent } from "../testing/simulated-agent.js";

// deploy --wait-for-release against a simulated agent that refuses Activate while
// held (FAILED_PRECONDITION, trailer code HELD), over real gRPC with mutual TLS on
// 127.0.0.1. The controller's clock is virtual: a wait of minutes takes milliseconds.

const SYSTEM = pathInfo("nixos-system-robot1", 3 * 1024, []);
const CLOSURE = [pathInfo("glibc", 64 * 1024), SYSTEM];

const hold = (name: string, reason: string, source = HoldSource.HOLD_SOURCE_FILE): Hold => ({
  name,
  source,
  reason,
  sinceUnixMs: Date.UTC(2026, 0, 1),
  expiresAtUnixMs: 0,
});
const MISSION = hold("mission", "executing waypoint 3");
const OPERATOR = hold("operator", "filming a demo", HoldSource.HOLD_SOURCE_COMMAND);

const rig = useCliRig({ name: "wait", closure: CLOSURE });
beforeEach(() => rig.reset());

/** A fresh simulated robot holding `holds`. */
function robot(holds: Hold[], o: SimOptions = {}): SimulatedAgent {
  rig.agent.handlers = { queryMissingPaths: (paths) => paths, pushPaths: acceptPush };
  const sim = new SimulatedAgent(rig.agent, { stepMs: 2, confirmWindowMs: 5_000, ...o });
  sim.holds = holds;
  return sim;
}

function deploy(...flags: string[]) {
  return deployUntil(new AbortController().signal, ...flags);
}

async function deployUntil(signal: AbortSignal, ...flags: string[]) {
  const clock = virtualClock();
  const argv = ["deploy", SYSTEM.storePath, ...rig.target(), ...flags];
  const r = await rig.run(argv, { now: clock.now, sleep: clock.sleep, signal });
  return { ...r, slept: clock.slept() };
}

const activations = () => rig.methods().filter((m) => m === "activate").length;

describe("deploy to a held robot", () => {
  it("without --wait-for-release: exit 1 naming every hold, after the transfer, nothing activated", async () => {
    const sim = robot([MISSION, OPERATOR]);
    const r = await deploy("--json");
    expect(r.code).toBe(1);
    expect(r.json()).toMatchObject({
      outcome: "unchanged",
      exitCode: 1,
      deploymentId: null,
      held: {
        holds: [
          { name: "mission", source: "file", reason: "executing waypoint 3" },
          { name: "operator", source: "command", reason: "filming a demo" },
        ],
        waitedSeconds: 0,
        released: false,
      },
    });
    expect(r.stderr).toMatch(
      /^error: robot1: FAILED_PRECONDITION: the robot is held: hold "mission": executing waypoint 3; hold "operator": filming a demo \(to go ahead anyway: --override-hold mission --override-hold operator\)$/m,
    );
    // Pushing while held changes nothing running: the paths are there for later.
    expect(rig.methods()).toContain("pushPaths");
    expect(sim.refusedHeld).toBe(1);
    expect(sim.current ?? sim.last).toBeUndefined();
  });

  it("waits, printing the holds as they change, and deploys once none is left (exit 0)", async () => {
    const sim = robot([MISSION, OPERATOR], {
      // GetStatus answers: 1 prepare, 2 the first poll, ...
      afterStatus: (n) => {
        if (n === 3) sim.holds = [MISSION];
        if (n === 5) sim.holds = [];
      },
    });
    const r = await deploy("--wait-for-release", "600", "--json");
    expect(r.code).toBe(0);
    const doc = r.json();
    expect(doc).toMatchObject({
      outcome: "succeeded",
      confirmed: true,
      held: { released: true, holds: [{ name: "mission" }, { name: "operator" }] },
    });
    expect((doc.held as { waitedSeconds: number }).waitedSeconds).toBeGreaterThanOrEqual(2);
    const lines = r.stderr.split("\n").filter((l) => /held|released/.test(l));
    expect(lines).toEqual([
      'robot1: held, waiting up to 10:00 for release: file hold "mission": executing waypoint 3; command hold "operator": filming a demo',
      'robot1: held: file hold "mission": executing waypoint 3',
      expect.stringMatching(/^robot1: released after \d+ s$/),
    ]);
    expect(sim.refusedHeld).toBe(1);
    expect(activations()).toBe(2);
    expect(sim.last?.id).toBe("d-sim-1");
  });

  it("says how long it waited in the text report", async () => {
    const sim = robot([MISSION], {
      afterStatus: (n) => {
        if (n === 2) sim.holds = [];
      },
    });
    const r = await deploy("--wait-for-release", "30");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^waited \d+ s for release: file hold "mission": executing waypoint 3$/m);
  });

  it("gives up when the time runs out: exit 1, one line naming the holds, nothing activated", async () => {
    const sim = robot([MISSION]);
    const r = await deploy("--wait-for-release", "5", "--json");
    expect(r.code).toBe(1);
    expect(r.json()).toMatchObject({
      outcome: "unchanged",
      held: { released: false, holds: [{ name: "mission" }], waitedSeconds: 5 },
    });
    expect(r.stderr).toMatch(
      /^error: robot1: still held after 5 s \(--wait-for-release 5\): file hold "mission": executing waypoint 3; nothing was changed$/m,
    );
    expect(sim.refusedHeld).toBe(1);
    expect(activations()).toBe(1);
    expect(sim.current ?? sim.last).toBeUndefined();
    // About one poll a second for 5 s, not a busy loop.
    const polls = rig.methods().filter((m) => m === "getStatus").length;
    expect(polls).toBeGreaterThanOrEqual(5);
    expect(polls).toBeLessThanOrEqual(8);
  });

  it("a hold that comes back between the poll and Activate is refused again: it keeps waiting", async () => {
    const sim = robot([MISSION], {
      afterStatus: (n) => {
        // Poll 3 says free; an operator's hold comes right after it, before the Activate.
        if (n === 2) sim.holds = [];
        if (n === 3) sim.holds = [OPERATOR];
        if (n === 5) sim.holds = [];
      },
    });
    const r = await deploy("--wait-for-release", "60");
    expect(r.code).toBe(0);
    expect(sim.refusedHeld).toBe(2);
    expect(activations()).toBe(3);
    expect(sim.last?.id).toBe("d-sim-1");
    expect(r.stderr).toMatch(/robot1: held: command hold "operator": filming a demo/);
  });

  it("Ctrl-C while waiting: exit 1, nothing changed", async () => {
    const interrupt = new AbortController();
    const sim = robot([MISSION], {
      afterStatus: (n) => {
        if (n === 3) interrupt.abort(new InterruptedError());
      },
    });
    const r = await deployUntil(interrupt.signal, "--wait-for-release", "600", "--json");
    expect(r.code).toBe(1);
    expect(r.json()).toMatchObject({ outcome: "unchanged", held: { released: false } });
    expect(r.stderr).toMatch(
      /^error: interrupted while waiting for release; nothing was changed on robot1$/m,
    );
    expect(activations()).toBe(1);
    expect(sim.current ?? sim.last).toBeUndefined();
  });

  it("a poll that fails is said once and the wait goes on", async () => {
    const sim = robot([MISSION]);
    const real = rig.agent.handlers.getStatus;
    let n = 0;
    rig.agent.handlers.getStatus = () => {
      n++;
      if (n === 3 || n === 4) return { error: { code: status.UNAVAILABLE, details: "link down" } };
      if (n === 5) sim.holds = [];
      return real?.() ?? { error: { code: status.INTERNAL, details: "no status" } };
    };
    const r = await deploy("--wait-for-release", "60");
    expect(r.code).toBe(0);
    expect(
      r.stderr.match(/could not read the holds \(robot1: UNAVAILABLE: link down\); still waiting/g),
    ).toHaveLength(1);
  });

  it("another refusal (a deployment under way) is not waited for: exit 1 at once", async () => {
    robot([]);
    rig.agent.handlers.activate = () => [
      {
        error: {
          code: status.FAILED_PRECONDITION,
          details: "deployment d-0 is still running",
          agentCode: "FAILED_PRECONDITION",
        },
      },
    ];
    const r = await deploy("--wait-for-release", "60", "--json");
    expect(r.code).toBe(1);
    expect(r.json()).toMatchObject({ outcome: "unchanged", held: null });
    expect(r.slept).toBe(0);
    expect(activations()).toBe(1);
  });

  it("refuses a bad --wait-for-release before touching the robot (exit 1, usage)", async () => {
    robot([]);
    for (const v of ["0", "-1", "1.5", "soon", "", "86401", "99999999999", " 5"]) {
      const r = await deploy(`--wait-for-release=${v}`);
      expect(r.code, v).toBe(1);
      expect(r.stderr, v).toMatch(
        /^error: --wait-for-release: expected whole seconds from 1 to 86400, got ".{0,40}"\n/,
      );
      expect(r.stderr.split("\n")[0]?.length ?? 0).toBeLessThan(200);
    }
    expect(rig.agent.calls).toEqual([]);
  });
});

describe("a hold released and re-added while the controller polls (a real race)", () => {
  it("never gives up while time is left and deploys in a moment without a hold", async () => {
    for (let round = 0; round < 5; round++) {
      const sim = robot([MISSION]);
      // Once the first Activate was refused, flips the hold on its own timer,
      // independently of the polls and Activates, then lets go for good.
      let flips = 0;
      const flipper = setInterval(() => {
        if (sim.refusedHeld === 0) return;
        flips++;
        sim.holds = flips >= 40 ? [] : flips % 2 === 0 ? [MISSION] : [];
        if (flips >= 40) clearInterval(flipper);
      }, 1);
      // Every Activate the agent accepted happened while no hold was set (the sim
      // refuses otherwise); count what it saw.
      const r = await deploy("--wait-for-release", "3600", "--json");
      clearInterval(flipper);
      expect(r.code, r.stderr).toBe(0);
      expect(activations()).toBe(sim.refusedHeld + 1);
      expect(sim.last?.state).toBeDefined();
      expect(r.json()).toMatchObject({ outcome: "succeeded", held: { released: true } });
      rig.agent.calls.length = 0;
    }
  });
});
