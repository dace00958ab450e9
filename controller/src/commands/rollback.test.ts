import { status } from "@grpc/grpc-js";
import { DeploymentState as S } from "@ros-rollback/proto";
import { beforeEach, describe, expect, it } from "vitest";
import { useCliRig } from "../testing/cli-rig.js";
import { event } from "../testing/fake-agent.js";
import { CLOSURE, IDLE_STATUS } from "../testing/robot-fixtures.js";

// Real grpc-js client and server with mutual TLS on 127.0.0.1 (testing/cli-rig.ts);
// only the agent's behaviour and the local Nix store are fakes.

const rig = useCliRig({ name: "rollback", closure: CLOSURE });
beforeEach(() => rig.reset(() => ({ getStatus: () => IDLE_STATUS })));

describe("rollback", () => {
  it("--to N asks for that generation; exit 0 on SUCCEEDED", async () => {
    rig.agent.handlers.rollback = () => [
      event(S.DEPLOYMENT_STATE_PENDING, { generation: 39, previousGeneration: 41 }),
      event(S.DEPLOYMENT_STATE_PROFILE_SET, { generation: 39, previousGeneration: 41 }),
      event(S.DEPLOYMENT_STATE_ACTIVATING, { generation: 39, previousGeneration: 41 }),
      event(S.DEPLOYMENT_STATE_ACTIVATED, { generation: 39, previousGeneration: 41, exitCode: 0 }),
      event(S.DEPLOYMENT_STATE_SUCCEEDED, { generation: 39, previousGeneration: 41, final: true }),
    ];
    const r = await rig.run([
      "rollback",
      "--to",
      "39",
      ...rig.target(),
      "--json",
      "--override-hold",
      "topic:/mission_state",
      "--override-hold",
      "mission",
    ]);
    expect(r.code).toBe(0);
    expect(rig.agent.calls.find((c) => c.method === "rollback")?.request).toEqual({
      generation: 39,
      overrideHolds: ["topic:/mission_state", "mission"],
    });
    expect(r.stderr).toMatch(/^warning: overriding hold\(s\): topic:\/mission_state, mission$/m);
    expect(r.json()).toMatchObject({
      overrideHolds: ["topic:/mission_state", "mission"],
      operation: "rollback",
      outcome: "succeeded",
      generation: 39,
      previousGeneration: 41,
      push: null,
    });
  });

  it("without --to leaves the generation unset (the agent's recorded previous one)", async () => {
    rig.agent.handlers.rollback = () => [
      event(S.DEPLOYMENT_STATE_SUCCEEDED, { generation: 40, final: true }),
    ];
    const r = await rig.run(["rollback", ...rig.target()]);
    expect(r.code).toBe(0);
    expect(rig.agent.calls.find((c) => c.method === "rollback")?.request).toEqual({ overrideHolds: [] });
    expect(r.stderr).not.toContain("overriding");
  });

  it("exit 1 when the agent refuses (NOT_FOUND)", async () => {
    rig.agent.handlers.rollback = () => [
      { error: { code: status.NOT_FOUND, details: "generation 7 does not exist (have: 40, 41)" } },
    ];
    const r = await rig.run(["rollback", "--to", "7", ...rig.target(), "--json"]);
    expect(r.code).toBe(1);
    expect(r.json()).toMatchObject({ outcome: "unchanged", error: { status: "NOT_FOUND" } });
    expect(r.stderr).toContain("robot1: NOT_FOUND: generation 7 does not exist (have: 40, 41)");
  });

  it("exit 3 when the rollback fails and is left in place", async () => {
    rig.agent.handlers.rollback = () => [
      event(S.DEPLOYMENT_STATE_PENDING),
      event(S.DEPLOYMENT_STATE_PROFILE_SET),
      event(S.DEPLOYMENT_STATE_ACTIVATING),
      event(S.DEPLOYMENT_STATE_ACTIVATION_FAILED, { exitCode: 2 }),
      event(S.DEPLOYMENT_STATE_FAILED, { final: true }),
    ];
    const r = await rig.run(["rollback", ...rig.target()]);
    expect(r.code).toBe(3);
  });
});
