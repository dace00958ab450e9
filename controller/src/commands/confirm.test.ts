import { DeploymentState as S } from "@ros-rollback/proto";
import { describe, expect, it } from "vitest";
import { waitFor } from "../testing/cli-rig.js";
import { SIM_SYSTEM, useSimRig } from "../testing/sim-rig.js";
import { healthReport } from "../testing/simulated-agent.js";

// confirm against a simulated agent (testing/sim-rig.ts:
// the agent's behaviour on short timers) on a real grpc-js mTLS server, reached
// through a TCP relay that counts connections and can cut them or refuse new
// ones, as a switch or a firewall would.

const sr = useSimRig("confirm");
const { cli, deploy, target, callsOf, simulate } = sr;

describe("confirm", () => {
  it("TARGET positional overrides --target; without ID confirms the deployment awaiting confirmation", async () => {
    // A deployment that waits, whose controller went away (the agent runs it on its own).
    simulate({ confirmWindowMs: 5_000 });
    sr.rig.agent.handlers.activate?.({
      storePath: SIM_SYSTEM.storePath,
      action: 1,
      options: undefined,
      overrideHolds: [],
    });
    await waitFor(() => sr.sim.current?.state === S.DEPLOYMENT_STATE_AWAITING_CONFIRMATION);
    const r = await cli(["confirm", "robot2", "--inventory", sr.rig.inventory, "--target", "robot-unknown"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("robot2: confirmed d-sim-1 (SUCCEEDED, generation 42); the agent keeps it\n");
    expect(r.stderr).toMatch(/^robot2: d-sim-1 awaits confirmation until \d\d:\d\d:\d\dZ\n$/);
    await sr.sim.done;
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
    const unknown = await cli(["confirm", "robot1", "d-nope", "--inventory", sr.rig.inventory]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe("error: robot1: NOT_FOUND: no deployment d-nope\n");
    const late = await cli(["confirm", "robot1", "d-sim-1", "--inventory", sr.rig.inventory]);
    expect(late.code).toBe(1);
    expect(late.stderr).toBe(
      "error: robot1: FAILED_PRECONDITION: deployment d-sim-1 is ROLLED_BACK, not awaiting confirmation\n",
    );
  });
});
