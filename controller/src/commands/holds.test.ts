import { status } from "@grpc/grpc-js";
import { type GetStatusResponse, HoldSource } from "@ros-rollback/proto";
import { beforeEach, describe, expect, it } from "vitest";
import { useCliRig } from "../testing/cli-rig.js";

const MISSION = {
  name: "mission",
  source: HoldSource.HOLD_SOURCE_FILE,
  reason: "executing waypoint 3",
  sinceUnixMs: Date.UTC(2026, 0, 1),
  expiresAtUnixMs: 0,
};
const OPERATOR = {
  ...MISSION,
  name: "operator",
  source: HoldSource.HOLD_SOURCE_COMMAND,
  reason: "demo",
  expiresAtUnixMs: Date.UTC(2026, 0, 1, 2),
};

const changes = (restarted: string[]) => ({ stopped: [], started: [], restarted, reloaded: [], known: true });

const STATUS: GetStatusResponse = {
  agentVersion: "0.1.0",
  hostname: "robot1",
  currentSystem: "/nix/store/new-system",
  currentGeneration: 42,
  profileSystem: "/nix/store/new-system",
  holds: [MISSION],
  deployment: undefined,
  health: undefined,
  lastDeployment: {
    id: "d-1",
    state: 11,
    action: 1,
    storePath: "/nix/store/new-system",
    generation: 42,
    previousGeneration: 41,
    previousStorePath: "/nix/store/old-system",
    startedAtUnixMs: 1,
    updatedAtUnixMs: 2,
    message: "ok",
    kind: 1,
    confirmDeadlineUnixMs: 0,
    rollbackReason: 0,
    options: undefined,
    snapshots: [],
    restores: [],
    unitChanges: changes(["listener.service", "talker.service"]),
    rollbackUnitChanges: { stopped: [], started: [], restarted: [], reloaded: [], known: false },
    overriddenHolds: [],
    startedBy: "",
  },
};

const rig = useCliRig({ name: "holds" });
beforeEach(() => rig.reset(() => ({ getStatus: () => STATUS })));

function cli(argv: string[]) {
  return rig.run([...argv, "--inventory", rig.inventory, "--connect-timeout", "3"]);
}

