import { status } from "@grpc/grpc-js";
import {
  ActivationAction,
  type Deployment,
  type GetStatusResponse,
  RollbackReason,
  DeploymentState as S,
} from "@ros-rollback/proto";
import { beforeEach, describe, expect, it } from "vitest";
import { useCliRig } from "../testing/cli-rig.js";
import { event } from "../testing/fake-agent.js";
import { CLOSURE, IDLE_STATUS, SYSTEM } from "../testing/robot-fixtures.js";

// deploy --reboot: refused flags, the reboot flag on the wire, and following the deployment across
// the reboot (the Activate stream dies with the robot; the agent's status says how it ended).
// Real grpc-js client and server with mutual TLS on 127.0.0.1; the agent's behaviour is scripted.

const rig = useCliRig({ name: "deploy-reboot", closure: CLOSURE });
beforeEach(() => rig.reset(() => ({ getStatus: () => IDLE_STATUS, queryMissingPaths: () => [] })));
const root = SYSTEM.storePath;
const deploy = (...flags: string[]) => rig.run(["deploy", root, ...rig.target(), ...flags]);

describe("deploy --reboot: bad input is one line, exit 1, and no robot is asked", () => {
  it.each([
    [
      "--reboot --action test",
      ["--reboot", "--action", "test"],
      /^error: --reboot: only with --action boot or switch, not test$/,
    ],
    [
      "--reboot --action dry-activate",
      ["--reboot", "--action", "dry-activate"],
      /^error: --reboot: only with --action boot or switch, not dry-activate$/,
    ],
    ["--reboot-timeout 60", ["--reboot-timeout", "60"], /^error: --reboot-timeout: only with --reboot$/],
    [
      "--reboot --reboot-timeout 0",
      ["--action", "boot", "--reboot", "--reboot-timeout", "0"],
      /^error: --reboot-timeout: expected whole seconds \(1 to 86400\), got "0"$/,
    ],
    [
      "a long --reboot-timeout (echo bounded)",
      ["--action", "boot", "--reboot", "--reboot-timeout", "x".repeat(500)],
      /^error: --reboot-timeout: .*got "x{40}"$/,
    ],
    ["--plan --reboot", ["--plan", "--reboot"], /^error: --reboot: .*--plan activates nothing/],
  ])("%s", async (_label, flags, message) => {
    const r = await deploy(...flags);
    expect(r.stderr.split("\n")).toEqual([
      expect.stringMatching(message),
      "Run 'ros-rollback deploy --help' for usage.",
      "",
    ]);
    expect(r.code).toBe(1);
    expect(rig.methods()).toEqual([]);
  });
});

const ID = "d-test-1";
const booted = (d: Partial<Deployment>): Deployment => ({
  id: ID,
  state: S.DEPLOYMENT_STATE_AWAITING_CONFIRMATION,
  action: ActivationAction.ACTIVATION_ACTION_BOOT,
  storePath: root,
  generation: 42,
  previousGeneration: 41,
  previousStorePath: "/nix/store/old-system",
  startedAtUnixMs: 1,
  updatedAtUnixMs: 2,
  message: "",
  kind: 0,
  confirmDeadlineUnixMs: 0,
  rollbackReason: 0,
  options: undefined,
  snapshots: [],
  restores: [],
  unitChanges: undefined,
  rollbackUnitChanges: undefined,
  overriddenHolds: [],
  startedBy: "",
  ...d,
});

/** Activate: up to the boot default (a switch: its exit 100), then the stream dies as the robot reboots. */
function rebootingActivate(): void {
  rig.agent.handlers.activate = () => [
    event(S.DEPLOYMENT_STATE_PENDING, { previousGeneration: 41 }),
    event(S.DEPLOYMENT_STATE_PROFILE_SET, { generation: 42, previousGeneration: 41 }),
    event(S.DEPLOYMENT_STATE_ACTIVATING, { generation: 42, previousGeneration: 41 }),
    event(S.DEPLOYMENT_STATE_AWAITING_REBOOT, { generation: 42, previousGeneration: 41, exitCode: 100 }),
    { error: { code: status.UNAVAILABLE, details: "Connection dropped" } },
  ];
}

/** GetStatus: the status before, then `down` refusals while the robot boots, then `after` in turn. */
function statuses(down: number, after: GetStatusResponse[]): void {
  let n = 0;
  rig.agent.handlers.getStatus = () => {
    n += 1;
    if (n === 1) return IDLE_STATUS;
    if (n <= 1 + down) return { error: { code: status.UNAVAILABLE, details: "rebooting" } };
    return after[Math.min(n - 2 - down, after.length - 1)] ?? IDLE_STATUS;
  };
}

describe("deploy --reboot follows the deployment across the reboot", () => {
  it.each([
    ["boot", ActivationAction.ACTIVATION_ACTION_BOOT],
    ["switch", ActivationAction.ACTIVATION_ACTION_SWITCH],
  ])(
    "--action %s: sends reboot; after the boot confirms over a new connection: exit 0",
    async (name, action) => {
      rebootingActivate();
      const deadline = Date.now() + 60_000;
      let confirmed = false;
      statuses(1, [
        { ...IDLE_STATUS, currentGeneration: 42, deployment: booted({ confirmDeadlineUnixMs: deadline }) },
      ]);
      rig.agent.handlers.confirm = () => {
        confirmed = true;
        rig.agent.handlers.getStatus = () => ({
          ...IDLE_STATUS,
          currentGeneration: 42,
          lastDeployment: booted({ state: S.DEPLOYMENT_STATE_SUCCEEDED }),
        });
        return { deployment: booted({ state: S.DEPLOYMENT_STATE_SUCCEEDED }) };
      };
      const r = await deploy("--action", name, "--reboot", "--reboot-timeout", "60", "--json");
      expect(rig.agent.calls.find((c) => c.method === "activate")?.request).toMatchObject({
        reboot: true,
        action,
      });
      expect(confirmed).toBe(true);
      const activatePeer = rig.agent.calls.find((c) => c.method === "activate")?.peer;
      expect(rig.agent.calls.find((c) => c.method === "confirm")?.peer).not.toBe(activatePeer);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json()).toMatchObject({ outcome: "succeeded" });
    },
    60_000,
  );

  it("the robot came back on the previous generation: exit 2 with the agent's reason", async () => {
    rebootingActivate();
    const reason = "generation 42 did not boot (2 tries)";
    statuses(2, [
      {
        ...IDLE_STATUS,
        lastDeployment: booted({
          state: S.DEPLOYMENT_STATE_ROLLED_BACK,
          rollbackReason: RollbackReason.ROLLBACK_REASON_BOOT,
          message: reason,
        }),
      },
    ]);
    const r = await deploy("--action", "boot", "--reboot");
    expect(r.code, r.stderr).toBe(2);
    expect(`${r.stdout}${r.stderr}`).toContain(reason);
  }, 60_000);

  it("without --reboot the flag is false on the wire (today's BOOT)", async () => {
    rig.agent.handlers.activate = () => [
      event(S.DEPLOYMENT_STATE_AWAITING_REBOOT, { generation: 42, previousGeneration: 41, final: true }),
    ];
    await deploy("--action", "boot");
    expect(rig.agent.calls.find((c) => c.method === "activate")?.request).not.toMatchObject({ reboot: true });
  });
});
