import { readFileSync, rmSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Metadata } from "@grpc/grpc-js";
import type { Deployer } from "@ros-rollback/agent/testing";
import {
  AgentError,
  type AgentMetrics,
  COMPLETE_STORE,
  createAgentMetrics,
  metricValue,
  pushCounter,
  type RunningServer,
  startServer,
  testClient,
} from "@ros-rollback/agent/testing";
import { rawPush } from "@ros-rollback/controller/testing";
import { Compression, type PushPathsRequest } from "@ros-rollback/proto";
import { makeTestPki, type TestPki } from "@ros-rollback/proto/testing";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// ros_rollback_pushes_total{transport, result}: the raw channel is invisible to grpc_server_*, so
// each push is counted by transport when it ends. The real server over mutual TLS on 127.0.0.1.

let dir: string;
let pki: TestPki;
let m: AgentMetrics;
let server: RunningServer;
let refuse = false;
/** Per push the store received: whether it was given the raw channel's progress counts. */
const counts: boolean[] = [];

const OPTIONS: PushPathsRequest = {
  item: { $case: "options", value: { compression: Compression.COMPRESSION_NONE, totalNarSize: 0 } },
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "rr-push-transport-"));
  pki = makeTestPki(dir);
  m = createAgentMetrics({ version: "0", defaultMetrics: false });
  server = await startServer(
    {
      listen: "127.0.0.1:0",
      tls: { caFile: pki.caFile, certFile: pki.serverCert, keyFile: pki.serverKey },
      insecure: false,
      onPush: pushCounter(m),
    },
    {
      version: "test",
      // The listener asks whether a deployment runs before it starts the query's nix-store.
      deployer: unused<Deployer>("deployer", { active: () => undefined }),
      profile: unused("profile"),
      system: unused("system"),
      holds: unused("holds"),
      planner: unused("planner"),
      log: pino({ level: "silent" }),
      store: {
        ...COMPLETE_STORE,
        receivePush: async (requests, _signal, progress) => {
          counts.push(progress !== undefined);
          for await (const _ of requests);
          if (refuse) throw new AgentError("UNTRUSTED", "no trusted signature");
          return { imported: [], skipped: [], narBytes: 0 };
        },
      },
      validateStorePath: () => undefined,
      checkHealth: async () => {
        throw new Error("not used");
      },
    },
  );
});
afterAll(async () => {
  await server?.close(0);
  rmSync(dir, { recursive: true, force: true });
});

/** A dependency no push touches: a use of anything but `allowed` fails the test. */
function unused<T extends object>(what: string, allowed: Partial<T> = {}): T {
  return new Proxy(allowed as T, {
    get: (target, key) => {
      if (key in target) return target[key as keyof T];
      throw new Error(`${what} is not used by a push`);
    },
  });
}

async function* one(): AsyncIterable<PushPathsRequest> {
  yield OPTIONS;
}

function grpcPush(): Promise<unknown> {
  const c = testClient(pki, server.port);
  return new Promise((resolve) => {
    const call = c.pushPaths(new Metadata(), { deadline: Date.now() + 10_000 }, (e, r) => {
      c.close();
      resolve(e ?? r);
    });
    call.write(OPTIONS);
    call.end();
  });
}

async function raw(): Promise<string> {
  const endpoint = {
    address: `127.0.0.1:${server.port}`,
    serverName: "localhost",
    ca: readFileSync(pki.caFile),
    cert: readFileSync(pki.clientCert),
    key: readFileSync(pki.clientKey),
  };
  const out = await rawPush(endpoint, one(), AbortSignal.timeout(10_000), {
    connectTimeoutMs: 5_000,
    answerTimeoutMs: 5_000,
  }).catch((e: unknown) => ({ kind: `error: ${(e as Error).message}` }));
  return out.kind;
}

const pushes = (transport: string, result: string) =>
  metricValue(m.registry, "ros_rollback_pushes_total", { transport, result });

describe("ros_rollback_pushes_total", () => {
  it("starts at 0 for every transport and result", async () => {
    for (const t of ["raw", "grpc"]) for (const r of ["ok", "error"]) expect(await pushes(t, r)).toBe(0);
  });

  it("counts each push by its transport and result", async () => {
    refuse = false;
    expect(await raw()).toBe("pushed");
    await grpcPush();
    await grpcPush();
    refuse = true;
    expect(await raw()).toMatch(/^error: .*no trusted signature/);
    expect(await pushes("raw", "ok")).toBe(1);
    expect(await pushes("raw", "error")).toBe(1);
    expect(await pushes("grpc", "ok")).toBe(2);
    expect(await pushes("grpc", "error")).toBe(0);
  });

  // Counting wraps the store: it must not drop the counts the raw channel's PROGRESS frames
  // (version 2) are made of, or auto never hears from the agent.
  it("passes the raw channel's progress counts through to the store, as without counting", async () => {
    refuse = false;
    counts.length = 0;
    expect(await raw()).toBe("pushed");
    await grpcPush();
    expect(counts).toEqual([true, false]);
  });
});
