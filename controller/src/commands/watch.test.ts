import { DeploymentState as S } from "@ros-rollback/proto";
import { describe, expect, it } from "vitest";
import { waitFor } from "../testing/cli-rig.js";
import { SIM_SYSTEM, useSimRig } from "../testing/sim-rig.js";

// watch against a simulated agent (testing/sim-rig.ts:
// the agent's behaviour on short timers) on a real grpc-js mTLS server, reached
// through a TCP relay that counts connections and can cut them or refuse new
// ones, as a switch or a firewall would.

const sr = useSimRig("watch");
const { cli, deploy, target, callsOf, simulate } = sr;

describe("watch", () => {
  it("streams a deployment live as plain lines (not a TTY) and exits like deploy: rolled back = 2; never confirms", async () => {
    // The confirm window opens once watch is connected: a loaded host must not make it miss the start.
    simulate({ confirmWindowMs: 300, beforeAwaiting: () => waitFor(() => callsOf("watch").length > 0) });
    sr.rig.agent.handlers.activate?.({
      storePath: SIM_SYSTEM.storePath,
      action: 1,
      options: undefined,
      overrideHolds: [],
    });
    await waitFor(() => sr.sim.current?.state === S.DEPLOYMENT_STATE_CHECKING_HEALTH);
    const r = await cli(["watch", "robot1", "--inventory", sr.rig.inventory]);

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
    // A window a loaded host cannot miss (the Confirm ends it early).
    simulate({ confirmWindowMs: 60_000 });
    sr.rig.agent.handlers.activate?.({
      storePath: SIM_SYSTEM.storePath,
      action: 1,
      options: undefined,
      overrideHolds: [],
    });
    await waitFor(() => sr.sim.current?.state === S.DEPLOYMENT_STATE_AWAITING_CONFIRMATION);
    // Confirmed once watch is connected, so it sees the deployment awaiting confirmation first.
    const confirmed = waitFor(() => callsOf("watch").length > 0, 15_000).then(() =>
      cli(["confirm", "robot1", "--inventory", sr.rig.inventory]),
    );
    const r = await cli(["watch", ...target(), "--json"]);
    expect((await confirmed).code).toBe(0);

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
    sr.rig.agent.handlers.activate?.({
      storePath: SIM_SYSTEM.storePath,
      action: 1,
      options: undefined,
      overrideHolds: [],
    });
    await waitFor(() => sr.sim.current?.state === S.DEPLOYMENT_STATE_AWAITING_CONFIRMATION);
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
    simulate({
      confirmWindowMs: 300,
      unitChanges: units,
      beforeAwaiting: () => waitFor(() => callsOf("watch").length > 0),
    });
    sr.rig.agent.handlers.activate?.({
      storePath: SIM_SYSTEM.storePath,
      action: 1,
      options: undefined,
      overrideHolds: [],
    });
    await waitFor(() => sr.sim.current?.state === S.DEPLOYMENT_STATE_CHECKING_HEALTH);
    const r = await cli(["watch", "robot1", "--inventory", sr.rig.inventory]);
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
    const real = sr.rig.agent.handlers.watch;
    sr.rig.agent.handlers.watch = () => [
      { event: { ...sr.sim.emitted[sr.sim.emitted.length - 1], unitChanges: undefined, final: true } },
    ];
    const r = await cli(["watch", ...target()]);
    sr.rig.agent.handlers.watch = real;
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
    sr.rig.net.down();
    const r = await cli([
      "watch",
      "robot1",
      "--inventory",
      sr.rig.inventory,
      "--json",
      "--connect-timeout",
      "0.5",
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout.trimEnd().split("\n")).toHaveLength(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: { exitCode: 1, status: "UNAVAILABLE" } });
  });
});
