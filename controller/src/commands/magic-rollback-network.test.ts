import { DeploymentState as S } from "@ros-rollback/proto";
import { describe, expect, it } from "vitest";
import { states, useSimRig } from "../testing/sim-rig.js";

// Magic rollback when the network fails during the confirmation window,
// against a simulated agent (testing/sim-rig.ts:
// the agent's behaviour on short timers) on a real grpc-js mTLS server, reached
// through a TCP relay that counts connections and can cut them or refuse new
// ones, as a switch or a firewall would.

const sr = useSimRig("magic-net");
const { deploy, callsOf, only, simulate } = sr;

describe("deploy: health and confirmation", () => {
  it("stream cut while awaiting confirmation, agent reachable again: reconnects and confirms: exit 0", async () => {
    simulate({
      confirmWindowMs: 1_500,
      onState: (s) => {
        // New connections fail from the switch on; the Activate stream dies while the agent waits.
        if (s === S.DEPLOYMENT_STATE_ACTIVATED) sr.rig.net.refuseNew();
        if (s !== S.DEPLOYMENT_STATE_AWAITING_CONFIRMATION) return;
        setTimeout(() => sr.rig.net.down(), 30);
        setTimeout(() => sr.rig.net.up(), 250);
      },
    });
    const r = await deploy();

    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({ outcome: "succeeded", confirmed: true });
    expect(sr.rig.net.refused).toBeGreaterThan(0);
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
        sr.rig.net.down();
        setTimeout(() => sr.rig.net.up(), 200);
      },
    });
    const r = await deploy();

    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({ outcome: "succeeded", confirmed: true });
    expect(r.json().reason).toMatch(
      /followed on a new connection after the event stream broke \(UNAVAILABLE: [^)]+\)$/,
    );
    expect(r.json().error).toBeNull(); // the deployment succeeded: the broken stream was no error of it
    expect(states(r.json())).toContain("AWAITING_CONFIRMATION"); // seen on the Watch stream
    expect(only("confirm").peer).not.toBe(only("activate").peer);
    expect(callsOf("watch").length).toBeGreaterThan(0);
  });

  it("unreachable until after the deadline, then the agent reports ROLLED_BACK: exit 2, not confirmed", async () => {
    simulate({
      confirmWindowMs: 200,
      onState: (s) => {
        if (s === S.DEPLOYMENT_STATE_ACTIVATED) sr.rig.net.down();
        if (s === S.DEPLOYMENT_STATE_ROLLED_BACK) setTimeout(() => sr.rig.net.up(), 50);
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
      /^the deployment was rolled back \(not confirmed\); .* — learned from the agent's status after the event stream broke \([A-Z_]+: [^)]*\): not confirmed by the deadline; rolled back to generation 41$/,
    );
    expect(callsOf("confirm")).toEqual([]);
    expect(r.stderr).toContain("robot1: d-sim-1 ended ROLLED_BACK (agent status)");
  });

  it("unreachable past the confirm deadline + --reconnect-grace: exit 3, says the agent rolls back by itself", async () => {
    simulate({
      confirmWindowMs: 300,
      onState: (s) => {
        if (s === S.DEPLOYMENT_STATE_ACTIVATED) sr.rig.net.refuseNew();
        if (s === S.DEPLOYMENT_STATE_AWAITING_CONFIRMATION) setTimeout(() => sr.rig.net.down(), 30);
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
});
