// A rollout with failing or unreachable robots against a real (simulated) fleet: the canary
// stops it, --max-failures aborts it, --rollback-on-abort moves robots back, exit codes say so.
import { describe, expect, it } from "vitest";
import { deploy, outcomes, useFleetSim } from "../../testing/fleet-sim.js";
import { healthReport } from "../../testing/simulated-agent.js";

const { agent, fleet, inventory, cli, activated } = useFleetSim();

describe("deploy to several robots (a rollout): failures", () => {
  it("a failing canary stops the rollout: no other robot is touched (exit 2)", async () => {
    fleet({ r1: { health: [healthReport([["unit:talker.service", "unit talker.service failed"]])] } });
    const r = await cli(deploy(inventory(), "--all", "--canary", "1", "--max-failures", "3"));
    expect(r.code).toBe(2);
    expect(r.json()).toMatchObject({ outcome: "aborted", exitCode: 2 });
    expect(outcomes(r.json())).toEqual({
      r1: "failed",
      r2: "not-started",
      r3: "not-started",
      r4: "not-started",
      r5: "not-started",
    });
    for (const name of ["r2", "r3", "r4", "r5"]) expect(agent(name).calls.map((c) => c.method)).toEqual([]);
    expect(r.stderr).toMatch(/ABORTED: canary r1 failed; no further robot is started/);
  });

  it("aborts past --max-failures; --rollback-on-abort moves the robots it moved back (exit 2)", async () => {
    fleet({ r2: { health: [healthReport([["topic:/chatter", "topic /chatter silent"]])] } });
    const r = await cli(deploy(inventory(), "--all", "--batch", "1", "--rollback-on-abort"));
    expect(r.code).toBe(2);
    const doc = r.json();
    expect(outcomes(doc)).toEqual({
      r1: "succeeded",
      r2: "failed",
      r3: "not-started",
      r4: "not-started",
      r5: "not-started",
    });
    expect(doc.robots[0]?.rollback?.outcome).toBe("succeeded");
    expect(agent("r1").calls.filter((c) => c.method === "rollback")).toHaveLength(1);
    expect(agent("r2").calls.filter((c) => c.method === "rollback")).toHaveLength(0);
    for (const name of ["r3", "r4", "r5"]) expect(activated(name)).toEqual([]);
  });

  it("without --rollback-on-abort the robots it moved keep the new generation: a mixed fleet, exit 3", async () => {
    fleet({ r2: { health: [healthReport([["topic:/chatter", "topic /chatter silent"]])] } });
    const r = await cli(deploy(inventory(), "--all", "--batch", "1"));
    expect(r.code).toBe(3);
    expect(r.json().outcome).toBe("aborted");
    expect(agent("r1").calls.filter((c) => c.method === "rollback")).toEqual([]);
  });

  it("an unreachable robot is skipped with its reason (exit 6); --strict counts it as a failure", async () => {
    fleet();
    const inv = inventory(["r3"]);
    const r = await cli(deploy(inv, "--select", "site=lab"));
    expect(r.code).toBe(6);
    const doc = r.json();
    expect(outcomes(doc)).toEqual({ r1: "succeeded", r2: "succeeded", r3: "skipped" });
    expect(doc.robots[2]).toMatchObject({
      reason: expect.stringMatching(/r3: UNAVAILABLE: cannot reach the agent/),
    });
    for (const name of ["r4", "r5"]) expect(agent(name).calls).toEqual([]);

    fleet();
    const strict = await cli(
      deploy(inv, "--target", "r3", "--target", "r1", "--batch", "1", "--strict", "--rollback-on-abort"),
    );
    expect(strict.code).toBe(2);
    expect(outcomes(strict.json())).toEqual({ r3: "skipped", r1: "not-started" });
    expect(agent("r1").calls).toEqual([]);
  });
});
