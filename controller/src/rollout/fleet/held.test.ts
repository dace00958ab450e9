import { DeploymentState as S } from "@ros-rollback/proto";
import { describe, expect, it } from "vitest";
import { fakeClosure, pathInfo } from "../../testing/fake-closure.js";
import { importAll, MISSION, useFleetRig } from "../../testing/fleet-rig.js";
import { healthReport, type SimOptions, SimulatedAgent } from "../../testing/simulated-agent.js";

// Held robots in a fleet rollout: one simulated agent per robot (refusing
// Activate while held, FAILED_PRECONDITION with the HELD trailer code), real
// gRPC with mutual TLS on 127.0.0.1, the real CLI in-process on a virtual clock.

const NAMES = ["r1", "r2", "r3"] as const;
const SYSTEM = pathInfo("nixos-system-fleet", 3 * 1024, []);
const CLOSURE = [pathInfo("glibc", 64 * 1024), SYSTEM];

const fleetRig = useFleetRig("held", NAMES);
let sims: Map<string, SimulatedAgent>;
/** "start:rN" when a robot's deployment begins. */
let timeline: string[];

/** Every robot afresh; `held` robots hold MISSION. */
function fleet(held: readonly string[], options: Partial<Record<string, SimOptions>> = {}): void {
  timeline = [];
  sims = new Map();
  for (const name of NAMES) {
    const a = fleetRig.agent(name);
    a.calls.length = 0;
    a.handlers = { queryMissingPaths: (paths) => paths, pushPaths: importAll() };
    const sim = new SimulatedAgent(a, {
      id: `d-${name}`,
      stepMs: 2,
      confirmWindowMs: 5_000,
      ...options[name],
      onState: (s) => {
        if (s === S.DEPLOYMENT_STATE_PENDING) timeline.push(`start:${name}`);
      },
    });
    sim.holds = held.includes(name) ? [MISSION] : [];
    sims.set(name, sim);
  }
}

const sim = (name: string) => sims.get(name) as SimulatedAgent;

interface Robot {
  target: string;
  wave: number | null;
  outcome: string;
  reason: string;
  held: { name: string; reason: string }[] | null;
}
interface Doc {
  rolloutId: string;
  outcome: string;
  exitCode: number;
  reason: string;
  robots: Robot[];
}

async function cli(argv: string[], tty = false) {
  const r = await fleetRig.cli(argv, { closure: fakeClosure(CLOSURE), tty });
  return { ...r, json: () => r.json() as unknown as Doc };
}

const deploy = (...flags: string[]) => cli(["deploy", SYSTEM.storePath, "--all", "--batch", "1", ...flags]);
const byName = (d: Doc) => Object.fromEntries(d.robots.map((r) => [r.target, r]));