describe("hold and release", () => {
  it("hold sends name, reason and --for in seconds, and prints every hold", async () => {
    rig.agent.handlers.hold = () => ({ hold: OPERATOR, holds: [OPERATOR, MISSION] });
    const r = await cli(["hold", "robot1", "--reason", "demo", "--for", "2h"]);
    expect(r.code).toBe(0);
    expect(rig.agent.calls.map((c) => c.request)).toEqual([
      { name: "operator", reason: "demo", durationSeconds: 7200 },
    ]);
    expect(r.stdout).toContain("robot1: held (2); deploys and rollbacks are refused");
    expect(r.stdout).toContain('command hold "operator": demo (until 2026-01-01T02:00:00.000Z)');
    expect(r.stdout).toContain('file hold "mission": executing waypoint 3');
  });

  it("refuses a missing reason or a bad duration without calling the agent (exit 1, usage)", async () => {
    for (const argv of [
      ["hold", "robot1"],
      ["hold", "robot1", "--reason", "x", "--for", "soon"],
      ["hold", "robot1", "--reason", "x", "--for", "0s"],
      ["hold", "robot1", "--reason", "x", "--for", "400d"],
    ]) {
      const r = await cli(argv);
      expect(r.code, argv.join(" ")).toBe(1);
      expect(r.stderr).toMatch(/--reason|--for/);
      expect(r.stderr.split("\n").filter((l) => l !== "").length).toBeLessThan(4);
    }
    expect(rig.agent.calls).toEqual([]);
  });

  it("an agent refusal (bad name) is a one-line error, exit 1", async () => {
    rig.agent.handlers.hold = () => ({
      error: { code: status.INVALID_ARGUMENT, details: "invalid hold name" },
    });
    const r = await cli(["hold", "robot1", "--reason", "x", "--name", "../etc"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/invalid hold name/);
  });

  it("release without --name releases every command hold; --json lists what is still held", async () => {
    rig.agent.handlers.release = () => ({ released: ["operator"], holds: [MISSION] });
    const r = await cli(["release", "robot1", "--json"]);
    expect(r.code).toBe(0);
    expect(rig.agent.calls.map((c) => c.request)).toEqual([{}]);
    expect(JSON.parse(r.stdout)).toEqual({
      target: "robot1",
      released: ["operator"],
      holds: [
        {
          name: "mission",
          source: "file",
          reason: "executing waypoint 3",
          since: "2026-01-01T00:00:00.000Z",
          expiresAt: null,
        },
      ],
    });
  });
});

describe("status", () => {
  it("shows the holds and what the last switch did to units", async () => {
    const r = await cli(["status", "--target", "robot1"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("holds:       1 (deploys are refused)");
    expect(r.stdout).toContain('file hold "mission": executing waypoint 3');
    expect(r.stdout).toContain("units:       restarted: listener.service, talker.service");
    const j = JSON.parse((await cli(["status", "--target", "robot1", "--json"])).stdout) as Record<
      string,
      never
    >;
    expect(j.lastDeployment).toMatchObject({
      unitChanges: {
        stopped: [],
        started: [],
        restarted: ["listener.service", "talker.service"],
        reloaded: [],
      },
      rollbackUnitChanges: null,
    });
    expect(j.holds).toHaveLength(1);
  });
});

describe("control characters in hold names and reasons never reach the terminal", () => {
  const RAW = "\u001b]0;owned\u0007\u001b[2Jcleared\u009b\u202e";
  const ESCAPED = "\\u001b]0;owned\\u0007\\u001b[2Jcleared\\u009b\\u202e";
  const EVIL = { ...MISSION, name: "mission\u001b[31m", reason: RAW };
  /** Anything a terminal acts on, but line breaks. */
  const UNSAFE = /[\p{Cc}\u202a-\u202e]/u;

  it("status and --json show them escaped", async () => {
    rig.agent.handlers.getStatus = () => ({ ...STATUS, holds: [EVIL] });
    const r = await cli(["status", "--target", "robot1"]);
    expect(r.code).toBe(0);
    expect(r.stdout.replace(/\n/g, "")).not.toMatch(UNSAFE);
    expect(r.stdout).toContain(`file hold "mission\\u001b[31m": ${ESCAPED}`);
    const j = JSON.parse((await cli(["status", "--target", "robot1", "--json"])).stdout) as {
      holds: { name: string; reason: string }[];
    };
    expect(j.holds[0]).toMatchObject({ name: "mission\\u001b[31m", reason: ESCAPED });
  });

  it("an agent's error message is printed escaped", async () => {
    rig.agent.handlers.hold = () => ({
      error: { code: status.FAILED_PRECONDITION, details: `the robot is held: ${RAW}\nsecond line` },
    });
    const r = await cli(["hold", "robot1", "--reason", "x"]);
    expect(r.code).toBe(1);
    expect(r.stderr.replace(/\n/g, "")).not.toMatch(UNSAFE);
    expect(r.stderr).toContain(ESCAPED);
  });

  it("hold --reason with a control character is a usage error; the agent is not called", async () => {
    const r = await cli(["hold", "robot1", "--reason", `demo${RAW}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--reason: one line of printable text/);
    expect(r.stderr.replace(/\n/g, "")).not.toMatch(UNSAFE);
    expect(rig.agent.calls).toEqual([]);
  });
});

describe("plan", () => {
  it("asks the agent for the plan of the store path and prints units, untouched services and the closure diff", async () => {
    rig.agent.handlers.queryMissingPaths = () => [];
    rig.agent.handlers.plan = (req) => ({
      currentSystem: "/nix/store/old-system",
      storePath: req.storePath,
      units: changes(["listener.service", "talker.service"]),
      unchanged: ["roscore.service"],
      interrupted: [],
      closure: {
        added: [],
        removed: [],
        changed: [{ name: "ros-nodes", oldVersions: ["1.0"], newVersions: ["1.1"], sizeDeltaBytes: 2048 }],
        oldSizeBytes: 1000,
        newSizeBytes: 3048,
        oldPaths: 2,
        newPaths: 2,
      },
      exitCode: 0,
      output: "",
    });
    const r = await cli(["plan", "/nix/store/new-system", "--target", "robot1"]);
    expect(r.code).toBe(0);
    expect(rig.agent.calls.filter((c) => c.method === "plan").map((c) => c.request)).toEqual([
      { storePath: "/nix/store/new-system" },
    ]);
    expect(r.stdout).toContain("units:     restarted: listener.service, talker.service");
    expect(r.stdout).toContain("untouched: roscore.service");
    expect(r.stdout).toContain("ros-nodes: 1.0 → 1.1");
    // Nothing that changes the robot was called.
    expect(rig.agent.calls.map((c) => c.method).filter((m) => m === "activate" || m === "rollback")).toEqual(
      [],
    );
  });
});
