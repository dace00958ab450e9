import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Hold, HoldSource, type PushPathsRequest } from "@ros-rollback/proto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { connectAgent } from "../agent-api.js";
import { main } from "../main.js";
import { captureIo, virtualClock } from "../testing/capture-io.js";
import { type FakeAgent, startFakeAgent } from "../testing/fake-agent.js";
import { fakeClosure, pathInfo } from "../testing/fake-closure.js";
import { makeTestPki } from "../testing/pki.js";
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

let dir: string;
let agent: FakeAgent;
let inventory: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ros-rollback-override-"));
  agent = await startFakeAgent(makeTestPki(dir));
  inventory = join(dir, "fleet.json");
  const robot = {
    address: `127.0.0.1:${agent.port}`,
    caFile: "ca.pem",
    certFile: "client.pem",
    keyFile: "client.key",
  };
  writeFileSync(inventory, JSON.stringify({ targets: { robot1: robot } }));
});
afterAll(async () => {
  await agent.close();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  agent.calls.length = 0;
});

function robot(holds: Hold[]): SimulatedAgent {
  agent.handlers = {
    queryMissingPaths: (paths) => paths,
    pushPaths: (received: PushPathsRequest[]) => ({
      imported: received.flatMap((m) => (m.item?.$case === "path" ? [m.item.value.storePath] : [])),
      skipped: [],
      narBytes: 0,
    }),
  };
  const sim = new SimulatedAgent(agent, { stepMs: 2, confirmWindowMs: 5_000 });
  sim.holds = holds;
  return sim;
}

async function cli(...argv: string[]) {
  const clock = virtualClock();
  const { io, stdout, stderr } = captureIo({ cwd: dir, now: clock.now, sleep: clock.sleep });
  const code = await main(
    [...argv, "--inventory", inventory, "--target", "robot1", "--connect-timeout", "3"],
    io,
    { connect: connectAgent, closure: fakeClosure(CLOSURE) },
    new AbortController().signal,
  );
  return {
    code,
    stdout: stdout(),
    stderr: stderr(),
    json: () => JSON.parse(stdout()) as Record<string, unknown>,
  };
}
const deploy = (...flags: string[]) => cli("deploy", SYSTEM.storePath, ...flags);
const activateRequests = () => agent.calls.filter((c) => c.method === "activate").map((c) => c.request);

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
    expect(agent.calls).toEqual([]);
  });
});
