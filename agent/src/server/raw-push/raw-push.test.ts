import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type TLSSocket } from "node:tls";
import { credentials, makeGenericClientConstructor, Server, status } from "@grpc/grpc-js";
import { parseTrustedKeys } from "@ros-rollback/nix-core";
import {
  Compression,
  decodeRawPushError,
  FRAME,
  frameHeader,
  type PathInfo,
  type PushPathsRequest,
  RAW_PUSH_ALPN,
  type RawPushError,
  serializePushPathsRequest,
} from "@ros-rollback/proto";
import { HealthImplementation, service as healthService } from "grpc-health-check";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentCallError, connectAgent, type PushTransport } from "../../../../controller/src/agent-api.js";
// The controller's half of the wire: this test is the contract between the two.
import { computeClosure, pushRequests } from "../../../../controller/src/closure/index.js";
import { type RawPushEndpoint, rawPush } from "../../../../controller/src/raw-push-client.js";
import { childProcesses, diamondExpr, NixFixture } from "../../../../nix-core/src/testing/nix-fixture.js";
import { NixCliStore } from "../../store/cli-store.js";
import { type PushResult, receivePush } from "../../store/receive-push.js";
import { makeTestPki, type TestPki } from "../../testing/certs.js";
import { serveRawPush } from "./connection.js";
import { listenShared, type SharedListener } from "./listener.js";

// Real TLS on 127.0.0.1: the agent's shared listener (gRPC and the raw channel) with a real Nix store behind it.

let tmp: string;
let pki: TestPki;
let fx: NixFixture;
let closure: PathInfo[];
let grpc: Server;
let listener: SharedListener;
let robots = 0;
let robot: { store: NixCliStore; uri: string; trusted: boolean };
/** Each push the agent received, settled. */
const pushes: Promise<PushResult>[] = [];

const signal = () => AbortSignal.timeout(60_000);
const nix = () => ({ storeUri: fx.sourceStore, env: fx.env });
const newRobot = (trusted = true) => {
  const uri = fx.store(`raw-${++robots}`);
  robot = { store: new NixCliStore({ storeUri: uri, env: fx.env }), uri, trusted };
};
const valid = () =>
  fx.validAmong(
    closure.map((i) => i.storePath),
    robot.uri,
  );

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "rr-raw-push-"));
  pki = makeTestPki(join(tmp, "pki"));
  fx = await NixFixture.create();
  const top = await fx.build(diamondExpr("raw"));
  await fx.sign(top);
  closure = await computeClosure(top, signal(), nix());
  grpc = new Server();
  new HealthImplementation({ "": "SERVING" }).addToServer(grpc);
  const tls = {
    ca: readFileSync(pki.caFile),
    cert: readFileSync(pki.serverCert),
    key: readFileSync(pki.serverKey),
  };
  const store = {
    receivePush: (requests: AsyncIterable<PushPathsRequest>, sig: AbortSignal) => {
      const deps = { store: robot.store, trustedKeys: robot.trusted ? parseTrustedKeys([fx.publicKey]) : [] };
      const p = receivePush(requests, deps, sig);
      pushes.push(p);
      return p;
    },
  };
  const log = pino({ level: "silent" });
  listener = await listenShared("127.0.0.1:0", tls, grpc, (socket) => {
    serveRawPush(socket, store, log).catch(() => undefined);
  });
}, 60_000);

afterAll(async () => {
  await listener?.close();
  grpc?.forceShutdown();
  await fx?.cleanup();
  rmSync(tmp, { recursive: true, force: true });
});

const endpoint = (client = { cert: pki.clientCert, key: pki.clientKey }): RawPushEndpoint => ({
  address: `127.0.0.1:${listener.port}`,
  serverName: "localhost",
  ca: readFileSync(pki.caFile),
  cert: readFileSync(client.cert),
  key: readFileSync(client.key),
});
const TIMEOUTS = { connectTimeoutMs: 5_000, answerTimeoutMs: 10_000 };
const requests = (infos: readonly PathInfo[], compression = Compression.COMPRESSION_NONE) =>
  pushRequests(infos, { compression, nix: nix() }, signal());

