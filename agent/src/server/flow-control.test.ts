import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Server } from "@grpc/grpc-js";
import { makeTestPki, type TestPki } from "@ros-rollback/proto/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probeHttp2 } from "../testing/http2-probe.js";
import { applyFlowControl, DEFAULT_FLOW_CONTROL } from "./flow-control.js";
import { listenShared } from "./listener.js";
import { serverCredentials } from "./server.js";

let tmp: string;
let pki: TestPki;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "rr-flow-"));
  pki = makeTestPki(join(tmp, "pki"));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function serve(configure: (s: Server) => void): Promise<{ port: number; server: Server }> {
  const server = new Server({ "grpc.max_concurrent_streams": 50 });
  configure(server);
  const creds = await serverCredentials({
    listen: "127.0.0.1:0",
    tls: { caFile: pki.caFile, certFile: pki.serverCert, keyFile: pki.serverKey },
    insecure: false,
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", creds, (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { port, server };
}

describe("applyFlowControl", () => {
  it("grpc-js alone keeps Node's 64 KiB windows and 16 KiB frames (what applyFlowControl fixes)", async () => {
    const { port, server } = await serve(() => undefined);
    try {
      const got = await probeHttp2(port, pki);
      expect(got.initialWindowSize).toBe(65_535);
      expect(got.maxFrameSize).toBe(16_384);
      expect(got.connectionWindow).toBe(65_535);
    } finally {
      server.forceShutdown();
    }
  });

  it("announces the stream window and frame size, widens the connection window, keeps grpc-js's own settings", async () => {
    const fc = {
      streamWindow: 4 * 1024 * 1024,
      connectionWindow: 12 * 1024 * 1024,
      maxFrameSize: 256 * 1024,
    };
    const { port, server } = await serve((s) => applyFlowControl(s, fc));
    try {
      const got = await probeHttp2(port, pki);
      expect(got).toEqual({
        initialWindowSize: fc.streamWindow,
        maxFrameSize: fc.maxFrameSize,
        connectionWindow: fc.connectionWindow,
        maxConcurrentStreams: 50,
      });
    } finally {
      server.forceShutdown();
    }
  });

  it("defaults: 8 MiB per stream, 16 MiB per connection, 1 MiB frames", async () => {
    const { port, server } = await serve((s) => applyFlowControl(s));
    try {
      const got = await probeHttp2(port, pki);
      expect(got.initialWindowSize).toBe(DEFAULT_FLOW_CONTROL.streamWindow);
      expect(got.connectionWindow).toBe(16 * 1024 * 1024);
      expect(got.maxFrameSize).toBe(1024 * 1024);
    } finally {
      server.forceShutdown();
    }
  });

  it("on the agent's shared listener too (its h2 connections are injected into grpc-js)", async () => {
    const server = new Server({ "grpc.max_concurrent_streams": 50 });
    applyFlowControl(server);
    const tls = {
      ca: readFileSync(pki.caFile),
      cert: readFileSync(pki.serverCert),
      key: readFileSync(pki.serverKey),
    };
    const listener = await listenShared("127.0.0.1:0", tls, server, () => undefined);
    try {
      expect(await probeHttp2(listener.port, pki)).toEqual({
        initialWindowSize: DEFAULT_FLOW_CONTROL.streamWindow,
        maxFrameSize: DEFAULT_FLOW_CONTROL.maxFrameSize,
        connectionWindow: DEFAULT_FLOW_CONTROL.connectionWindow,
        maxConcurrentStreams: 50,
      });
    } finally {
      await listener.close(0);
      server.forceShutdown();
    }
  });

  it("refuses sizes HTTP/2 does not allow", () => {
    const server = new Server();
    expect(() => applyFlowControl(server, { ...DEFAULT_FLOW_CONTROL, maxFrameSize: 1 << 24 })).toThrow(
      RangeError,
    );
    expect(() => applyFlowControl(server, { ...DEFAULT_FLOW_CONTROL, connectionWindow: 1024 })).toThrow(
      RangeError,
    );
  });
});
