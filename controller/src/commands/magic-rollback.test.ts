import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { DeploymentState as S } from "@ros-rollback/proto";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { connectAgent } from "../agent-api.js";
import { main } from "../main.js";
import { captureIo } from "../testing/capture-io.js";
import { type FakeAgent, startFakeAgent } from "../testing/fake-agent.js";
import { fakeClosure, pathInfo } from "../testing/fake-closure.js";
import { type FakeNetwork, startFakeNetwork } from "../testing/fake-network.js";
import { makeTestPki, type TestPki } from "../testing/pki.js";
import { healthReport, type SimOptions, SimulatedAgent } from "../testing/simulated-agent.js";

// Deploy with health checks and "magic rollback", against a simulated agent
// (testing/simulated-agent.ts: the agent's behaviour on short timers) on a
// real grpc-js mTLS server, reached through a TCP relay (testing/fake-network.ts)
// that counts connections and can cut them or refuse new ones, as a switch
// or a firewall would.

let dir: string;
let pki: TestPki;
let agent: FakeAgent;
let net: FakeNetwork;
let inventory: string;
let sim: SimulatedAgent;

const SYSTEM = pathInfo("nixos-system-robot1", 3 * 1024, []);
const root = SYSTEM.storePath;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  json: () => Record<string, unknown>;
}

async function cli(argv: string[], options: { tty?: boolean } = {}): Promise<Run> {
  const { io, stdout, stderr } = captureIo({ cwd: dir, tty: options.tty, columns: 100 });
  const deps = { connect: connectAgent, closure: fakeClosure([SYSTEM]) };
  const code = await main(argv, io, deps, new AbortController().signal);
  return {
    code,
    stdout: stdout(),
    stderr: stderr(),
    json: () => JSON.parse(stdout()) as Record<string, unknown>,
  };
}

const target = () => ["--inventory", inventory, "--target", "robot1", "--connect-timeout", "2"];
const deploy = (...extra: string[]) => cli(["deploy", root, ...target(), "--json", ...extra]);
const callsOf = (method: string) => agent.calls.filter((c) => c.method === method);
const only = (method: string) => {
  const calls = callsOf(method);
  expect(calls, method).toHaveLength(1);
  return calls[0] as NonNullable<(typeof calls)[0]>;
};
const states = (doc: Record<string, unknown>) => (doc.events as { state: string }[]).map((e) => e.state);
const healthLines = (stderr: string) => stderr.split("\n").filter((l) => /^robot1: \S+ health /.test(l));

function simulate(options: SimOptions = {}): SimulatedAgent {
  sim = new SimulatedAgent(agent, options);
  agent.handlers.queryMissingPaths = () => [];
  return sim;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ros-rollback-magic-"));
  pki = makeTestPki(dir);
  agent = await startFakeAgent(pki);
  net = await startFakeNetwork(agent.port);
  const robot = {
    address: `127.0.0.1:${net.port}`,
    caFile: "ca.pem",
    certFile: "client.pem",
    keyFile: "client.key",
  };
  inventory = join(dir, "fleet.json");
  writeFileSync(inventory, JSON.stringify({ targets: { robot1: robot, robot2: robot } }));
});

afterAll(async () => {
  await net.close();
  await agent.close();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  agent.handlers = {};
  agent.calls.length = 0;
  agent.cancelled.length = 0;
  net.up();
  Object.assign(net, { accepted: 0, refused: 0 });
});

afterEach(async () => {
  // Let a simulated deployment that outlived its test end before the next one starts.
  // (A simulation that never activated has nothing to wait for.)
  if (sim?.request !== undefined) await Promise.race([sim.done, new Promise((r) => setTimeout(r, 2_000))]);
  net.up();
});