describe("a fleet rollout with a held robot", () => {
  it("skips it (held), counts no failure, goes on with the next waves; exit 6 with its holds", async () => {
    fleet(["r2"]);
    const r = await deploy("--json");
    expect(r.code).toBe(6);
    const doc = r.json();
    expect(doc).toMatchObject({ outcome: "partial", exitCode: 6 });
    expect(doc.reason).toBe("2 succeeded, 0 failed, 0 uncertain, 1 skipped (1 held), 0 not started");
    const robots = byName(doc);
    expect(robots.r2).toMatchObject({
      outcome: "skipped",
      wave: 2,
      held: [{ name: "mission", reason: "executing waypoint 3" }],
    });
    expect(robots.r3?.outcome).toBe("succeeded");
    expect(r.stderr).toMatch(/^r2: skipped \(held\): .*the robot is held: hold "mission"/m);
    expect(sim("r2").current ?? sim("r2").last).toBeUndefined();
  });

  it("--override-hold goes to every robot: the held one deploys too (exit 0), the JSON says so", async () => {
    fleet(["r2"]);
    const r = await deploy("--json", "--override-hold", "mission");
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({ outcome: "succeeded", overrideHolds: ["mission"] });
    for (const name of NAMES) {
      const activate = fleetRig.calls(name, "activate")[0];
      expect([name, activate?.request]).toMatchObject([name, { overrideHolds: ["mission"] }]);
    }
    expect([sim("r1").last?.overriddenHolds, sim("r2").last?.overriddenHolds]).toEqual([[], ["mission"]]);
    expect(r.stderr).toMatch(/^warning: overriding hold\(s\): mission$/m);
  });

  it("text summary: 'skipped (held)' with the holds", async () => {
    fleet(["r2"]);
    const r = await deploy();
    expect(r.code).toBe(6);
    expect(r.stdout).toMatch(
      /^r2\s+skipped \(held\)\s+.* — holds: file hold "mission": executing waypoint 3$/m,
    );
  });

  it("--wait-for-release retries it after the last wave and deploys it once released (exit 0)", async () => {
    fleet(["r2"], {
      r2: {
        // 1 prepare, 2 the retry's prepare, 3 its first poll, ...
        afterStatus: (n) => {
          if (n === 4) sim("r2").holds = [];
        },
      },
    });
    const r = await deploy("--wait-for-release", "600", "--json");
    expect(r.code, r.stderr).toBe(0);
    expect(byName(r.json()).r2).toMatchObject({ outcome: "succeeded", wave: 2, held: null });
    // Retried after every wave: r3 (wave 3) started before r2.
    expect(timeline).toEqual(["start:r1", "start:r3", "start:r2"]);
    expect(r.stderr).toMatch(/waiting up to 10:00 for held robots to be released: r2$/m);
    expect(r.stderr).toMatch(/^r2: held, waiting up to 10:00 for release: file hold "mission"/m);
    expect(r.stderr).toMatch(/^r2: released after \d+ s$/m);
  });

  it("one still held at the end stays 'skipped (held)': exit 6; every robot held: exit 1", async () => {
    fleet(["r2", "r3"], {
      r3: {
        afterStatus: (n) => {
          if (n === 3) sim("r3").holds = [];
        },
      },
    });
    const r = await deploy("--wait-for-release", "20", "--json");
    expect(r.code).toBe(6);
    const robots = byName(r.json());
    expect(robots.r3?.outcome).toBe("succeeded");
    expect(robots.r2).toMatchObject({ outcome: "skipped", held: [{ name: "mission" }] });
    expect(robots.r2?.reason).toMatch(
      /^r2: still held after 20 s \(--wait-for-release 20\): file hold "mission"/,
    );

    fleet(["r1", "r2", "r3"]);
    const all = await deploy("--wait-for-release", "3", "--json");
    expect(all.code).toBe(1);
    expect(all.json()).toMatchObject({ outcome: "unchanged" });
    expect(all.json().reason).toMatch(/^no robot could be deployed: /);
  });

  it("a real failure next to a held robot: only the failure counts against --max-failures", async () => {
    const sick = healthReport([["unit:talker.service", "unit talker.service failed"]]);
    fleet(["r2"], { r1: { health: [sick] } });
    // One failure allowed: were the held robot counted, the rollout would abort before r3.
    const r = await deploy("--max-failures", "1", "--json");
    const robots = byName(r.json());
    expect(robots.r1?.outcome).toBe("failed");
    expect(robots.r2).toMatchObject({ outcome: "skipped", held: [{ name: "mission" }] });
    expect(robots.r3?.outcome).toBe("succeeded");
    expect(r.json().outcome).toBe("failed");
    expect(r.code).toBe(3);

    // Not even with --strict (which counts unreachable robots).
    fleet(["r1"]);
    const strict = await deploy("--strict", "--json");
    expect(Object.values(byName(strict.json())).map((x) => x.outcome)).toEqual([
      "skipped",
      "succeeded",
      "succeeded",
    ]);
  });

  it("a failure among the retried robots aborts the rollout: a robot still waiting stops at once, not started", async () => {
    const sick = healthReport([["unit:talker.service", "unit talker.service failed"]]);
    fleet(["r1", "r2"], {
      r1: {
        health: [sick],
        // 1 prepare, 2 the refusal's holds: released before the retry.
        afterStatus: (n) => {
          if (n === 2) sim("r1").holds = [];
        },
      },
    });
    // A day's window: without stopping on the abort, r2 would poll it to the end and stay held.
    const r = await deploy("--wait-for-release", "86400", "--json");
    const robots = byName(r.json());
    expect(robots.r1?.outcome).toBe("failed");
    expect(robots.r2).toMatchObject({ outcome: "not-started", held: null });
    expect(robots.r2?.reason).toMatch(/^not started: the rollout was aborted/);
    expect(r.json().outcome).toBe("aborted");
    expect(sim("r2").current ?? sim("r2").last).toBeUndefined();
  });

  it("a held canary does not abort the rollout", async () => {
    fleet(["r1"]);
    const r = await cli(["deploy", SYSTEM.storePath, "--all", "--canary", "1", "--json"]);
    expect(r.code).toBe(6);
    expect(r.json().robots.map((x) => x.outcome)).toEqual(["skipped", "succeeded", "succeeded"]);
  });

  it("on a TTY the live table shows the held robot's row as skipped (held)", async () => {
    fleet(["r2"]);
    const tty = await cli(["deploy", SYSTEM.storePath, "--all", "--batch", "1"], true);
    expect(tty.code).toBe(6);
    const last = tty.stderr.split("\x1b[J").at(-1) ?? "";
    expect(last).toMatch(/^r2\s.*skipped \(held\): /m);
    expect(last).toMatch(/^r3\s.*succeeded/m);
  });

  it("rollout status shows it held; rollout resume deploys it (it is not done)", async () => {
    fleet(["r2"]);
    const first = await deploy("--json");
    expect(first.code).toBe(6);
    const id = first.json().rolloutId;

    const status = await cli(["rollout", "status", id, "--json"]);
    const states = (
      JSON.parse(status.stdout) as { robots: { target: string; state: string; reason: string }[] }
    ).robots;
    expect(states.map((x) => x.state)).toEqual(["succeeded", "held", "succeeded"]);
    expect(states[1]?.reason).toBe('file hold "mission": executing waypoint 3');

    sim("r2").holds = [];
    const resumed = await cli(["rollout", "resume", id, "--json"]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(byName(resumed.json()).r2?.outcome).toBe("succeeded");
    expect(sim("r2").request?.options?.label).toMatch(new RegExp(`^rollout=${id};`));
    // The finished robots keep their result: not deployed again.
    for (const name of ["r1", "r3"]) {
      expect(fleetRig.calls(name, "activate")).toHaveLength(1);
    }
  });
});
