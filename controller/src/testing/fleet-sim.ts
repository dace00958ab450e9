// The fleet tests' set-up: one simulated agent per robot, each a grpc-js server with mutual TLS
// on 127.0.0.1:0, and the real CLI (main) in-process.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PushPathsRequest } from "@ros-rollback/proto";
import { DeploymentState as S } from "@ros-rollback/proto";
import { afterAll, afterEach, beforeAll } from "vitest";
import type { ClosureOps } from "../closure/port.js";
import { main } from "../main.js";
import { connectAgent } from "../push/transport/connect-agent.js";
import { captureIo } from "./capture-io.js";
import { event, type FakeAgent, startFakeAgent } from "./fake-agent.js";
import { fakeClosure, pathInfo } from "./fake-closure.js";
import { makeTestPki, type TestPki } from "./pki.js";
import { type SimOptions, SimulatedAgent } from "./simulated-agent.js";

export const NAMES = ["r1", "r2", "r3", "r4", "r5"] as const;
const SYSTEM = pathInfo("nixos-system-fleet", 3 * 1024, []);
export const ESC = String.fromCharCode(27);
const CLOSURE = [pathInfo("glibc", 64 * 1024), pathInfo("ros-nodes", 64 * 1024), SYSTEM];

export interface Rollout {
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

export const deploy = (inv: string, ...flags: string[]) => [
  "deploy",
  SYSTEM.storePath,
  "--inventory",
  inv,
  "--connect-timeout",
  "2",
  "--json",
  ...flags,
];

export const outcomes = (r: Rollout) => Object.fromEntries(r.robots.map((x) => [x.target, x.outcome]));

/** Starts the five agents before the file's tests (and closes them after); their calls reset after each test. */
export function useFleetSim() {
  let dir: string;
  let pki: TestPki;
  let agents: Map<string, FakeAgent>;
  /** Shared across robots: "start:rN" when a robot's deployment begins, "end:rN" when it is final. */
  const timeline: string[] = [];

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
    timeline.length = 0;
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

  const activated = (name: string) => agent(name).calls.filter((c) => c.method === "activate");
  return { agent, fleet, inventory, countingClosure, cli, activated, timeline };
}
