import { status } from "@grpc/grpc-js";
import { DeploymentState as S } from "@ros-rollback/proto";
import { beforeEach, describe, expect, it } from "vitest";
import { useCliRig } from "../testing/cli-rig.js";
import { event } from "../testing/fake-agent.js";
import { CLOSURE, IDLE_STATUS, SYSTEM, switchEvents } from "../testing/robot-fixtures.js";

// deploy: the exit code and report for each way a deployment ends.
// Real grpc-js client and server with mutual TLS on 127.0.0.1 (testing/cli-rig.ts);
// only the agent's behaviour and the local Nix store are fakes.

const rig = useCliRig({ name: "deploy-outcomes", closure: CLOSURE });
beforeEach(() => rig.reset(() => ({ getStatus: () => IDLE_STATUS })));

const root = SYSTEM.storePath;
const glibc = CLOSURE[0]?.storePath ?? "";

describe("deploy", () => {
  it("exit 2 when the agent rolled back", async () => {
    rig.agent.handlers.queryMissingPaths = () => [];
    rig.agent.handlers.activate = () =>
      switchEvents([
        event(S.DEPLOYMENT_STATE_UNITS_FAILED, { generation: 42, previousGeneration: 41, exitCode: 4 }),
        event(S.DEPLOYMENT_STATE_ROLLING_BACK, { generation: 42, previousGeneration: 41 }),
        event(S.DEPLOYMENT_STATE_ROLLED_BACK, {
          generation: 42,
          previousGeneration: 41,
          final: true,
          message: "rolled back to generation 41",
        }),
      ]);
    const r = await rig.run(["deploy", root, ...rig.target(), "--json"]);
    expect(r.code).toBe(2);
    expect(r.json()).toMatchObject({
      outcome: "rolled-back",
      exitCode: 2,
      generation: 42,
      previousGeneration: 41,
      reason:
        "the deployment failed; the robot is back on the previous generation — rolled back to generation 41",
    });
    expect(r.stderr).toMatch(/UNITS_FAILED generation 42 \(previous 41\) \[exit 4\]/);
    expect(r.stderr).toMatch(/^error: the deployment failed; the robot is back/m);
  });

  it("exit 3 when the deployment failed and was left in place", async () => {
    rig.agent.handlers.queryMissingPaths = () => [];
    rig.agent.handlers.activate = () =>
      switchEvents([
        event(S.DEPLOYMENT_STATE_ACTIVATION_FAILED, { exitCode: 1 }),
        event(S.DEPLOYMENT_STATE_FAILED, {
          final: true,
          message: "left as it is: automatic rollback is off",
        }),
      ]);
    const r = await rig.run(["deploy", root, ...rig.target(), "--json"]);
    expect(r.code).toBe(3);
    expect(r.json()).toMatchObject({ outcome: "uncertain", exitCode: 3 });
    expect(r.json().reason).toMatch(/left in place .* automatic rollback is off/);
  });

  it("exit 3 when the event stream breaks mid-activation", async () => {
    rig.agent.handlers.queryMissingPaths = () => [];
    rig.agent.handlers.activate = () =>
      switchEvents([{ error: { code: status.UNAVAILABLE, details: "connection reset" } }]);
    const r = await rig.run(["deploy", root, ...rig.target(), "--json"]);
    expect(r.code).toBe(3);
    expect(r.json()).toMatchObject({
      outcome: "uncertain",
      error: { status: "UNAVAILABLE", details: "connection reset" },
    });
    expect(r.json().reason).toMatch(/event stream failed \(UNAVAILABLE\) after ACTIVATING/);
  });

  it("exit 3 when the stream ends without a final event", async () => {
    rig.agent.handlers.queryMissingPaths = () => [];
    rig.agent.handlers.activate = () => switchEvents([]);
    const r = await rig.run(["deploy", root, ...rig.target(), "--json"]);
    expect(r.code).toBe(3);
    expect(r.json().reason).toMatch(/without a final event after ACTIVATING/);
  });

  it("exit 4 when a reboot is required", async () => {
    rig.agent.handlers.queryMissingPaths = () => [];
    rig.agent.handlers.activate = () =>
      switchEvents([
        event(S.DEPLOYMENT_STATE_REBOOT_REQUIRED, { generation: 42, exitCode: 100, final: true }),
      ]);
    const r = await rig.run(["deploy", root, ...rig.target(), "--json"]);
    expect(r.code).toBe(4);
    expect(r.json()).toMatchObject({ outcome: "reboot-required" });
    expect(r.json().reason).toMatch(/judges it then, as after --action boot; --reboot reboots it for you\)$/);
  });

  it("exit 1 when the agent refuses the activation up front (FAILED_PRECONDITION)", async () => {
    rig.agent.handlers.queryMissingPaths = () => [];
    rig.agent.handlers.activate = () => [
      {
        error: {
          code: status.FAILED_PRECONDITION,
          details: "deployment d-0 is still running",
          agentCode: "FAILED_PRECONDITION",
        },
      },
    ];
    const r = await rig.run(["deploy", root, ...rig.target(), "--json"]);
    expect(r.code).toBe(1);
    expect(r.json()).toMatchObject({
      outcome: "unchanged",
      exitCode: 1,
      error: { status: "FAILED_PRECONDITION", details: "deployment d-0 is still running" },
      events: [],
    });
    expect(r.stderr).toMatch(/^error: robot1: FAILED_PRECONDITION: deployment d-0 is still running$/m);
    expect(r.json().reason).toBe(
      "the agent refused the request; nothing changed — robot1: FAILED_PRECONDITION: deployment d-0 is still running",
    );
  });

  it("exit 1 and no activation when the agent refuses untrusted paths; hints at --sign-key", async () => {
    rig.agent.handlers.queryMissingPaths = (paths) => paths;
    rig.agent.handlers.pushPaths = () => ({
      error: {
        code: status.PERMISSION_DENIED,
        details: `${glibc} is not signed by a trusted key`,
        agentCode: "UNTRUSTED",
      },
    });
    const r = await rig.run(["deploy", root, ...rig.target(), "--json"]);
    expect(r.code).toBe(1);
    expect(rig.methods()).not.toContain("activate");
    const line = `error: robot1: PERMISSION_DENIED: ${glibc} is not signed by a trusted key (sign them with --sign-key FILE, whose public key the agent trusts)`;
    expect(r.stderr).toContain(`${line}\n`);
    expect(r.json()).toMatchObject({
      outcome: "unchanged",
      exitCode: 1,
      previousGeneration: 41,
      error: { status: "PERMISSION_DENIED" },
      push: { pathsMissing: 3, pathsImported: 0 },
    });
  });
});
