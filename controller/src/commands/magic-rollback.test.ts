import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { DeploymentState as S } from "@ros-rollback/proto";
import { describe, expect, it } from "vitest";
import { waitFor } from "../testing/cli-rig.js";
import { healthLines, SIM_SYSTEM, states, useSimRig } from "../testing/sim-rig.js";
import { healthReport } from "../testing/simulated-agent.js";

// Deploy with health checks and "magic rollback",
// against a simulated agent (testing/sim-rig.ts:
// the agent's behaviour on short timers) on a real grpc-js mTLS server, reached
// through a TCP relay that counts connections and can cut them or refuse new
// ones, as a switch or a firewall would.

const sr = useSimRig("magic");
const { cli, deploy, callsOf, only, simulate } = sr;

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
    writeFileSync(join(sr.rig.dir, "health.json"), JSON.stringify({ drop: ["http:api"] }, null, 2));
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
      storePath: SIM_SYSTEM.storePath,
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
    expect(sr.rig.net.accepted).toBe(2);
    expect(sr.rig.agent.calls.filter((c) => c.peer === confirm.peer).map((c) => c.method)).toEqual([
      "confirm",
    ]);

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
    simulate({ onState: (s) => s === S.DEPLOYMENT_STATE_ACTIVATED && sr.rig.net.refuseNew() });
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
    expect(sr.rig.net.refused).toBeGreaterThan(0);
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

  it("--no-magic-rollback: not confirmed (new connections refused) and kept: exit 0, confirmed false", async () => {
    simulate({ onState: (s) => s === S.DEPLOYMENT_STATE_ACTIVATED && sr.rig.net.refuseNew() });
    const r = await deploy("--no-magic-rollback");

    expect(r.code).toBe(0);
    expect(only("activate").request).toMatchObject({ options: { magicRollback: false } });
    expect(r.json()).toMatchObject({ outcome: "succeeded", confirmed: false, rollbackReason: null });
    expect(r.json().reason).toMatch(/NOT confirmed and is kept because magic rollback is off/);

    // The failed attempts leave nothing behind that tries again (grpc-js retries a failed
    // subchannel after ~1 s of backoff, even for a closed client, unless told not to).
    const attempts = sr.rig.net.accepted + sr.rig.net.refused;
    await new Promise((resolve) => setTimeout(resolve, 1_300));
    expect(sr.rig.net.accepted + sr.rig.net.refused).toBe(attempts);
  });

  it("--no-confirm: the agent confirms itself once healthy; no Confirm is sent: exit 0", async () => {
    simulate();
    const r = await deploy("--no-confirm");

    expect(r.code).toBe(0);
    expect(only("activate").request).toMatchObject({ options: { selfConfirm: true } });
    expect(callsOf("confirm")).toEqual([]);
    expect(sr.rig.net.accepted).toBe(1);
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

    sr.sim.rebooted();
    await waitFor(() => sr.sim.current?.state === S.DEPLOYMENT_STATE_AWAITING_CONFIRMATION);
    const c = await cli(["confirm", "robot1", "--inventory", sr.rig.inventory, "--json"]);
    expect(c.code).toBe(0);
    expect(c.json()).toMatchObject({
      target: "robot1",
      deploymentId: "d-sim-1",
      confirmed: true,
      deployment: { id: "d-sim-1", state: "SUCCEEDED", generation: 42 },
    });
    await sr.sim.done;
    expect(sr.sim.last?.state).toBe(S.DEPLOYMENT_STATE_SUCCEEDED);
  });
});
