import { status } from "@grpc/grpc-js";
import { ActivationAction, DeploymentKind, DeploymentState as S } from "@ros-rollback/proto";
import { beforeEach, describe, expect, it } from "vitest";
import { useCliRig } from "../testing/cli-rig.js";
import { event } from "../testing/fake-agent.js";
import { CLOSURE, IDLE_STATUS, SYSTEM, switchEvents } from "../testing/robot-fixtures.js";

// deploy: the outcome from the agent's status when the event stream breaks.
// Real grpc-js client and server with mutual TLS on 127.0.0.1 (testing/cli-rig.ts);
// only the agent's behaviour and the local Nix store are fakes.

const rig = useCliRig({ name: "deploy-recovery", closure: CLOSURE });
beforeEach(() => rig.reset(() => ({ getStatus: () => IDLE_STATUS })));

const root = SYSTEM.storePath;

describe("deploy", () => {
  describe("when the event stream breaks, asks the agent's status for the outcome", () => {
    const deployment = (state: S) => ({
      id: "d-test-1",
      state,
      action: ActivationAction.ACTIVATION_ACTION_SWITCH,
      storePath: root,
      generation: 42,
      previousGeneration: 41,
      previousStorePath: "/nix/store/old-system",
      startedAtUnixMs: 1,
      updatedAtUnixMs: 2,
      message: state === S.DEPLOYMENT_STATE_ROLLED_BACK ? "rolled back to generation 41" : "",
      kind: DeploymentKind.DEPLOYMENT_KIND_ACTIVATE,
      confirmDeadlineUnixMs: 0,
      rollbackReason: 0,
      options: undefined,
      snapshots: [],
      restores: [],
      unitChanges: undefined,
      rollbackUnitChanges: undefined,
      overriddenHolds: [],
      startedBy: "",
    });

    it("exit 2 when the agent's record says ROLLED_BACK", async () => {
      rig.agent.handlers.queryMissingPaths = () => [];
      rig.agent.handlers.activate = () => {
        let polls = 0;
        rig.agent.handlers.getStatus = () => {
          polls++;
          if (polls === 1) return { error: { code: status.UNAVAILABLE, details: "agent restarting" } };
          if (polls < 4) return { ...IDLE_STATUS, deployment: deployment(S.DEPLOYMENT_STATE_ROLLING_BACK) };
          return { ...IDLE_STATUS, lastDeployment: deployment(S.DEPLOYMENT_STATE_ROLLED_BACK) };
        };
        return switchEvents([{ error: { code: status.UNAVAILABLE, details: "Connection dropped" } }]);
      };
      const r = await rig.run(["deploy", root, ...rig.target(), "--json"]);
      expect(r.code).toBe(2);
      expect(r.json()).toMatchObject({
        outcome: "rolled-back",
        error: null, // the outcome is known; the broken stream is named in the reason
      });
      expect(r.json().reason).toMatch(
        /back on the previous generation — learned from the agent's status after the event stream broke \(UNAVAILABLE: Connection dropped\): rolled back to generation 41$/,
      );
      expect(r.stderr).toContain(
        "robot1: lost the event stream (UNAVAILABLE); asking the agent for the outcome of d-test-1",
      );
      expect(r.stderr).toContain("robot1: still no answer: robot1: UNAVAILABLE: agent restarting");
      expect(r.stderr).toContain("robot1: d-test-1 is ROLLING_BACK (agent status)");
      expect(r.stderr).toContain("robot1: d-test-1 ended ROLLED_BACK (agent status)");
    });

    it("exit 0 when the stream ended early but the record says SUCCEEDED", async () => {
      rig.agent.handlers.queryMissingPaths = () => [];
      rig.agent.handlers.activate = () => {
        rig.agent.handlers.getStatus = () => ({
          ...IDLE_STATUS,
          lastDeployment: deployment(S.DEPLOYMENT_STATE_SUCCEEDED),
        });
        return switchEvents([]);
      };
      const r = await rig.run(["deploy", root, ...rig.target(), "--json"]);
      expect(r.code).toBe(0);
      expect(r.json().reason).toMatch(/learned from the agent's status after the event stream ended early$/);
    });

    it("a recovered FAILED stays uncertain even if only PENDING was seen (events were missed)", async () => {
      rig.agent.handlers.queryMissingPaths = () => [];
      rig.agent.handlers.activate = () => {
        rig.agent.handlers.getStatus = () => ({
          ...IDLE_STATUS,
          lastDeployment: deployment(S.DEPLOYMENT_STATE_FAILED),
        });
        return [event(S.DEPLOYMENT_STATE_PENDING), { error: { code: status.UNAVAILABLE, details: "gone" } }];
      };
      const r = await rig.run(["deploy", root, ...rig.target()]);
      expect(r.code).toBe(3);
    });

    it("exit 3 when the agent never answers within --follow-timeout", async () => {
      rig.agent.handlers.queryMissingPaths = () => [];
      rig.agent.handlers.activate = () => {
        rig.agent.handlers.getStatus = () => ({
          error: { code: status.UNAVAILABLE, details: "no route to host" },
        });
        return switchEvents([{ error: { code: status.UNAVAILABLE, details: "Connection dropped" } }]);
      };
      // Each attempt is a new TLS connection: leave time for one even on a loaded machine.
      const r = await rig.run(["deploy", root, ...rig.target(), "--json", "--follow-timeout", "1"]);
      expect(r.code).toBe(3);
      expect(r.json().reason).toMatch(
        /— no final state from the agent within 1s \(robot1: UNAVAILABLE: no route to host\)$/,
      );
    });

    it("--follow-timeout 0 does not ask", async () => {
      rig.agent.handlers.queryMissingPaths = () => [];
      rig.agent.handlers.activate = () =>
        switchEvents([{ error: { code: status.UNAVAILABLE, details: "x" } }]);
      const r = await rig.run(["deploy", root, ...rig.target(), "--follow-timeout", "0"]);
      expect(r.code).toBe(3);
      expect(rig.methods()).toEqual(["getStatus", "queryMissingPaths", "activate"]);
    });
  });
});
