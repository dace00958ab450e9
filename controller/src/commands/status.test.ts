import { ActivationAction, DeploymentKind, DeploymentState as S } from "@ros-rollback/proto";
import { beforeEach, describe, expect, it } from "vitest";
import { useCliRig } from "../testing/cli-rig.js";
import { CLOSURE, IDLE_STATUS } from "../testing/robot-fixtures.js";

// status and generations.
// Real grpc-js client and server with mutual TLS on 127.0.0.1 (testing/cli-rig.ts);
// only the agent's behaviour and the local Nix store are fakes.

const rig = useCliRig({ name: "status", closure: CLOSURE });
beforeEach(() => rig.reset(() => ({ getStatus: () => IDLE_STATUS })));

const SNAP = {
  path: "/var/lib/db",
  method: "copy",
  location: "/var/lib/ros-rollback/snapshots/d-1/0-db",
  sizeBytes: 2097152,
  state: "restored",
  units: ["db.service"],
  absent: false,
};

describe("status", () => {
  it("prints the agent's status as one JSON document", async () => {
    rig.agent.handlers.getStatus = () => ({
      ...IDLE_STATUS,
      lastDeployment: {
        id: "d-1",
        state: S.DEPLOYMENT_STATE_SUCCEEDED,
        action: ActivationAction.ACTIVATION_ACTION_SWITCH,
        storePath: "/nix/store/old-system",
        generation: 41,
        previousGeneration: 40,
        previousStorePath: "/nix/store/older",
        startedAtUnixMs: Date.UTC(2026, 0, 2, 3, 4, 5),
        updatedAtUnixMs: Date.UTC(2026, 0, 2, 3, 4, 9),
        message: "ok",
        kind: DeploymentKind.DEPLOYMENT_KIND_ACTIVATE,
        confirmDeadlineUnixMs: 0,
        rollbackReason: 0,
        options: undefined,
        snapshots: [{ ...SNAP, state: "captured" }],
        restores: [SNAP],
        unitChanges: undefined,
        rollbackUnitChanges: undefined,
        overriddenHolds: [],
        startedBy: "CN=ops [sha256 AB:CD:EF:01:23:45:67:89…]",
      },
    });
    const text = await rig.run(["status", ...rig.target()]);
    expect(text.stdout).toContain(
      "  snapshot:    /var/lib/db copy 2.0 MiB captured at /var/lib/ros-rollback/snapshots/d-1/0-db\n" +
        "  restore:     /var/lib/db copy 2.0 MiB restored at /var/lib/ros-rollback/snapshots/d-1/0-db",
    );
    const r = await rig.run(["status", ...rig.target(), "--json"]);
    expect(r.code).toBe(0);
    expect(r.json()).toEqual({
      target: "robot1",
      hostname: "robot1",
      agentVersion: "0.1.0",
      currentSystem: "/nix/store/old-system",
      currentGeneration: 41,
      profileSystem: "/nix/store/old-system",
      runningProfileSystem: true,
      deployment: null,
      lastDeployment: {
        id: "d-1",
        kind: "activate",
        state: "SUCCEEDED",
        action: "switch",
        storePath: "/nix/store/old-system",
        generation: 41,
        previousGeneration: 40,
        previousStorePath: "/nix/store/older",
        startedAt: "2026-01-02T03:04:05.000Z",
        updatedAt: "2026-01-02T03:04:09.000Z",
        message: "ok",
        confirmDeadline: null,
        rollbackReason: null,
        label: null,
        overriddenHolds: [],
        startedBy: "CN=ops [sha256 AB:CD:EF:01:23:45:67:89…]",
        snapshots: [{ ...SNAP, state: "captured" }],
        restores: [SNAP],
        unitChanges: null,
        rollbackUnitChanges: null,
      },
      health: null,
      holds: [],
      space: null,
    });
    expect(r.stderr).toBe("");
  });

  it("names who started the deployment; what the agent sends is escaped and bounded", async () => {
    rig.agent.handlers.getStatus = () => ({
      ...IDLE_STATUS,
      lastDeployment: {
        id: "d-2",
        state: S.DEPLOYMENT_STATE_SUCCEEDED,
        action: ActivationAction.ACTIVATION_ACTION_SWITCH,
        storePath: "/nix/store/new-system",
        generation: 42,
        previousGeneration: 41,
        previousStorePath: "/nix/store/old-system",
        startedAtUnixMs: 1,
        updatedAtUnixMs: 2,
        message: "",
        kind: DeploymentKind.DEPLOYMENT_KIND_ACTIVATE,
        confirmDeadlineUnixMs: 0,
        rollbackReason: 0,
        options: undefined,
        snapshots: [],
        restores: [],
        unitChanges: undefined,
        rollbackUnitChanges: undefined,
        overriddenHolds: [],
        startedBy: `CN=x\n${"a".repeat(2_000)}`,
      },
    });
    const text = await rig.run(["status", ...rig.target()]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^ {2}started by: {2}CN=x\\u000aa{395}…$/m);
    const r = await rig.run(["status", ...rig.target(), "--json"]);
    expect((r.json() as { lastDeployment: { startedBy: string } }).lastDeployment.startedBy).toBe(
      `CN=x\\u000a${"a".repeat(395)}…`,
    );
  });

  it("prints text without --json", async () => {
    const r = await rig.run(["status", ...rig.target()]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("generation:  41");
  });
});

describe("generations", () => {
  it("prints an array of {generation, storePath, current, createdAt}", async () => {
    rig.agent.handlers.listGenerations = () => ({
      generations: [
        { number: 40, storePath: "/nix/store/a", createdAtUnixMs: Date.UTC(2026, 0, 1), current: false },
        { number: 41, storePath: "/nix/store/b", createdAtUnixMs: Date.UTC(2026, 0, 2), current: true },
      ],
    });
    const r = await rig.run(["generations", ...rig.target(), "--json"]);
    expect(r.code).toBe(0);
    expect(r.json()).toEqual([
      { generation: 40, storePath: "/nix/store/a", current: false, createdAt: "2026-01-01T00:00:00.000Z" },
      { generation: 41, storePath: "/nix/store/b", current: true, createdAt: "2026-01-02T00:00:00.000Z" },
    ]);
  });
});
