import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { DeploymentState as S } from "@ros-rollback/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../main.js";
import { connectAgent } from "../../push/transport/connect-agent.js";
import { captureIo } from "../../testing/capture-io.js";
import { event, type FakeAgent, startFakeAgent } from "../../testing/fake-agent.js";
import { fakeClosure } from "../../testing/fake-closure.js";
import { makeTestPki } from "../../testing/pki.js";

// `rollback` with several targets, over real gRPC: every robot is tried (a
// failure aborts nothing); a refusing robot is skipped with its reason.

let dir: string;
let agents: FakeAgent[];
let inventory: string;

const STATUS = {
  agentVersion: "t",
  hostname: "h",
  currentSystem: "/nix/store/new",
  currentGeneration: 42,
  profileSystem: "/nix/store/new",
  holds: [],
  deployment: undefined,
  lastDeployment: undefined,
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ros-rollback-rollback-many-"));
  const pki = makeTestPki(dir);
  agents = [];
  const targets: Record<string, unknown> = {};
  for (const name of ["a", "b", "c"]) {
    const agent = await startFakeAgent(pki, {
      getStatus: () => STATUS,
      rollback: () =>
        name === "b"
          ? [{ error: { code: status.FAILED_PRECONDITION, details: "no previous generation recorded" } }]
          : [
              event(S.DEPLOYMENT_STATE_PENDING, { deploymentId: `rb-${name}` }),
              event(S.DEPLOYMENT_STATE_ACTIVATING, { deploymentId: `rb-${name}` }),
              event(S.DEPLOYMENT_STATE_SUCCEEDED, {
                deploymentId: `rb-${name}`,
                final: true,
                generation: 41,
              }),
            ],
    });
    agents.push(agent);
    targets[name] = {
      address: `127.0.0.1:${agent.port}`,
      caFile: "ca.pem",
      certFile: "client.pem",
      keyFile: "client.key",
      serverName: "localhost",
      labels: { site: "lab" },
    };
  }
  inventory = join(dir, "fleet.json");
  writeFileSync(inventory, JSON.stringify({ targets }));
});

afterAll(async () => {
  for (const a of agents) await a.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("rollback on several robots", () => {
  it("rolls back every robot; a refusing one is skipped with the reason (exit 6)", async () => {
    const { io, stdout } = captureIo({ cwd: dir });
    const code = await main(
      ["rollback", "--select", "site=lab", "--inventory", inventory, "--json"],
      io,
      { connect: connectAgent, closure: fakeClosure([]) },
      new AbortController().signal,
    );
    expect(code).toBe(6);
    const doc = JSON.parse(stdout()) as {
      operation: string;
      robots: { target: string; outcome: string; reason: string; report: { operation: string } | null }[];
    };
    expect(doc.operation).toBe("rollback");
    expect(doc.robots.map((r) => [r.target, r.outcome, r.report?.operation])).toEqual([
      ["a", "succeeded", "rollback"],
      ["b", "skipped", "rollback"],
      ["c", "succeeded", "rollback"],
    ]);
    expect(doc.robots[1]?.reason).toMatch(/FAILED_PRECONDITION: no previous generation recorded/);
    for (const a of agents) expect(a.calls.filter((c) => c.method === "rollback")).toHaveLength(1);
  });
});
