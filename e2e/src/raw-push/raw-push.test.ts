import { readFileSync } from "node:fs";
import { credentials, makeGenericClientConstructor, Server, type ServiceError, status } from "@grpc/grpc-js";
import { listenShared } from "@ros-rollback/agent/testing";
import { AgentCallError, connectAgent, type PushTransport, rawPush } from "@ros-rollback/controller/testing";
import { childProcesses } from "@ros-rollback/nix-core/testing";
import { Compression } from "@ros-rollback/proto";
import { HealthImplementation, service as healthService } from "grpc-health-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RawPushRig, signal } from "../raw-push-rig.js";

// Real TLS on 127.0.0.1: the agent's shared listener with a real Nix store behind the raw channel.

let rig: RawPushRig;
beforeAll(async () => {
  rig = await RawPushRig.start("raw");
}, 60_000);
afterAll(() => rig?.close());

const TIMEOUTS = { connectTimeoutMs: 5_000, answerTimeoutMs: 10_000 };

type HealthClient = {
  check(r: object, cb: (e: ServiceError | null, r?: object) => void): void;
  close(): void;
};

/** One grpc.health.v1 Check over mutual TLS: it must answer SERVING. */
async function healthCheck(address: string): Promise<void> {
  const { pki } = rig;
  const Ctor = makeGenericClientConstructor(healthService, "Health");
  const creds = credentials.createSsl(
    readFileSync(pki.caFile),
    readFileSync(pki.clientKey),
    readFileSync(pki.clientCert),
  );
  const c = new Ctor(address, creds, {
    "grpc.ssl_target_name_override": "localhost",
  }) as unknown as HealthClient;
  try {
    const r = await new Promise((resolve, reject) =>
      c.check({ service: "" }, (e, res) => (e ? reject(e) : resolve(res))),
    );
    expect(r).toEqual({ status: "SERVING" });
  } finally {
    c.close();
  }
}

describe("the raw push channel", () => {
  it("shares the port with gRPC: an h2 client gets the gRPC server", async () => {
    await healthCheck(`127.0.0.1:${rig.port}`);
  });

  it.each([
    ["none", Compression.COMPRESSION_NONE],
    ["zstd", Compression.COMPRESSION_ZSTD],
  ])("imports a signed closure (%s) into a real store; no nix process is left", async (_n, compression) => {
    rig.newRobot();
    let opened = 0;
    const out = await rawPush(rig.endpoint(), rig.requests(rig.closure, compression), signal(), {
      ...TIMEOUTS,
      onOpen: () => opened++,
    });
    expect(opened).toBe(1);
    const total = rig.closure.reduce((n, i) => n + i.narSize, 0);
    expect(out).toEqual({
      kind: "pushed",
      response: { imported: rig.closure.map((i) => i.storePath), skipped: [], narBytes: total },
    });
    // nix re-hashes every file of every path against its registered NAR hash.
    await rig.fx.nixStore(["--verify", "--check-contents"], rig.storeUri);
    expect(await rig.valid()).toHaveLength(rig.closure.length);
    expect(await childProcesses()).toEqual([]);
  });

  it("the controller's AgentApi takes the raw channel, and its refusals are the AgentCallErrors gRPC gives", async () => {
    const api = await connectAgent(
      rig.target(),
      { connectTimeoutMs: 5_000, unaryTimeoutMs: 10_000 },
      signal(),
    );
    try {
      rig.newRobot();
      const used: PushTransport[] = [];
      const res = await api.pushPaths(rig.requests(), signal(), undefined, (t) => used.push(t));
      expect(used).toEqual([{ kind: "raw", progress: true }]);
      expect(res.imported).toEqual(rig.closure.map((i) => i.storePath));
      rig.newRobot(false);
      const err = await api.pushPaths(rig.requests(), signal()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AgentCallError);
      expect(err).toMatchObject({ code: status.PERMISSION_DENIED, agentCode: "UNTRUSTED" });
      expect((err as AgentCallError).message).toMatch(
        /^robot1: PERMISSION_DENIED: path "\/nix\/store\/[^"]*" has no signature by a trusted key/,
      );
      expect(await rig.valid()).toEqual([]);
    } finally {
      api.close();
    }
  });

  it("a port that is taken, or a listen address that is not host:port, is refused with a clear error", async () => {
    const { pki } = rig;
    const tls = {
      ca: readFileSync(pki.caFile),
      cert: readFileSync(pki.serverCert),
      key: readFileSync(pki.serverKey),
    };
    const server = new Server();
    new HealthImplementation({ "": "SERVING" }).addToServer(server);
    // A name is every address it has, on one port ("localhost": 127.0.0.1 and, where there is IPv6, ::1).
    const byName = await listenShared("localhost:0", tls, server, () => undefined);
    try {
      await healthCheck(`127.0.0.1:${byName.port}`);
    } finally {
      await byName.close(0);
    }
    try {
      await expect(listenShared(`127.0.0.1:${rig.port}`, tls, server, () => undefined)).rejects.toMatchObject(
        {
          code: "FAILED_PRECONDITION",
          message: expect.stringMatching(/^cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/),
        },
      );
      await expect(listenShared("nonsense", tls, server, () => undefined)).rejects.toMatchObject({
        code: "INVALID_ARGUMENT",
        message: "cannot listen on nonsense: expected host:port",
      });
    } finally {
      server.forceShutdown();
    }
  });
});
