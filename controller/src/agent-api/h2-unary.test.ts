// The relay route's GetStatus over node:http2: a real HTTP/2 TLS server on 127.0.0.1 answering as
// a gRPC agent would (a message, a trailers-only error with the agent's code, no answer at all), and
// the same mutual-TLS refusals grpc-js's channel gives, at connect.
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createSecureServer, type Http2SecureServer } from "node:http2";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSecureContext } from "node:tls";
import { GetStatusResponse } from "@ros-rollback/proto";
import { makeTestPki, type TestPki } from "@ros-rollback/proto/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentCallError } from "./call-error.js";
import { connectH2 } from "./h2-unary.js";

let dir: string;
let pki: TestPki;
let server: Http2SecureServer;
let port: number;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "h2-unary-"));
  pki = makeTestPki(dir);
  server = createSecureServer({
    ca: readFileSync(pki.caFile),
    cert: readFileSync(pki.serverCert),
    key: readFileSync(pki.serverKey),
    requestCert: true,
    rejectUnauthorized: true,
  });
  server.on("stream", (stream, headers) => {
    const path = headers[":path"];
    stream.resume();
    if (path === "/ok") {
      const body = Buffer.from(
        GetStatusResponse.encode(GetStatusResponse.fromPartial({ hostname: "r1" })).finish(),
      );
      const frame = Buffer.alloc(5 + body.length);
      frame.writeUInt32BE(body.length, 1);
      body.copy(frame, 5);
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(frame);
    } else if (path === "/held") {
      stream.respond(
        {
          ":status": 200,
          "content-type": "application/grpc",
          "grpc-status": "9",
          "grpc-message": encodeURIComponent("held: lidar calibration"),
          "ros-rollback-error-code": "HELD",
        },
        { endStream: true },
      );
    } // anything else: no answer
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  port = (server.address() as { port: number }).port;
});

afterAll(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

const material = (cert = pki.clientCert, key = pki.clientKey, serverName = "localhost") => ({
  secureContext: createSecureContext({
    ca: readFileSync(pki.caFile),
    cert: readFileSync(cert),
    key: readFileSync(key),
  }),
  serverName,
});
const stream = () => netConnect(port, "127.0.0.1");
const ctx = { target: { name: "r1" } as never, unaryTimeoutMs: 500 };
const method = (path: string) => ({
  path,
  name: "GetStatus",
  decode: (b: Buffer) => GetStatusResponse.decode(b),
});
const refusal = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

describe("a unary call over HTTP/2 on one TLS stream", () => {
  it("answers, and maps the agent's error status and code as grpc-js would", async () => {
    const agent = await connectH2("r1", "relay r1", stream(), material(), 3_000);
    try {
      expect(
        (await agent.call(ctx, method("/ok"), Buffer.alloc(0), AbortSignal.timeout(5_000))).hostname,
      ).toBe("r1");
      const e = await refusal(agent.call(ctx, method("/held"), Buffer.alloc(0), AbortSignal.timeout(5_000)));
      expect(e).toBeInstanceOf(AgentCallError);
      expect(e).toMatchObject({
        statusName: "FAILED_PRECONDITION",
        details: "held: lidar calibration",
        agentCode: "HELD",
      });
    } finally {
      agent.close();
    }
  });

  it("no answer within the RPC timeout: the --rpc-timeout message; an abort: the abort's reason", async () => {
    const agent = await connectH2("r1", "relay r1", stream(), material(), 3_000);
    try {
      const e = await refusal(
        agent.call(ctx, method("/silent"), Buffer.alloc(0), AbortSignal.timeout(5_000)),
      );
      expect((e as AgentCallError).message).toMatch(
        /did not answer GetStatus within 0\.5s \(--rpc-timeout\)/,
      );
      const aborted = new AbortController();
      const call = refusal(
        agent.call({ ...ctx, unaryTimeoutMs: 60_000 }, method("/silent"), Buffer.alloc(0), aborted.signal),
      );
      aborted.abort(new Error("interrupted"));
      expect(((await call) as Error).message).toBe("interrupted");
    } finally {
      agent.close();
    }
  });

  it("refused at connect: a client certificate the agent does not accept, an agent certificate not for the name", async () => {
    for (const [m, why] of [
      [material(pki.rogueCert, pki.rogueKey), /./],
      [material(undefined, undefined, "robot9.example"), /robot9\.example/],
    ] as const) {
      const e = await refusal(connectH2("r1", "relay r1", stream(), m, 3_000));
      expect(e).toBeInstanceOf(AgentCallError);
      expect((e as AgentCallError).message).toMatch(
        /^r1: UNAVAILABLE: cannot reach the agent at relay r1 within 3s: /,
      );
      expect((e as AgentCallError).message).toMatch(why);
    }
  });
});
