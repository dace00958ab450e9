import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { Compression, DeploymentState, type PushPathsRequest } from "@ros-rollback/proto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { AgentCallError, type ConnectOptions } from "./agent-api.js";
import { ExitCode } from "./core/errors.js";
import { main } from "./main.js";
import { connectAgent } from "./push/transport/connect-agent.js";
import type { Target } from "./targets/inventory.js";
import { captureIo } from "./testing/capture-io.js";
import { event, type FakeAgent, startFakeAgent } from "./testing/fake-agent.js";
import { fakeClosure } from "./testing/fake-closure.js";
import { type FakeNetwork, startFakeNetwork } from "./testing/fake-network.js";
import { makeTestPki, type TestPki } from "./testing/pki.js";

// No agent behaviour may hang the controller: real grpc-js over mutual TLS, an
// agent that never answers, and a relay that silently drops every byte.

let dir: string;
let pki: TestPki;
let agent: FakeAgent;
let net: FakeNetwork;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ros-rollback-deadlines-"));
  pki = makeTestPki(dir);
  agent = await startFakeAgent(pki);
  net = await startFakeNetwork(agent.port);
});

afterAll(async () => {
  await net.close();
  await agent.close();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  agent.handlers = {};
  agent.cancelled.length = 0;
  net.up();
});

const target = (port: number): Target => ({
  name: "robot1",
  address: `127.0.0.1:${port}`,
  caFile: pki.ca,
  certFile: pki.clientCert,
  keyFile: pki.clientKey,
  serverName: "localhost",
});

const FAST: ConnectOptions = {
  connectTimeoutMs: 3_000,
  unaryTimeoutMs: 300,
  keepaliveTimeMs: 200,
  keepaliveTimeoutMs: 300,
};

describe("deadlines", () => {
  it("a unary call the agent never answers: one clear line and exit 1 after --rpc-timeout", async () => {
    agent.handlers = { getStatus: () => ({ hang: true }) };
    const inventory = join(dir, "fleet.json");
    writeFileSync(
      inventory,
      JSON.stringify({ targets: { robot1: { ...target(agent.port), name: undefined } } }),
    );
    const { io, stdout, stderr } = captureIo({ cwd: dir });
    const argv = ["status", "--inventory", inventory, "--target", "robot1", "--rpc-timeout", "0.3"];
    const code = await main(
      argv,
      io,
      { connect: connectAgent, closure: fakeClosure([]) },
      new AbortController().signal,
    );
    expect(code).toBe(ExitCode.Unchanged);
    expect(stdout()).toBe("");
    expect(stderr()).toBe(
      "error: robot1: DEADLINE_EXCEEDED: the agent did not answer GetStatus within 0.3s (--rpc-timeout)\n",
    );
  });

  it("a push the agent never answers after the last byte ends with DEADLINE_EXCEEDED", async () => {
    agent.handlers = { pushPaths: () => ({ hang: true }) };
    const api = await connectAgent(target(agent.port), FAST, new AbortController().signal);
    async function* requests(): AsyncGenerator<PushPathsRequest> {
      yield {
        item: { $case: "options", value: { compression: Compression.COMPRESSION_NONE, totalNarSize: 0 } },
      };
    }
    const err = await api.pushPaths(requests(), new AbortController().signal).catch((e: unknown) => e);
    api.close();
    expect(err).toBeInstanceOf(AgentCallError);
    expect((err as AgentCallError).message).toBe(
      "robot1: DEADLINE_EXCEEDED: the agent did not answer PushPaths (after the last byte) within 0.3s (--rpc-timeout)",
    );
  });
});

describe("bounded output", () => {
  it("a long status message from an agent is shown cut", async () => {
    // 10 k: one that large still fits a trailer (at 100 k the call never ends: the agent's bound).
    const details = `no deployment ${"x".repeat(10_000)}`;
    agent.handlers = { confirm: () => ({ error: { code: status.NOT_FOUND, details } }) };
    const api = await connectAgent(target(agent.port), FAST, new AbortController().signal);
    const err = await api.confirm("d-1", new AbortController().signal).catch((e: unknown) => e);
    api.close();
    expect(err).toBeInstanceOf(AgentCallError);
    expect((err as AgentCallError).message).toBe(`robot1: NOT_FOUND: ${details.slice(0, 2_000)}… (cut)`);
  });
});

describe("keepalive", () => {
  it("ends a stream whose link went silent (every byte dropped, the connection open)", async () => {
    agent.handlers = {
      watch: () => [event(DeploymentState.DEPLOYMENT_STATE_CHECKING_HEALTH), { hang: true }],
    };
    const api = await connectAgent(target(net.port), FAST, new AbortController().signal);
    const events = api.watch(new AbortController().signal)[Symbol.asyncIterator]();
    expect((await events.next()).value).toMatchObject({
      state: DeploymentState.DEPLOYMENT_STATE_CHECKING_HEALTH,
    });
    net.blackhole();
    const err = await events.next().catch((e: unknown) => e);
    api.close();
    expect(err).toBeInstanceOf(AgentCallError);
    expect((err as AgentCallError).code).toBe(status.UNAVAILABLE);
  });
});
