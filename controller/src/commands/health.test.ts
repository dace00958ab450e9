import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { useSimRig } from "../testing/sim-rig.js";
import { healthReport } from "../testing/simulated-agent.js";

// health against a simulated agent (testing/sim-rig.ts:
// the agent's behaviour on short timers) on a real grpc-js mTLS server, reached
// through a TCP relay that counts connections and can cut them or refuse new
// ones, as a switch or a firewall would.

const sr = useSimRig("health");
const { cli, simulate } = sr;

describe("health", () => {
  it("exit 0 when every check passes", async () => {
    simulate({ checkHealth: healthReport() });
    const r = await cli(["health", "robot1", "--inventory", sr.rig.inventory]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^robot1: healthy: 3 checks healthy\n {2}ok {4}unit:talker.service {2}ok \(3 ms\)\n/,
    );
  });

  it("exit 5 when a check fails; --json lists the checks", async () => {
    simulate({
      checkHealth: healthReport([["topic:/chatter", "topic /chatter silent for 3.2 s (max 2 s)"]]),
    });
    const r = await cli(["health", "robot1", "--inventory", sr.rig.inventory, "--json"]);
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
    const refused = await cli(["health", "robot1", "--inventory", sr.rig.inventory]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe("error: robot1: UNIMPLEMENTED: no health checks configured\n");
    sr.rig.net.down();
    const down = await cli(["health", "robot1", "--inventory", sr.rig.inventory, "--connect-timeout", "0.5"]);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^error: robot1: UNAVAILABLE: cannot reach the agent/);
  });
});
