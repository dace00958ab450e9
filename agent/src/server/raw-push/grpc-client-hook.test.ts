import { readFileSync, rmSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Server } from "@grpc/grpc-js";
import { makeTestPki, type TestPki } from "@ros-rollback/proto/testing";
import { afterAll, beforeAll, expect, it } from "vitest";
import { testClient } from "../../testing/server-rig.js";
import { listenShared, type SharedListener } from "../listener.js";

// The listener's onGrpcClient hook (server.ts: the query's nix-store prewarm), over real TLS on 127.0.0.1.

let dir: string;
let pki: TestPki;
let listener: SharedListener | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "rr-hook-"));
  pki = makeTestPki(dir);
});
afterAll(async () => {
  await listener?.close(0);
  rmSync(dir, { recursive: true, force: true });
});

it("calls onGrpcClient per gRPC connection; a hook that throws is reported, the connection goes on", async () => {
  const errors: string[] = [];
  let calls = 0;
  listener = await listenShared(
    "127.0.0.1:0",
    { ca: readFileSync(pki.caFile), cert: readFileSync(pki.serverCert), key: readFileSync(pki.serverKey) },
    new Server(),
    (s) => s.destroy(),
    (e) => errors.push(e.message),
    () => {
      calls++;
      throw new Error("hook failed");
    },
  );
  const port = listener.port;
  for (const n of [1, 2]) {
    const c = testClient(pki, port);
    await new Promise<void>((res, rej) => c.waitForReady(Date.now() + 30_000, (e) => (e ? rej(e) : res())));
    c.close();
    expect(calls).toBe(n);
  }
  expect(errors).toEqual(["hook failed", "hook failed"]);
});
