import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type TLSSocket } from "node:tls";
import { Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { NixFixture } from "@ros-rollback/nix-core/testing";
import {
  type AgentClient,
  Compression,
  decodeRawPushError,
  FRAME,
  frameHeader,
  type PushPathsRequest,
  type PushPathsResponse,
  RAW_PUSH_ALPN_V1,
  serializePushPathsRequest,
} from "@ros-rollback/proto";
import { makeTestPki, type TestPki } from "@ros-rollback/proto/testing";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStorePort } from "../store/store-adapter.js";
import { DeployerLab } from "../testing/deployer-rig.js";
import { realPlanner, tmpHolds } from "../testing/holds.js";
import { startTestServer, testClient } from "../testing/server-rig.js";
import type { RunningServer } from "./server.js";

// Push slots per client certificate and the opening limit (issue 24), on the agent's one port:
// real mutual TLS, both transports (gRPC PushPaths and the raw channel), the real store adapter
// and receiver on a real (chroot) Nix store. The opening limit is short here; its default (15 s)
// is receive-push-opening.test.ts's.

const OPENING_MS = 1_500;
let tmp: string;
let pki: TestPki;
let fx: NixFixture;
let lab: DeployerLab;
let server: RunningServer;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "rr-push-slots-"));
  pki = makeTestPki(join(tmp, "pki"));
  fx = await NixFixture.create();
  lab = new DeployerLab();
  await lab.setup();
  const rig = await lab.rig("push-slots");
  const log = pino({ level: "silent" });
  const store = createStorePort({
    storeDir: "/nix/store",
    nixBinDir: undefined,
    storeUri: fx.store("robot"),
    env: fx.env,
    trustedPublicKeys: [fx.publicKey],
    log,
    maxConcurrentPushes: 2,
    // Long: only the opening limit may end a push that never starts.
    pushIdleTimeoutMs: 60_000,
    pushOpeningTimeoutMs: OPENING_MS,
  });
  server = await startTestServer(pki, {
    deployer: rig.deployer,
    profile: rig.profile,
    system: rig.system,
    store,
    validateStorePath: store.validateStorePath,
    log,
    holds: tmpHolds(tmp),
    planner: realPlanner(rig.system),
  });
}, 120_000);

afterAll(async () => {
  await server?.close(100);
  await lab?.teardown();
  await fx?.cleanup();
  await rm(tmp, { recursive: true, force: true });
});

type Who = { readonly cert: string; readonly key: string };
const first = (): Who => ({ cert: pki.clientCert, key: pki.clientKey });
const second = (): Who => ({ cert: pki.client2Cert, key: pki.client2Key });
const OPTIONS: PushPathsRequest = {
  item: { $case: "options", value: { compression: Compression.COMPRESSION_NONE, totalNarSize: 0 } },
};

/** A gRPC PushPaths call fed by hand; `result` settles with the response or the status. */
function grpcPush(c: AgentClient) {
  let call!: ReturnType<AgentClient["pushPaths"]>;
  const result = new Promise<PushPathsResponse | ServiceError>((resolve) => {
    call = c.pushPaths(new Metadata(), { deadline: Date.now() + 30_000 }, (e, r) => resolve(e ?? r));
  });
  return { call, result };
}

/** A raw channel connection as `who`; `answer`: all the agent wrote back, once it closed. */
function rawPush(who: Who): { socket: TLSSocket; answer: Promise<Buffer> } {
  const socket = connect({
    port: server.port,
    host: "127.0.0.1",
    servername: "localhost",
    ca: readFileSync(pki.caFile),
    cert: readFileSync(who.cert),
    key: readFileSync(who.key),
    ALPNProtocols: [RAW_PUSH_ALPN_V1],
  });
  const chunks: Buffer[] = [];
  socket.on("data", (d: Buffer) => chunks.push(d));
  socket.on("error", () => undefined);
  const answer = new Promise<Buffer>((resolve) => socket.on("close", () => resolve(Buffer.concat(chunks))));
  return { socket, answer };
}

const frame = (m: PushPathsRequest) => {
  const body = serializePushPathsRequest(m);
  return Buffer.concat([frameHeader(FRAME.MESSAGE, body.length), body]);
};

interface Refusal {
  readonly code: number | undefined;
  readonly details: string | undefined;
}