/** A raw channel connection by hand; `answer` is all the agent wrote back, once it closed. */
function openRaw(): { socket: TLSSocket; answer: Promise<Buffer> } {
  const e = endpoint();
  const socket = connect({
    port: listener.port,
    host: "127.0.0.1",
    servername: "localhost",
    ca: e.ca,
    cert: e.cert,
    key: e.key,
    ALPNProtocols: [RAW_PUSH_ALPN],
  });
  const chunks: Buffer[] = [];
  socket.on("data", (d: Buffer) => chunks.push(d));
  socket.on("error", () => undefined);
  const answer = new Promise<Buffer>((resolve) => socket.on("close", () => resolve(Buffer.concat(chunks))));
  return { socket, answer };
}

/** Writes `bytes` on a raw channel connection as they are, and returns the agent's ERROR. */
async function sendRaw(bytes: Buffer): Promise<RawPushError | undefined> {
  const { socket, answer } = openRaw();
  socket.write(bytes);
  const all = await answer;
  expect(all[0]).toBe(FRAME.ERROR);
  return decodeRawPushError(all.subarray(5, 5 + all.readUInt32BE(1)));
}

describe("the raw push channel", () => {
  it("shares the port with gRPC: an h2 client gets the gRPC server", async () => {
    const Ctor = makeGenericClientConstructor(healthService, "Health");
    const c = new Ctor(
      `127.0.0.1:${listener.port}`,
      credentials.createSsl(
        readFileSync(pki.caFile),
        readFileSync(pki.clientKey),
        readFileSync(pki.clientCert),
      ),
      { "grpc.ssl_target_name_override": "localhost" },
    ) as unknown as {
      check(r: object, cb: (e: Error | null, r?: { status: number }) => void): void;
      close(): void;
    };
    try {
      const r = await new Promise((resolve, reject) =>
        c.check({ service: "" }, (e, res) => (e ? reject(e) : resolve(res))),
      );
      expect(r).toEqual({ status: "SERVING" });
    } finally {
      c.close();
    }
  });

  it.each([
    ["none", Compression.COMPRESSION_NONE],
    ["zstd", Compression.COMPRESSION_ZSTD],
  ])("imports a signed closure (%s) into a real store; no nix process is left", async (_n, compression) => {
    newRobot();
    let opened = 0;
    const out = await rawPush(endpoint(), requests(closure, compression), signal(), {
      ...TIMEOUTS,
      onOpen: () => opened++,
    });
    expect(opened).toBe(1);
    const total = closure.reduce((n, i) => n + i.narSize, 0);
    expect(out).toEqual({
      kind: "pushed",
      response: { imported: closure.map((i) => i.storePath), skipped: [], narBytes: total },
    });
    await fx.nixStore(["--verify", "--check-contents"], robot.uri);
    expect(await valid()).toHaveLength(closure.length);
    expect(await childProcesses()).toEqual([]);
  });

  it("answers the agent's refusal with the status gRPC would have: UNTRUSTED is PERMISSION_DENIED", async () => {
    newRobot(false);
    await expect(rawPush(endpoint(), requests(closure), signal(), TIMEOUTS)).rejects.toMatchObject({
      name: "RawPushStatus",
      code: status.PERMISSION_DENIED,
      agentCode: "UNTRUSTED",
    });
    expect(await valid()).toEqual([]);
  });

  it("refuses a client certificate from another CA: nothing reaches the store", async () => {
    newRobot();
    const before = pushes.length;
    await expect(
      rawPush(endpoint({ cert: pki.rogueCert, key: pki.rogueKey }), requests(closure), signal(), TIMEOUTS),
    ).rejects.toMatchObject({ name: "RawPushBroken" });
    expect(pushes.length).toBe(before);
    expect(await valid()).toEqual([]);
  });

  it("refuses garbage with INVALID_ARGUMENT: an unknown frame, an oversized frame, an undecodable message", async () => {
    newRobot();
    const http = await sendRaw(Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    expect(http).toMatchObject({ code: status.INVALID_ARGUMENT, agentCode: "INVALID_ARGUMENT" });
    expect(http?.details).toBe("not a raw push stream: unexpected frame type 71");
    const huge = await sendRaw(frameHeader(FRAME.MESSAGE, 0xffff_fff0));
    expect(huge?.details).toMatch(/^not a raw push stream: frame of type 1 is 4294967280 bytes, more than /);
    const junk = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]);
    const bad = await sendRaw(Buffer.concat([frameHeader(FRAME.MESSAGE, junk.length), junk]));
    expect(bad).toMatchObject({ code: status.INVALID_ARGUMENT });
    expect(bad?.details).toMatch(/^cannot decode the PushPaths request: /);
    expect(await valid()).toEqual([]);
  });

  it("a stream that stops before END (mid-path) aborts: earlier paths stay, the cut one is not registered", async () => {
    newRobot();
    const big = closure.findIndex((i) => i.narSize > 1024 * 1024);
    expect(big).toBeGreaterThan(0);
    const ac = new AbortController();
    // The controller gives up in the middle of the big path's bytes (its AbortSignal).
    const cut = async function* (): AsyncGenerator<PushPathsRequest> {
      let current = "";
      let chunks = 0;
      for await (const m of requests(closure)) {
        if (m.item?.$case === "path") current = m.item.value.storePath;
        if (m.item?.$case === "chunk" && current === closure[big]?.storePath && ++chunks === 3) {
          ac.abort(new Error("operator pressed ^C"));
        }
        yield m;
      }
    };
    const before = pushes.length;
    await expect(rawPush(endpoint(), cut(), ac.signal, TIMEOUTS)).rejects.toThrow("operator pressed ^C");
    await expect(pushes[before]).rejects.toMatchObject({ code: "ABORTED" });
    expect(await valid()).toEqual(closure.slice(0, big).map((i) => i.storePath));
    expect(await childProcesses()).toEqual([]);
  });

  it("a connection closed cleanly (TLS close_notify, FIN) before END is an aborted push: nothing registered", async () => {
    newRobot();
    const before = pushes.length;
    const [first] = closure;
    if (first === undefined) throw new Error("empty closure");
    const message = (m: PushPathsRequest) => {
      const body = serializePushPathsRequest(m);
      return Buffer.concat([frameHeader(FRAME.MESSAGE, body.length), body]);
    };
    const half = Buffer.alloc(Math.floor(first.narSize / 2));
    const { socket, answer } = openRaw();
    socket.end(
      Buffer.concat([
        message({ item: { $case: "options", value: { compression: Compression.COMPRESSION_NONE } } }),
        message({ item: { $case: "path", value: first } }),
        frameHeader(FRAME.DATA, half.length),
        half,
      ]),
    );
    await answer;
    await expect(pushes[before]).rejects.toMatchObject({ code: "ABORTED" });
    expect(await valid()).toEqual([]);
    expect(await childProcesses()).toEqual([]);
  });

  it("the controller's AgentApi takes the raw channel, and its refusals are the AgentCallErrors gRPC gives", async () => {
    const target = {
      name: "robot1",
      address: `127.0.0.1:${listener.port}`,
      caFile: pki.caFile,
      certFile: pki.clientCert,
      keyFile: pki.clientKey,
      serverName: "localhost",
      labels: {},
    };
    const api = await connectAgent(target, { connectTimeoutMs: 5_000, unaryTimeoutMs: 10_000 }, signal());
    try {
      newRobot();
      const used: PushTransport[] = [];
      const res = await api.pushPaths(requests(closure), signal(), undefined, (t) => used.push(t));
      expect(used).toEqual([{ kind: "raw" }]);
      expect(res.imported).toEqual(closure.map((i) => i.storePath));
      newRobot(false);
      const err = await api.pushPaths(requests(closure), signal()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AgentCallError);
      expect(err).toMatchObject({ code: status.PERMISSION_DENIED, agentCode: "UNTRUSTED" });
      expect((err as AgentCallError).message).toMatch(
        /^robot1: PERMISSION_DENIED: path "\/nix\/store\/[^"]*" has no signature by a trusted key/,
      );
    } finally {
      api.close();
    }
  });
});
