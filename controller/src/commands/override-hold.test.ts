import { type Hold, HoldSource } from "@ros-rollback/proto";
import { beforeEach, describe, expect, it } from "vitest";
import { virtualClock } from "../testing/capture-io.js";
import { useCliRig } from "../testing/cli-rig.js";
import { pathInfo } from "../testing/fake-closure.js";
import { acceptPush } from "../testing/robot-fixtures.js";
import { SimulatedAgent } from "../testing/simulated-agent.js";

// deploy --override-hold against a simulated agent that refuses Activate while held
// except for the holds the request names, over real gRPC with mutual TLS on 127.0.0.1.

const SYSTEM = pathInfo("nixos-system-robot1", 3 * 1024, []);
const CLOSURE = [pathInfo("glibc", 64 * 1024), SYSTEM];
const hold = (name: string, reason: string, source: HoldSource): Hold => ({
  name,
  source,
  reason,
  sinceUnixMs: 0,
  expiresAtUnixMs: 0,
});
const TOPIC = hold(
  "topic:/mission_state",
  "cannot read /mission_state: ROS master down",
  HoldSource.HOLD_SOURCE_CONDITION,
);
const OPERATOR = hold("operator", "filming a demo", HoldSource.HOLD_SOURCE_COMMAND);

const rig = useCliRig({ name: "override", closure: CLOSURE });
beforeEach(() => rig.reset());

function robot(holds: Hold[]): SimulatedAgent {
  rig.agent.handlers = { queryMissingPaths: (paths) => paths, pushPaths: acceptPush };
  const sim = new SimulatedAgent(rig.agent, { stepMs: 2, confirmWindowMs: 5_000 });
  sim.holds = holds;
  return sim;
}

function cli(...argv: string[]) {
  const clock = virtualClock();
  return rig.run([...argv, ...rig.target()], { now: clock.now, sleep: clock.sleep });
}
const deploy = (...flags: string[]) => cli("deploy", SYSTEM.storePath, ...flags);
const activateRequests = () => rig.agent.calls.filter((c) => c.method === "activate").map((c) => c.request);

describe("deploy --override-hold", () => {
  it("overriding one of two holds: still refused, naming the other and the flag to type; exit 1", async () => {
    const sim = robot([TOPIC, OPERATOR]);
    const r = await deploy("--override-hold", "topic:/mission_state", "--json");
    expect(r.code).toBe(1);
    expect(activateRequests()).toMatchObject([{ overrideHolds: ["topic:/mission_state"] }]);
    expect(r.stderr).toMatch(/^warning: overriding hold\(s\): topic:\/mission_state$/m);
    expect(r.stderr).toMatch(
      /^error: robot1: FAILED_PRECONDITION: the robot is held: hold "operator": filming a demo \(to go ahead anyway: --override-hold operator\)$/m,
    );
    expect(r.json()).toMatchObject({ outcome: "unchanged", overrideHolds: ["topic:/mission_state"] });
    expect(sim.current ?? sim.last).toBeUndefined();
  });

  it("naming every hold: warns before acting, deploys, and the report and status carry the override", async () => {
    const sim = robot([TOPIC, OPERATOR]);
    const r = await deploy(
      "--override-hold",
      "operator",
      "--override-hold",
      "topic:/mission_state",
      "--json",
    );
    expect(r.code).toBe(0);
    expect(activateRequests()).toMatchObject([{ overrideHolds: ["operator", "topic:/mission_state"] }]);
    const warning = r.stderr.indexOf("warning: overriding hold(s): operator, topic:/mission_state\n");
    expect(warning).toBeGreaterThanOrEqual(0);
    expect(warning).toBeLessThan(r.stderr.indexOf("robot1: activating"));
    expect(r.json()).toMatchObject({
      outcome: "succeeded",
      overrideHolds: ["operator", "topic:/mission_state"],
    });
    expect(sim.last?.overriddenHolds).toEqual(["topic:/mission_state", "operator"]);
    const st = await cli("status");
    expect(st.stdout).toMatch(/^ {2}overrode: {4}hold\(s\) topic:\/mission_state, operator$/m);
  });

  it("without holds the override changes nothing: no hold was overridden", async () => {
    const sim = robot([]);
    const r = await deploy("--override-hold", "mission");
    expect(r.code).toBe(0);
    expect(sim.last?.overriddenHolds).toEqual([]);
  });

  it("a bad name is a usage error before anything is asked of the robot", async () => {
    robot([OPERATOR]);
    const r = await deploy("--override-hold", "bad\u0007name");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--override-hold: "bad\\u0007name" (8 characters) is not a hold name');
    expect(rig.agent.calls).toEqual([]);
  });
});