/** The raw channel's ERROR frame as a status; undefined for anything else. */
function rawRefusal(all: Buffer): Refusal | undefined {
  if (all[0] !== FRAME.ERROR) return undefined;
  const e = decodeRawPushError(all.subarray(5, 5 + all.readUInt32BE(1)));
  return { code: e?.code, details: e?.details };
}

/** An empty push started (PushOptions sent): refused at once, or admitted and waiting for paths. */
interface Racer {
  /** Settles when the agent answers before `finish`: only a refusal does. */
  readonly early: Promise<Refusal | undefined>;
  /** Ends the push; true when the agent answered with a result. */
  finish(): Promise<boolean>;
}

function rawRacer(who: Who): Racer {
  const { socket, answer } = rawPush(who);
  socket.write(frame(OPTIONS)); // sent once the handshake is done
  return {
    early: answer.then(rawRefusal),
    finish: async () => {
      socket.write(frameHeader(FRAME.END, 0));
      return (await answer)[0] === FRAME.RESULT;
    },
  };
}

function grpcRacer(c: AgentClient): Racer {
  const p = grpcPush(c);
  p.call.write(OPTIONS);
  return {
    early: p.result.then((r) => ("code" in r ? { code: r.code, details: r.details } : undefined)),
    finish: async () => {
      p.call.end();
      return "imported" in (await p.result);
    },
  };
}

const PER_CLIENT =
  "a push or substitution by this client certificate is running already; one at a time per client";

describe("push slots are per client certificate", () => {
  it("three pushes racing with one certificate: two are refused at once; another certificate still pushes", async () => {
    const c1 = testClient(pki, server.port, { "grpc.use_local_subchannel_pool": 1 });
    const c2 = testClient(pki, server.port, { "grpc.use_local_subchannel_pool": 1 }, second());
    try {
      await new Promise<void>((res, rej) =>
        c1.waitForReady(Date.now() + 10_000, (e) => (e ? rej(e) : res())),
      );
      // Started in the same tick, over both transports: whichever the agent admits first wins.
      const racers = [rawRacer(first()), rawRacer(first()), grpcRacer(c1)];
      const refused: number[] = [];
      const refusals: (Refusal | undefined)[] = [];
      for (const [i, r] of racers.entries()) {
        void r.early.then((e) => {
          refused.push(i);
          refusals.push(e);
        });
      }
      while (refused.length < 2) await new Promise((r) => setTimeout(r, 10));
      expect(refusals).toEqual([
        { code: status.RESOURCE_EXHAUSTED, details: PER_CLIENT },
        { code: status.RESOURCE_EXHAUSTED, details: PER_CLIENT },
      ]);
      const winner = racers.find((_, i) => !refused.includes(i));

      // Another certificate gets the second slot while the winner holds the first.
      const other = grpcRacer(c2);
      await expect(other.finish()).resolves.toBe(true);
      // The winner was admitted: its (empty) push ends with a result, and the slot is free again.
      await expect(winner?.finish()).resolves.toBe(true);
      await expect(grpcRacer(c1).finish()).resolves.toBe(true);
    } finally {
      c1.close();
      c2.close();
    }
  });
});

describe("a push that sends nothing after its handshake", () => {
  it("raw channel: closed after the opening limit with DEADLINE_EXCEEDED, its slot freed", async () => {
    const started = performance.now();
    const silent = rawPush(first());
    const answer = rawRefusal(await silent.answer); // once the agent closed it
    expect(performance.now() - started).toBeGreaterThanOrEqual(OPENING_MS - 50);
    expect(answer).toEqual({
      code: status.DEADLINE_EXCEEDED,
      details: `the client sent nothing for ${OPENING_MS / 1000}s after it connected`,
    });
    await expect(rawRacer(first()).finish()).resolves.toBe(true);
  });

  it("gRPC PushPaths: ends after the opening limit with DEADLINE_EXCEEDED, its slot freed", async () => {
    const c = testClient(pki, server.port);
    try {
      const silent = grpcPush(c);
      const err = (await silent.result) as ServiceError;
      expect(err.code).toBe(status.DEADLINE_EXCEEDED);
      expect(err.details).toBe(`the client sent nothing for ${OPENING_MS / 1000}s after it connected`);
      await expect(grpcRacer(c).finish()).resolves.toBe(true);
    } finally {
      c.close();
    }
  });
});
