import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ActivateRequest, PushPathsRequest } from "@ros-rollback/proto";
import { DeploymentState as S } from "@ros-rollback/proto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ClosureOps } from "../../closure/port.js";
import { main } from "../../main.js";
import { connectAgent } from "../../push/transport/connect-agent.js";
import { captureIo } from "../../testing/capture-io.js";
import { event, type FakeAgent, startFakeAgent } from "../../testing/fake-agent.js";
import { fakeClosure, pathInfo } from "../../testing/fake-closure.js";
import { makeTestPki, type TestPki } from "../../testing/pki.js";
import { healthReport, type SimOptions, SimulatedAgent } from "../../testing/simulated-agent.js";

// A real fleet: one simulated agent per robot, each a grpc-js server with
// mutual TLS on 127.0.0.1:0, and the real CLI (main) in-process.

const NAMES = ["r1", "r2", "r3", "r4", "r5"] as const;
const SYSTEM = pathInfo("nixos-system-fleet", 3 * 1024, []);
const CLOSURE = [pathInfo("glibc", 64 * 1024), pathInfo("ros-nodes", 64 * 1024), SYSTEM];

let dir: string;
let pki: TestPki;
let agents: Map<string, FakeAgent>;
/** Shared across robots: "start:rN" when a robot's deployment begins, "end:rN" when it is final. */
let timeline: string[];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ros-rollback-fleet-"));
  pki = makeTestPki(dir);
  agents = new Map();
  for (const name of NAMES) agents.set(name, await startFakeAgent(pki));
});

afterAll(async () => {
  for (const a of agents.values()) await a.close();
  rmSync(dir, { recursive: true, force: true });
});

afterEach(() => {
  for (const a of agents.values()) {
    a.handlers = {};
    a.calls.length = 0;
  }
});

function agent(name: string): FakeAgent {
  const a = agents.get(name);
  if (a === undefined) throw new Error(name);
  return a;
}

/** Every robot simulated afresh; `options` per robot (e.g. an unhealthy one). */
function fleet(options: Partial<Record<string, SimOptions>> = {}): void {
  timeline = [];
  for (const name of NAMES) {
    const a = agent(name);
    a.calls.length = 0;
    a.handlers = {
      queryMissingPaths: (paths) => paths,
      pushPaths: (received: PushPathsRequest[]) => ({
        imported: received.flatMap((m) => (m.item?.$case === "path" ? [m.item.value.storePath] : [])),
        skipped: [],
        narBytes: 0,
      }),
      rollback: () => [
        event(S.DEPLOYMENT_STATE_PENDING, { deploymentId: `rb-${name}` }),
        event(S.DEPLOYMENT_STATE_ACTIVATING, { deploymentId: `rb-${name}` }),
        event(S.DEPLOYMENT_STATE_SUCCEEDED, { deploymentId: `rb-${name}`, final: true, generation: 41 }),
      ],
    };
    const sim = new SimulatedAgent(a, {
      id: `d-${name}`,
      stepMs: 5,
      // Five robots confirm over new TLS connections at once on a loaded machine.
      confirmWindowMs: 5_000,
      ...options[name],
      onState: (s) => {
        if (s === S.DEPLOYMENT_STATE_PENDING) timeline.push(`start:${name}`);
      },
    });
    void sim.done.then(() => timeline.push(`end:${name}`));
  }
}

function inventory(down: readonly string[] = []): string {
  const targets: Record<string, unknown> = {};
  for (const [i, name] of NAMES.entries()) {
    targets[name] = {
      // A robot that is down: a port nothing listens on.
      address: `127.0.0.1:${down.includes(name) ? 1 : agent(name).port}`,
      caFile: "ca.pem",
      certFile: "client.pem",
      keyFile: "client.key",
      serverName: "localhost",
      labels: { site: i < 3 ? "lab" : "field" },
    };
  }
  const file = join(dir, `fleet-${down.join("-")}.json`);
  writeFileSync(file, JSON.stringify({ targets }));
  return file;
}

/** The closure, counting transfers running at once (a push runs from its first message to its last). */
function countingClosure(): ClosureOps & { computed: string[]; maxAtOnce: () => number } {
  const inner = fakeClosure(CLOSURE, {
    chunkSize: 8 * 1024,
    beforeChunk: () => new Promise((r) => setTimeout(r, 2)),
  });
  let now = 0;
  let max = 0;
  return {
    ...inner,
    computed: inner.computed,
    maxAtOnce: () => max,
    pushRequests(infos, opts, signal) {
      const messages = inner.pushRequests(infos, opts, signal);
      async function* counted() {
        now++;
        max = Math.max(max, now);
        try {
          yield* messages;
        } finally {
          now--;
        }
      }
      return Object.assign(counted(), { written: (m: PushPathsRequest) => messages.written(m) });
    },
  };
}