describe("deploy: health and confirmation", () => {
  it("healthy: confirms over a NEW connection (second TLS handshake), then SUCCEEDED: exit 0", async () => {
    const silent = (phase: string, s: number) =>
      healthReport([["topic:/chatter", `topic /chatter silent for ${s} s (max 0.5 s)`]], { phase });
    simulate({
      health: [
        silent("settling", 1),
        silent("settling", 1.5),
        healthReport([], { stableForSeconds: 0 }),
        healthReport([], { stableForSeconds: 1 }),
        healthReport([], { stableForSeconds: 2 }),
      ],
      confirmWindowMs: 2_000,
    });
    writeFileSync(join(dir, "health.json"), JSON.stringify({ drop: ["http:api"] }, null, 2));
    const r = await deploy("--confirm-timeout", "45", "--health", "health.json");

    expect(r.code).toBe(0);
    const doc = r.json();
    expect(doc).toMatchObject({
      outcome: "succeeded",
      exitCode: 0,
      deploymentId: "d-sim-1",
      generation: 42,
      previousGeneration: 41,
      confirmed: true,
      rollbackReason: null,
      health: { healthy: true, phase: "checking", stableForSeconds: 2 },
      error: null,
    });
    // (AWAITING_CONFIRMATION repeats while the agent waits, with each health round.)
    expect(states(doc).filter((st, i, all) => st !== all[i - 1] || st !== "AWAITING_CONFIRMATION")).toEqual([
      "PENDING",
      "PROFILE_SET",
      "ACTIVATING",
      "ACTIVATED",
      "CHECKING_HEALTH",
      "CHECKING_HEALTH",
      "CHECKING_HEALTH",
      "CHECKING_HEALTH",
      "CHECKING_HEALTH",
      "AWAITING_CONFIRMATION",
      "SUCCEEDED",
    ]);
    expect(only("activate").request).toEqual({
      storePath: root,
      action: 1,
      options: {
        confirmTimeoutSeconds: 45,
        selfConfirm: false,
        healthJson: '{"drop":["http:api"]}',
        label: "",
      },
      overrideHolds: [],
    });

    // The Confirm came over a connection of its own: another TCP connection
    // (so another TLS handshake) than the one that carried Activate.
    const activate = only("activate");
    const confirm = only("confirm");
    expect(confirm.request).toEqual({ deploymentId: "d-sim-1" });
    expect(confirm.peer).not.toBe(activate.peer);
    expect(net.accepted).toBe(2);
    expect(agent.calls.filter((c) => c.peer === confirm.peer).map((c) => c.method)).toEqual(["confirm"]);

    // Health rounds compactly: one line per change, not one per round.
    expect(healthLines(r.stderr)).toEqual([
      expect.stringMatching(
        /health settling: 1 of 3 checks failing: topic:\/chatter: topic \/chatter silent for 1 s \(max 0.5 s\)$/,
      ),
      expect.stringMatching(/health checking: healthy \(3 checks\)$/),
    ]);
    expect(r.stderr).toMatch(
      /AWAITING_CONFIRMATION generation 42 \(previous 41\) confirm by \d\d:\d\d:\d\dZ/,
    );
    expect(r.stderr).toContain("robot1: confirming d-sim-1 over a new connection\n");
    expect(r.stderr).toMatch(/robot1: confirmed d-sim-1 over a new connection, [\d.]+ s before the deadline/);
  });

  it("no Confirm gets through (new connections refused): the agent rolls back at the deadline: exit 2, not confirmed", async () => {
    simulate({ onState: (s) => s === S.DEPLOYMENT_STATE_ACTIVATED && net.refuseNew() });
    const started = Date.now();
    const r = await deploy();

    expect(r.code).toBe(2);
    expect(r.json()).toMatchObject({
      outcome: "rolled-back",
      exitCode: 2,
      rollbackReason: "not-confirmed",
      confirmed: false,
    });
    expect(r.json().reason).toMatch(
      /^the deployment was rolled back \(not confirmed\); the robot is back on the previous generation — not confirmed by the deadline; rolled back to generation 41 — could not confirm: the agent stopped waiting for it \(NOT_CONFIRMED\); last attempt: .*UNAVAILABLE/,
    );
    expect(states(r.json()).slice(-3)).toEqual(["NOT_CONFIRMED", "ROLLING_BACK", "ROLLED_BACK"]);
    expect(callsOf("confirm")).toEqual([]);
    expect(net.refused).toBeGreaterThan(0);
    // Seen as it happened, not after a timeout of ours (reconnect grace 60 s, follow 900 s);
    // the margin is wide so a loaded CI machine cannot fail it.
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(r.stderr).toMatch(/^error: the deployment was rolled back \(not confirmed\)/m);
  });

  it("unhealthy: rolled back, the reason names the failing check: exit 2, no Confirm", async () => {
    const failed = healthReport([["unit:talker.service", "unit talker.service failed (Result=exit-code)"]]);
    simulate({ health: [failed, failed] });
    const r = await deploy();

    expect(r.code).toBe(2);
    expect(r.json()).toMatchObject({
      outcome: "rolled-back",
      rollbackReason: "unhealthy",
      confirmed: false,
      health: {
        healthy: false,
        checks: expect.arrayContaining([
          expect.objectContaining({ id: "unit:talker.service", healthy: false }),
        ]),
      },
    });
    expect(r.json().reason).toMatch(
      /^the deployment was rolled back \(unhealthy\); the robot is back on the previous generation — health: unit talker.service failed \(Result=exit-code\)/,
    );
    expect(callsOf("confirm")).toEqual([]);
    expect(healthLines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/ROLLED_BACK generation 42 \(previous 41\) \(rollback reason: unhealthy\)/);
  });

  it("unhealthy with --no-auto-rollback: FAILED and left in place: exit 3", async () => {
    const failed = healthReport([["topic:/chatter", "topic /chatter silent for 9 s (max 2 s)"]]);
    simulate({ health: [failed] });
    const r = await deploy("--no-auto-rollback");
    expect(r.code).toBe(3);
    expect(only("activate").request).toMatchObject({ options: { autoRollback: false } });
    expect(r.json().reason).toMatch(/left in place .* — health: topic \/chatter silent for 9 s/);
  });

  it("stream cut while awaiting confirmation, agent reachable again: reconnects and confirms: exit 0", async () => {
    simulate({
      confirmWindowMs: 1_500,
      onState: (s) => {
        // New connections fail from the switch on; the Activate stream dies while the agent waits.
        if (s === S.DEPLOYMENT_STATE_ACTIVATED) net.refuseNew();
        if (s !== S.DEPLOYMENT_STATE_AWAITING_CONFIRMATION) return;
        setTimeout(() => net.down(), 30);
        setTimeout(() => net.up(), 250);
      },
    });
    const r = await deploy();

    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({ outcome: "succeeded", confirmed: true });
    expect(net.refused).toBeGreaterThan(0);
    expect(only("confirm").peer).not.toBe(only("activate").peer);
    expect(r.stderr).toMatch(
      /robot1: lost the event stream \(\w+\); asking the agent for the outcome of d-sim-1/,
    );
    expect(r.stderr).toMatch(/robot1: cannot confirm yet \(robot1: UNAVAILABLE: cannot reach the agent/);
    expect(r.stderr).toMatch(/robot1: confirmed d-sim-1 over a new connection/);
  });

  it("network down from the switch on (deadline unknown), back before the deadline: reconnects, confirms: exit 0", async () => {
    simulate({
      confirmWindowMs: 1_500,
      onState: (s) => {
        if (s !== S.DEPLOYMENT_STATE_ACTIVATED) return;
        net.down();
        setTimeout(() => net.up(), 200);
      },
    });
    const r = await deploy();

    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({ outcome: "succeeded", confirmed: true });
    expect(r.json().reason).toMatch(/followed on a new connection after the event stream broke$/);
    expect(states(r.json())).toContain("AWAITING_CONFIRMATION"); // seen on the Watch stream
    expect(only("confirm").peer).not.toBe(only("activate").peer);
    expect(callsOf("watch").length).toBeGreaterThan(0);
  });

  it("unreachable until after the deadline, then the agent reports ROLLED_BACK: exit 2, not confirmed", async () => {
    simulate({
      confirmWindowMs: 200,
      onState: (s) => {
        if (s === S.DEPLOYMENT_STATE_ACTIVATED) net.down();
        if (s === S.DEPLOYMENT_STATE_ROLLED_BACK) setTimeout(() => net.up(), 50);
      },
    });
    const r = await deploy("--follow-timeout", "10");

    expect(r.code).toBe(2);
    expect(r.json()).toMatchObject({
      outcome: "rolled-back",
      rollbackReason: "not-confirmed",
      confirmed: false,
    });
    expect(r.json().reason).toMatch(
      /^the deployment was rolled back \(not confirmed\); .* — learned from the agent's status after the event stream broke: not confirmed by the deadline; rolled back to generation 41$/,
    );
    expect(callsOf("confirm")).toEqual([]);
    expect(r.stderr).toContain("robot1: d-sim-1 ended ROLLED_BACK (agent status)");
  });

  it("unreachable past the confirm deadline + --reconnect-grace: exit 3, says the agent rolls back by itself", async () => {
    simulate({
      confirmWindowMs: 300,
      onState: (s) => {
        if (s === S.DEPLOYMENT_STATE_ACTIVATED) net.refuseNew();
        if (s === S.DEPLOYMENT_STATE_AWAITING_CONFIRMATION) setTimeout(() => net.down(), 30);
      },
    });
    const started = Date.now();
    const r = await deploy("--reconnect-grace", "0.3");

    expect(r.code).toBe(3);
    expect(r.json()).toMatchObject({ outcome: "uncertain", exitCode: 3, confirmed: false });
    expect(r.json().reason).toMatch(
      /could not reach the agent again by the confirm deadline \(\d\d:\d\d:\d\dZ\) \+ 0.3 s \(.*UNAVAILABLE.*\); unless it was confirmed, the agent rolls back by itself$/,
    );
    expect(callsOf("confirm")).toEqual([]);
    // Gave up soon after deadline + grace (plus the confirm attempts' latency slack), not after --follow-timeout.
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it("--no-magic-rollback: not confirmed (new connections refused) and kept: exit 0, confirmed false", async () => {
    simulate({ onState: (s) => s === S.DEPLOYMENT_STATE_ACTIVATED && net.refuseNew() });
    const r = await deploy("--no-magic-rollback");

    expect(r.code).toBe(0);
    expect(only("activate").request).toMatchObject({ options: { magicRollback: false } });
    expect(r.json()).toMatchObject({ outcome: "succeeded", confirmed: false, rollbackReason: null });
    expect(r.json().reason).toMatch(/NOT confirmed and is kept because magic rollback is off/);

    // The failed attempts leave nothing behind that tries again (grpc-js retries a failed
    // subchannel after ~1 s of backoff, even for a closed client, unless told not to).
    const attempts = net.accepted + net.refused;
    await new Promise((resolve) => setTimeout(resolve, 1_300));
    expect(net.accepted + net.refused).toBe(attempts);
  });

  it("--no-confirm: the agent confirms itself once healthy; no Confirm is sent: exit 0", async () => {
    simulate();
    const r = await deploy("--no-confirm");

    expect(r.code).toBe(0);
    expect(only("activate").request).toMatchObject({ options: { selfConfirm: true } });
    expect(callsOf("confirm")).toEqual([]);
    expect(net.accepted).toBe(1);
    expect(r.json()).toMatchObject({ outcome: "succeeded", confirmed: true });
    expect(states(r.json()).slice(-2)).toEqual(["CHECKING_HEALTH", "SUCCEEDED"]);
  });

  it("boot: ends at AWAITING_REBOOT (exit 0); after the reboot `confirm` keeps it over a new connection", async () => {
    simulate();
    const r = await deploy("--action", "boot");
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({ outcome: "awaiting-reboot", confirmed: false, generation: 42 });
    expect(r.json().reason).toMatch(/boot default; after the next boot .*`ros-rollback confirm`/);
    expect(callsOf("confirm")).toEqual([]);

    sim.rebooted();
    await waitFor(() => sim.current?.state === S.DEPLOYMENT_STATE_AWAITING_CONFIRMATION);
    const c = await cli(["confirm", "robot1", "--inventory", inventory, "--json"]);
    expect(c.code).toBe(0);
    expect(c.json()).toMatchObject({
      target: "robot1",
      deploymentId: "d-sim-1",
      confirmed: true,
      deployment: { id: "d-sim-1", state: "SUCCEEDED", generation: 42 },
    });
    await sim.done;
    expect(sim.last?.state).toBe(S.DEPLOYMENT_STATE_SUCCEEDED);
  });
});

describe("confirm", () => {
  it("TARGET positional overrides --target; without ID confirms the deployment awaiting confirmation", async () => {
    // A deployment that waits, whose controller went away (the agent runs it on its own).
    simulate({ confirmWindowMs: 5_000 });
    agent.handlers.activate?.({ storePath: root, action: 1, options: undefined, overrideHolds: [] });
    await waitFor(() => sim.current?.state === S.DEPLOYMENT_STATE_AWAITING_CONFIRMATION);
    const r = await cli(["confirm", "robot2", "--inventory", inventory, "--target", "robot-unknown"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("robot2: confirmed d-sim-1 (SUCCEEDED, generation 42); the agent keeps it\n");
    expect(r.stderr).toMatch(/^robot2: d-sim-1 awaits confirmation until \d\d:\d\d:\d\dZ\n$/);
    await sim.done;
  });

  it("exit 1 when nothing awaits confirmation, naming the last deployment", async () => {
    simulate();
    await deploy("--no-confirm");
    const r = await cli(["confirm", ...target(), "--json"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      "error: robot1: no deployment awaits confirmation (none is in progress; the last one, d-sim-1, ended SUCCEEDED)\n",
    );
    expect(r.json()).toMatchObject({ error: { exitCode: 1, target: "robot1", deploymentId: "d-sim-1" } });
    expect(callsOf("confirm")).toEqual([]);
  });

  it("exit 1 for an unknown ID (NOT_FOUND) and for a rolled-back one (FAILED_PRECONDITION names the state)", async () => {
    const failed = healthReport([["unit:talker.service", "unit talker.service failed"]]);
    simulate({ health: [failed] });
    expect((await deploy()).code).toBe(2);
    const unknown = await cli(["confirm", "robot1", "d-nope", "--inventory", inventory]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe("error: robot1: NOT_FOUND: no deployment d-nope\n");
    const late = await cli(["confirm", "robot1", "d-sim-1", "--inventory", inventory]);
    expect(late.code).toBe(1);
    expect(late.stderr).toBe(
      "error: robot1: FAILED_PRECONDITION: deployment d-sim-1 is ROLLED_BACK, not awaiting confirmation\n",
    );
  });
});

describe("watch", () => {
  it("streams a deployment live as plain lines (not a TTY) and exits like deploy: rolled back = 2; never confirms", async () => {
    simulate({ confirmWindowMs: 300 });
    agent.handlers.activate?.({ storePath: root, action: 1, options: undefined, overrideHolds: [] });
    await waitFor(() => sim.current?.state === S.DEPLOYMENT_STATE_CHECKING_HEALTH);
    const r = await cli(["watch", "robot1", "--inventory", inventory]);

    expect(r.code).toBe(2);
    expect(callsOf("confirm")).toEqual([]);
    const lines = r.stderr.trimEnd().split("\n");
    // Starts with the deployment's latest state.
    expect(lines[0]).toMatch(
      /^robot1: \S+ (CHECKING_HEALTH|AWAITING_CONFIRMATION) generation 42 \(previous 41\)/,
    );
    expect(r.stderr).toMatch(/^robot1: \S+ health checking: healthy \(3 checks\)$/m);
    expect(r.stderr).toMatch(
      /^robot1: \S+ AWAITING_CONFIRMATION generation 42 \(previous 41\) confirm by \S+Z$/m,
    );
    expect(r.stderr).toMatch(/^robot1: \S+ ROLLED_BACK .*\(rollback reason: not confirmed\)/m);
    expect(r.stderr).not.toContain("\r");
    expect(r.stdout).toMatch(
      /^robot1: deploy rolled-back \(generation 42, previous 41\): the deployment was rolled back \(not confirmed\)/,
    );
  });

  it("--json: JSON Lines, one event per line and the result last", async () => {
    simulate({ confirmWindowMs: 3_000 });
    agent.handlers.activate?.({ storePath: root, action: 1, options: undefined, overrideHolds: [] });
    await waitFor(() => sim.current?.state === S.DEPLOYMENT_STATE_AWAITING_CONFIRMATION);
    setTimeout(() => void cli(["confirm", "robot1", "--inventory", inventory]), 100);
    const r = await cli(["watch", ...target(), "--json"]);

    expect(r.code).toBe(0);
    const lines = r.stdout
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.length).toBeGreaterThan(2);
    const events = lines.slice(0, -1);
    expect(
      events.every((e) => e.type === "event" && e.target === "robot1" && e.deploymentId === "d-sim-1"),
    ).toBe(true);
    expect(events[0]).toMatchObject({ state: "AWAITING_CONFIRMATION", confirmDeadline: expect.any(String) });
    expect(events[events.length - 1]).toMatchObject({ state: "SUCCEEDED", final: true });
    expect(lines[lines.length - 1]).toMatchObject({
      type: "result",
      target: "robot1",
      deploymentId: "d-sim-1",
      outcome: "succeeded",
      exitCode: 0,
    });
    expect(lines[lines.length - 1]).not.toHaveProperty("events");
  });

  it("on a TTY keeps a live countdown line under the event lines", async () => {
    simulate({ confirmWindowMs: 400 });
    agent.handlers.activate?.({ storePath: root, action: 1, options: undefined, overrideHolds: [] });
    await waitFor(() => sim.current?.state === S.DEPLOYMENT_STATE_AWAITING_CONFIRMATION);
    const r = await cli(["watch", ...target()], { tty: true });
    expect(r.code).toBe(2);
    const screen = r.stderr.replaceAll("\x1b[2K", "<clear>");
    expect(screen).toMatch(
      /\r<clear>robot1: AWAITING_CONFIRMATION · healthy · awaiting confirmation: [\d.]+ s left \(confirm by \S+Z\)/,
    );
    // Event lines first clear the live line, then it is drawn again below them.
    expect(screen).toMatch(/\r<clear>robot1: \S+ ROLLED_BACK .*\n/);
    expect(screen.endsWith("\r<clear>")).toBe(true);
  });

  it("shows what the switch did to units: a line as soon as reported, and in the result", async () => {
    const units = {
      stopped: [],
      started: ["rosbag.service"],
      restarted: ["listener.service", "talker.service"],
      reloaded: [],
      known: true,
    };
    simulate({ confirmWindowMs: 300, unitChanges: units });
    agent.handlers.activate?.({ storePath: root, action: 1, options: undefined, overrideHolds: [] });
    await waitFor(() => sim.current?.state === S.DEPLOYMENT_STATE_CHECKING_HEALTH);
    const r = await cli(["watch", "robot1", "--inventory", inventory]);
    expect(r.code).toBe(2);
    const text = "started: rosbag.service; restarted: listener.service, talker.service";
    // Once, however many events carry it.
    expect(r.stderr.split("\n").filter((l) => l.startsWith("robot1: units: "))).toEqual([
      `robot1: units: ${text}`,
    ]);
    expect(r.stdout).toMatch(new RegExp(`^units: ${text}$`, "m"));
  });

  it("a finished deployment's unit changes come from its record when no event is left to carry them", async () => {
    simulate({
      unitChanges: { stopped: [], started: [], restarted: ["talker.service"], reloaded: [], known: true },
    });
    await deploy("--no-confirm");
    // Watch of an agent that only says the final state, without the report (an older agent).
    const real = agent.handlers.watch;
    agent.handlers.watch = () => [
      { event: { ...sim.emitted[sim.emitted.length - 1], unitChanges: undefined, final: true } },
    ];
    const r = await cli(["watch", ...target()]);
    agent.handlers.watch = real;
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^units: restarted: talker\.service$/m);
  });

  it("with no deployment in progress shows how the last one ended", async () => {
    simulate();
    await deploy("--no-confirm");
    const r = await cli(["watch", ...target(), "--json"]);
    expect(r.code).toBe(0);
    const lines = r.stdout
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({ type: "result", outcome: "succeeded", deploymentId: "d-sim-1" });
  });

  it("exit 1 as one JSON line when the agent is unreachable", async () => {
    net.down();
    const r = await cli(["watch", "robot1", "--inventory", inventory, "--json", "--connect-timeout", "0.5"]);
    expect(r.code).toBe(1);
    expect(r.stdout.trimEnd().split("\n")).toHaveLength(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: { exitCode: 1, status: "UNAVAILABLE" } });
  });
});

describe("health", () => {
  it("exit 0 when every check passes", async () => {
    simulate({ checkHealth: healthReport() });
    const r = await cli(["health", "robot1", "--inventory", inventory]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^robot1: healthy: 3 checks healthy\n {2}ok {4}unit:talker.service {2}ok \(3 ms\)\n/,
    );
  });

  it("exit 5 when a check fails; --json lists the checks", async () => {
    simulate({
      checkHealth: healthReport([["topic:/chatter", "topic /chatter silent for 3.2 s (max 2 s)"]]),
    });
    const r = await cli(["health", "robot1", "--inventory", inventory, "--json"]);
    expect(r.code).toBe(5);
    expect(r.json()).toMatchObject({
      target: "robot1",
      healthy: false,
      reason: "topic /chatter silent for 3.2 s (max 2 s)",
      checks: expect.arrayContaining([
        {
          id: "topic:/chatter",
          kind: "topic",
          healthy: false,
          reason: "topic /chatter silent for 3.2 s (max 2 s)",
          durationMs: 3,
        },
      ]),
    });
  });

  it("exit 1 when the agent refuses or cannot be reached", async () => {
    simulate({
      checkHealth: { error: { code: status.UNIMPLEMENTED, details: "no health checks configured" } },
    });
    const refused = await cli(["health", "robot1", "--inventory", inventory]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe("error: robot1: UNIMPLEMENTED: no health checks configured\n");
    net.down();
    const down = await cli(["health", "robot1", "--inventory", inventory, "--connect-timeout", "0.5"]);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^error: robot1: UNAVAILABLE: cannot reach the agent/);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}
