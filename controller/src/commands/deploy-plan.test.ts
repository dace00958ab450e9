import type { GetStatusResponse, PlanResponse, PushPathsRequest } from "@ros-rollback/proto";
import { describe, expect, it } from "vitest";
import { useCliRig } from "../testing/cli-rig.js";
import type { FakeAgent } from "../testing/fake-agent.js";
import { pathInfo } from "../testing/fake-closure.js";

// deploy --plan over real gRPC with mutual TLS on 127.0.0.1: fake agents that
// answer Plan, and record every call so that no Activate goes unnoticed.

const NAMES = ["r1", "r2", "r3"] as const;
const SYSTEM = pathInfo("nixos-system-plan", 3 * 1024, []);
const CLOSURE = [pathInfo("glibc", 64 * 1024), SYSTEM];

const STATUS: GetStatusResponse = {
  agentVersion: "0.1.0",
  hostname: "robot",
  currentSystem: "/nix/store/old-system",
  currentGeneration: 41,
  profileSystem: "/nix/store/old-system",
  holds: [],
  deployment: undefined,
  lastDeployment: undefined,
};

const plan = (storePath: string, exitCode = 0): PlanResponse => ({
  currentSystem: "/nix/store/old-system",
  storePath,
  units: { stopped: [], started: [], restarted: ["talker.service"], reloaded: [], known: true },
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
  exitCode,
  output: exitCode === 0 ? "" : "unit foo.service: bad setting",
});

const rig = useCliRig({
  name: "deploy-plan",
  agents: NAMES.length,
  closure: CLOSURE,
  targets: (r) => {
    const targets: Record<string, unknown> = {};
    for (const [name, a] of agents())
      targets[name] = r.robot({ address: `127.0.0.1:${a.port}`, serverName: "localhost" });
    // A robot that is down: a port nothing listens on.
    targets.down = r.robot({ address: "127.0.0.1:1", serverName: "localhost" });
    return targets;
  },
});
/** The agents by robot name. */
const agents = () => NAMES.map((name, i) => [name, rig.agents[i] as FakeAgent] as const);
/** "rN:method" for every call, across the robots, in order. */
let timeline: string[];

function robots(exitCodes: Partial<Record<string, number>> = {}): void {
  timeline = [];
  for (const [name, a] of agents()) {
    a.calls.length = 0;
    /** Records the call, answers `answer`. */
    const seen = <T>(m: string, answer: T): T => {
      timeline.push(`${name}:${m}`);
      return answer;
    };
    a.handlers = {
      getStatus: () => seen("getStatus", STATUS),
      queryMissingPaths: (paths) => seen("queryMissingPaths", paths),
      pushPaths: (received: PushPathsRequest[]) =>
        seen("pushPaths", {
          imported: received.flatMap((m) => (m.item?.$case === "path" ? [m.item.value.storePath] : [])),
          skipped: [],
          narBytes: 0,
        }),
      plan: (req) => seen("plan", plan(req.storePath, exitCodes[name])),
    };
  }
}

function cli(...args: string[]) {
  return rig.run([
    "deploy",
    SYSTEM.storePath,
    "--plan",
    "--inventory",
    rig.inventory,
    "--connect-timeout",
    "2",
    ...args,
  ]);
}

const changing = () =>
  agents().flatMap(([, a]) =>
    a.calls.map((c) => c.method).filter((m) => m === "activate" || m === "rollback"),
  );

