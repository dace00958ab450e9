import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DeploymentState as S } from "@ros-rollback/proto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type ConnectAgent, connectAgent } from "../agent-api.js";
import type { ClosureOps } from "../closure-port.js";
import { UserError } from "../core/errors.js";
import { main } from "../main.js";
import { captureIo } from "../testing/capture-io.js";
import { event, type FakeAgent, startFakeAgent } from "../testing/fake-agent.js";
import { fakeClosure, pathInfo } from "../testing/fake-closure.js";
import { makeTestPki } from "../testing/pki.js";

// Real grpc-js over mutual TLS against a fake agent; the local store is a fake.

const SYSTEM = pathInfo("nixos-system-robot1", 3 * 1024);
const CLOSURE = [SYSTEM];
const STATUS = {
  agentVersion: "0.1.0",
  hostname: "robot1",
  currentSystem: "/nix/store/old-system",
  currentGeneration: 41,
  profileSystem: "/nix/store/old-system",
  holds: [],
  deployment: undefined,
  lastDeployment: undefined,
};

let dir: string;
let agent: FakeAgent;
let inventory: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ros-rollback-overlap-"));
  const pki = makeTestPki(dir);
  agent = await startFakeAgent(pki);
  inventory = join(dir, "fleet.json");
  const robot1 = {
    address: `127.0.0.1:${agent.port}`,
    caFile: "ca.pem",
    certFile: "client.pem",
    keyFile: "client.key",
  };
  writeFileSync(inventory, JSON.stringify({ targets: { robot1 } }));
});

afterAll(async () => {
  await agent.close();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  agent.calls.length = 0;
  agent.handlers = {
    getStatus: () => STATUS,
    queryMissingPaths: () => [],
    activate: () => [
      event(S.DEPLOYMENT_STATE_PENDING, { previousGeneration: 41 }),
      event(S.DEPLOYMENT_STATE_SUCCEEDED, { generation: 42, previousGeneration: 41, final: true }),
    ],
  };
});

/** Resolves when `computeClosure` is first called. */
function watchedClosure(inner: ClosureOps): { closure: ClosureOps; started: Promise<void> } {
  let started!: () => void;
  const promise = new Promise<void>((resolve) => {
    started = resolve;
  });
  const closure: ClosureOps = {
    ...inner,
    computeClosure: (storePath, signal) => {
      started();
      return inner.computeClosure(storePath, signal);
    },
  };
  return { closure, started: promise };
}

async function deploy(closure: ClosureOps, connect: ConnectAgent) {
  const { io, stderr } = captureIo({ cwd: dir });
  const argv = ["deploy", SYSTEM.storePath, "--inventory", inventory, "--target", "robot1", "--no-confirm"];
  const code = await main([...argv, "--json"], io, { connect, closure }, new AbortController().signal);
  return { code, stderr: stderr(), methods: agent.calls.map((c) => c.method) };
}

describe("deploy computes the closure while it connects (issue 13)", () => {
  it("starts the closure computation before the connection is made", async () => {
    const { closure, started } = watchedClosure(fakeClosure(CLOSURE));
    // Waits for the closure computation: had deploy computed it only once
    // connected, this would deadlock until the guard below fails the connect.
    const connect: ConnectAgent = async (target, options, signal) => {
      let guard: ReturnType<typeof setTimeout> | undefined;
      const tooLate = new Promise<never>((_, reject) => {
        guard = setTimeout(() => reject(new UserError("the closure was not being computed")), 5_000);
      });
      try {
        await Promise.race([started, tooLate]);
      } finally {
        clearTimeout(guard);
      }
      return connectAgent(target, options, signal);
    };
    const r = await deploy(closure, connect);
    expect(r.stderr).not.toMatch(/not being computed/);
    expect(r.code).toBe(0);
    // The lines come in the order they came before the overlap.
    const lines = r.stderr.split("\n");
    const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
    expect(at(/is on generation 41/)).toBeGreaterThanOrEqual(0);
    expect(at(/is on generation 41/)).toBeLessThan(at(/computing the closure of/));
    expect(at(/computing the closure of/)).toBeLessThan(at(/0 of 1 paths missing/));
    expect(lines.filter((l) => /computing the closure/.test(l))).toHaveLength(1);
    expect(r.methods).toEqual(["getStatus", "queryMissingPaths", "activate"]);
  });

  it("a failed closure computation still fails after GetStatus, before anything is asked of the robot", async () => {
    const failing: ClosureOps = {
      ...fakeClosure(CLOSURE),
      computeClosure: async () => {
        throw new UserError("nix path-info failed: path is not valid");
      },
    };
    const r = await deploy(failing, connectAgent);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/nix path-info failed: path is not valid/);
    expect(r.methods).toEqual(["getStatus"]);
  });

  it("a failed connection is the error reported even while the closure computation fails too", async () => {
    const failing: ClosureOps = {
      ...fakeClosure(CLOSURE),
      computeClosure: async () => {
        throw new UserError("nix path-info failed: path is not valid");
      },
    };
    const refuse: ConnectAgent = async () => {
      throw new UserError("robot1: cannot connect (refused)");
    };
    const r = await deploy(failing, refuse);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot connect \(refused\)/);
    expect(r.stderr).not.toMatch(/path is not valid|computing the closure/);
    expect(r.methods).toEqual([]);
  });
});