async function cli(argv: string[], closure: ClosureOps = countingClosure(), tty = false) {
  const { io, stdout, stderr } = captureIo({ cwd: dir, tty, columns: 160 });
  const code = await main(argv, io, { connect: connectAgent, closure }, new AbortController().signal);
  return { code, stdout: stdout(), stderr: stderr(), json: () => JSON.parse(stdout()) as Rollout };
}

interface Rollout {
  rolloutId: string;
  outcome: string;
  exitCode: number;
  strategy: Record<string, unknown>;
  robots: {
    target: string;
    wave: number | null;
    outcome: string;
    report: { outcome: string } | null;
    rollback: { outcome: string } | null;
  }[];
}

const ESC = String.fromCharCode(27);

const deploy = (inv: string, ...flags: string[]) => [
  "deploy",
  SYSTEM.storePath,
  "--inventory",
  inv,
  "--connect-timeout",
  "2",
  "--json",
  ...flags,
];

const activated = (name: string) => agent(name).calls.filter((c) => c.method === "activate");
const outcomes = (r: Rollout) => Object.fromEntries(r.robots.map((x) => [x.target, x.outcome]));

describe("deploy to several robots (a rollout)", () => {
  it("goes in waves — canary alone, then batches — with at most --max-parallel transfers at once", async () => {
    fleet();
    const closure = countingClosure();
    const r = await cli(
      deploy(inventory(), "--all", "--canary", "1", "--batch", "2", "--max-parallel", "1"),
      closure,
    );
    expect(r.code).toBe(0);
    const doc = r.json();
    expect(doc).toMatchObject({
      outcome: "succeeded",
      exitCode: 0,
      strategy: { canary: 1, batch: "2", maxParallel: 1 },
    });
    expect(doc.robots.map((x) => [x.target, x.wave, x.outcome, x.report?.outcome])).toEqual([
      ["r1", 1, "succeeded", "succeeded"],
      ["r2", 2, "succeeded", "succeeded"],
      ["r3", 2, "succeeded", "succeeded"],
      ["r4", 3, "succeeded", "succeeded"],
      ["r5", 3, "succeeded", "succeeded"],
    ]);
    // A wave starts only once every robot of the one before is final.
    const at = (e: string) => timeline.indexOf(e);
    for (const [earlier, later] of [
      [["r1"], ["r2", "r3"]],
      [
        ["r2", "r3"],
        ["r4", "r5"],
      ],
    ] as const) {
      for (const a of earlier) for (const b of later) expect(at(`end:${a}`)).toBeLessThan(at(`start:${b}`));
    }
    // The closure is computed once; every robot gets it, one transfer at a time.
    expect(closure.computed).toHaveLength(1);
    expect(closure.maxAtOnce()).toBe(1);
    // Every robot records the rollout's id and strategy in its deployment.
    for (const name of NAMES) {
      const request = activated(name)[0]?.request as ActivateRequest;
      expect(request.options?.label).toMatch(
        new RegExp(`^rollout=${doc.rolloutId};canary=1;batch=2;max-parallel=1;`),
      );
    }
    expect(r.stderr).toMatch(new RegExp(`rollout ${doc.rolloutId}: wave 1/3 \\(canary\\): r1`));
  });

  it("on a TTY draws a live table redrawn in place: a row per robot ending in its outcome", async () => {
    fleet();
    const r = await cli(
      deploy(inventory(), "--all", "--canary", "1", "--batch", "4"),
      countingClosure(),
      true,
    );
    expect(r.code).toBe(0);
    // Cursor up over the table and clear, then the table again: redrawn, not appended.
    expect(r.stderr).toMatch(new RegExp(`${ESC}\\[\\d+A\r${ESC}\\[J`));
    const last = r.stderr.split("\x1b[J").at(-1) ?? "";
    const rows = last.trimEnd().split("\n").slice(-6);
    expect(rows[0]).toMatch(/^robot\s+phase\s+transfer\s+health\s+outcome/);
    for (const [i, name] of ["r1", "r2", "r3", "r4", "r5"].entries()) {
      expect(rows[i + 1]).toMatch(new RegExp(`^${name}\\s.*succeeded`));
    }
  });

  it("lets transfers of one wave overlap up to --max-parallel", async () => {
    fleet();
    const closure = countingClosure();
    const r = await cli(deploy(inventory(), "--all", "--max-parallel", "2"), closure);
    expect(r.code).toBe(0);
    expect(closure.maxAtOnce()).toBeLessThanOrEqual(2);
    expect(closure.maxAtOnce()).toBeGreaterThanOrEqual(1);
  });

  it("a failing canary stops the rollout: no other robot is touched (exit 2)", async () => {
    fleet({ r1: { health: [healthReport([["unit:talker.service", "unit talker.service failed"]])] } });
    const r = await cli(deploy(inventory(), "--all", "--canary", "1", "--max-failures", "3"));
    expect(r.code).toBe(2);
    expect(r.json()).toMatchObject({ outcome: "aborted", exitCode: 2 });
    expect(outcomes(r.json())).toEqual({
      r1: "failed",
      r2: "not-started",
      r3: "not-started",
      r4: "not-started",
      r5: "not-started",
    });
    for (const name of ["r2", "r3", "r4", "r5"]) expect(agent(name).calls.map((c) => c.method)).toEqual([]);
    expect(r.stderr).toMatch(/ABORTED: canary r1 failed; no further robot is started/);
  });

  it("aborts past --max-failures; --rollback-on-abort moves the robots it moved back (exit 2)", async () => {
    fleet({ r2: { health: [healthReport([["topic:/chatter", "topic /chatter silent"]])] } });
    const r = await cli(deploy(inventory(), "--all", "--batch", "1", "--rollback-on-abort"));
    expect(r.code).toBe(2);
    const doc = r.json();
    expect(outcomes(doc)).toEqual({
      r1: "succeeded",
      r2: "failed",
      r3: "not-started",
      r4: "not-started",
      r5: "not-started",
    });
    expect(doc.robots[0]?.rollback?.outcome).toBe("succeeded");
    expect(agent("r1").calls.filter((c) => c.method === "rollback")).toHaveLength(1);
    expect(agent("r2").calls.filter((c) => c.method === "rollback")).toHaveLength(0);
    for (const name of ["r3", "r4", "r5"]) expect(activated(name)).toEqual([]);
  });

  it("without --rollback-on-abort the robots it moved keep the new generation: a mixed fleet, exit 3", async () => {
    fleet({ r2: { health: [healthReport([["topic:/chatter", "topic /chatter silent"]])] } });
    const r = await cli(deploy(inventory(), "--all", "--batch", "1"));
    expect(r.code).toBe(3);
    expect(r.json().outcome).toBe("aborted");
    expect(agent("r1").calls.filter((c) => c.method === "rollback")).toEqual([]);
  });

  it("an unreachable robot is skipped with its reason (exit 6); --strict counts it as a failure", async () => {
    fleet();
    const inv = inventory(["r3"]);
    const r = await cli(deploy(inv, "--select", "site=lab"));
    expect(r.code).toBe(6);
    const doc = r.json();
    expect(outcomes(doc)).toEqual({ r1: "succeeded", r2: "succeeded", r3: "skipped" });
    expect(doc.robots[2]).toMatchObject({
      reason: expect.stringMatching(/r3: UNAVAILABLE: cannot reach the agent/),
    });
    for (const name of ["r4", "r5"]) expect(agent(name).calls).toEqual([]);

    fleet();
    const strict = await cli(
      deploy(inv, "--target", "r3", "--target", "r1", "--batch", "1", "--strict", "--rollback-on-abort"),
    );
    expect(strict.code).toBe(2);
    expect(outcomes(strict.json())).toEqual({ r3: "skipped", r1: "not-started" });
    expect(agent("r1").calls).toEqual([]);
  });
});

describe("read-only commands on several robots", () => {
  it("status --all: one entry per robot, an error entry for one that is down (exit 6)", async () => {
    fleet();
    const r = await cli([
      "status",
      "--all",
      "--inventory",
      inventory(["r4"]),
      "--connect-timeout",
      "2",
      "--json",
    ]);
    expect(r.code).toBe(6);
    const doc = JSON.parse(r.stdout) as { target: string; error?: { message: string } }[];
    expect(doc.map((d) => d.target)).toEqual([...NAMES]);
    expect(doc[3]?.error?.message).toMatch(/r4: UNAVAILABLE/);
    expect(doc[0]).toMatchObject({ target: "r1", currentGeneration: 41 });
  });
});