describe("deploy --plan", () => {
  it("transfers the missing paths, prints the plan like `plan`, changes nothing (exit 0)", async () => {
    robots();
    const r = await cli("--target", "r1", "--transfer", "push");
    expect(r.code, r.stderr).toBe(0);
    expect(timeline).toEqual(["r1:getStatus", "r1:queryMissingPaths", "r1:pushPaths", "r1:plan"]);
    expect(r.stdout).toContain(`r1: plan for ${SYSTEM.storePath} (running /nix/store/old-system)`);
    expect(r.stdout).toContain("units:     restarted: talker.service");
    expect(r.stdout).toContain("untouched: roscore.service");
    expect(r.stdout).toContain("ros-nodes: 1.0 → 1.1, +0.0 MiB");
    expect(changing()).toEqual([]);
  });

  it("--json is the plan document; a failing dry-activate exits 1", async () => {
    robots({ r1: 1 });
    const r = await cli("--target", "r1", "--transfer", "push", "--json");
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({
      target: "r1",
      storePath: SYSTEM.storePath,
      units: { restarted: ["talker.service"] },
      unchanged: ["roscore.service"],
      interrupted: [],
      closure: { sizeDeltaBytes: 2048 },
      exitCode: 1,
    });
    expect(changing()).toEqual([]);
  });

  it("several targets: each robot planned, --max-parallel at once, one block each", async () => {
    robots();
    const r = await cli("--all", "--max-parallel", "1", "--transfer", "push", "--json");
    // "down" cannot be reached: planned elsewhere, exit 6.
    expect(r.code).toBe(6);
    const doc = JSON.parse(r.stdout) as { target: string; exitCode?: number; error?: { message: string } }[];
    expect(doc.map((d) => d.target)).toEqual(["r1", "r2", "r3", "down"]);
    expect(doc.slice(0, 3).map((d) => d.exitCode)).toEqual([0, 0, 0]);
    expect(doc[3]?.error?.message).toMatch(/^down: UNAVAILABLE: cannot reach the agent/);
    // One robot at a time: its calls are not interleaved with another's.
    const robotsInOrder = timeline.map((t) => t.split(":")[0]);
    expect(robotsInOrder).toEqual([...robotsInOrder].sort());
    expect(changing()).toEqual([]);

    robots();
    const text = await cli("--target", "r1", "--target", "r2", "--transfer", "push");
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^r1: plan for .*\n[\s\S]*\n\nr2: plan for /);
  });

  it("each robot's plan shows the NAR bytes it misses against its free space and reserve", async () => {
    robots();
    const missing = CLOSURE.reduce((sum, p) => sum + p.narSize, 0);
    const free = { r1: 10 * 1024 ** 2, r2: 512 * 1024 + missing - 1, r3: 512 * 1024 + missing };
    for (const [name, a] of agents()) {
      const space = {
        storeFreeBytes: free[name],
        storeSizeBytes: 64 * 1024 ** 2,
        bootKnown: false,
        bootFreeBytes: 0,
        bootSizeBytes: 0,
        storeReserveBytes: 512 * 1024,
      };
      a.handlers.getStatus = () => ({ ...STATUS, space });
    }
    const r = await cli("--target", "r1", "--target", "r2", "--target", "r3", "--transfer", "push", "--json");
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { target: string; space: unknown }[];
    expect(doc.map((d) => [d.target, d.space])).toEqual([
      ["r1", { bytesMissing: missing, storeFreeBytes: free.r1, reserveBytes: 512 * 1024, verdict: "fits" }],
      [
        "r2",
        { bytesMissing: missing, storeFreeBytes: free.r2, reserveBytes: 512 * 1024, verdict: "does not fit" },
      ],
      ["r3", { bytesMissing: missing, storeFreeBytes: free.r3, reserveBytes: 512 * 1024, verdict: "fits" }],
    ]);
    const text = await cli("--target", "r2", "--transfer", "push");
    expect(text.stdout).toContain(
      `space:     needs 67.0 KiB, 579 KiB free on the store, reserve 512 KiB: does not fit`,
    );
  });

  it("refuses --plan with --wait-for-release or another --action (exit 1, usage), calling no agent", async () => {
    robots();
    for (const flags of [
      ["--wait-for-release", "60"],
      ["--action", "boot"],
    ]) {
      const r = await cli("--target", "r1", ...flags);
      expect(r.code, flags.join(" ")).toBe(1);
      expect(r.stderr).toMatch(/^error: --plan /);
    }
    expect(timeline).toEqual([]);
  });
});
