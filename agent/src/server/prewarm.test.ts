import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Metadata } from "@grpc/grpc-js";
import { childProcesses, NixFixture } from "@ros-rollback/nix-core/testing";
import type { AgentClient } from "@ros-rollback/proto";
import { makeTestPki, type TestPki } from "@ros-rollback/proto/testing";
import { pino } from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Deployer } from "../deployment/deployer.js";
import { createStorePort } from "../store/store-adapter.js";
import { DeployerLab, until } from "../testing/deployer-rig.js";
import { realPlanner, tmpHolds } from "../testing/holds.js";
import { startTestServer, testClient } from "../testing/server-rig.js";
import type { RunningServer } from "./server.js";

// Real gRPC over mutual TLS, the real store adapter with a kept query process, a real (chroot) store.

let tmp: string;
let pki: TestPki;
let fx: NixFixture;
let lab: DeployerLab;
let server: RunningServer;
let robotPath: string;
let deployer: Deployer;
let prewarms = 0;
const nixStores = async () => (await childProcesses()).filter((l) => l.endsWith("nix-store"));

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "rr-prewarm-"));
  pki = makeTestPki(join(tmp, "pki"));
  fx = await NixFixture.create();
  const storeUri = fx.store("robot");
  robotPath = await fx.build(`builtins.toFile "p" "p"`, storeUri);
  lab = new DeployerLab();
  await lab.setup();
  const rig = await lab.rig("prewarm");
  deployer = rig.deployer;
  const log = pino({ level: "silent" });
  const real = createStorePort({
    storeDir: "/nix/store",
    nixBinDir: undefined,
    storeUri,
    env: fx.env,
    trustedPublicKeys: [fx.publicKey],
    log,
    keepQueryProcessMs: 60_000,
  });
  const store = {
    ...real,
    prepareQuery: () => {
      prewarms++;
      real.prepareQuery();
    },
  };
  server = await startTestServer(pki, {
    deployer: rig.deployer,
    profile: rig.profile,
    system: rig.system,
    store,
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

function client(): AgentClient {
  return testClient(pki, server.port);
}

const deadline = () => ({ deadline: Date.now() + 30_000 });

const waitFor = async (what: string, done: () => Promise<boolean>) => {
  const end = Date.now() + 30_000;
  while (!(await done())) {
    if (Date.now() > end) throw new Error(`${what} did not happen`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

it("starts the query's nix-store once a client connects, before any call; GetStatus and QueryMissingPaths use it", async () => {
  const c = client();
  try {
    expect(await nixStores()).toEqual([]);
    // The connection alone (TLS, then h2): no call made yet.
    await new Promise<void>((res, rej) => c.waitForReady(Date.now() + 30_000, (e) => (e ? rej(e) : res())));
    await waitFor("a nix-store start on the connection", async () => (await nixStores()).length > 0);
    const warm = await nixStores();
    expect(warm).toHaveLength(1);
    await new Promise((res, rej) =>
      c.getStatus({}, new Metadata(), deadline(), (e, r) => (e ? rej(e) : res(r))),
    );
    const absent = `/nix/store/${"0".repeat(32)}-absent`;
    const missing = await new Promise((res, rej) =>
      c.queryMissingPaths({ storePaths: [robotPath, absent] }, new Metadata(), deadline(), (e, r) =>
        e ? rej(e) : res(r),
      ),
    );
    expect(missing).toEqual({ missing: [absent] });
    expect(await nixStores()).toEqual(warm);
  } finally {
    c.close();
  }
}, 60_000);

it("starts no nix-store for a connection while a deployment is in progress (a Confirm's)", async () => {
  const connect = async () => {
    const c = client();
    await new Promise<void>((res, rej) => c.waitForReady(Date.now() + 30_000, (e) => (e ? rej(e) : res())));
    c.close();
  };
  const d = await deployer.activate(lab.sys("sys-a"), "switch", {});
  await until(deployer, d.id, "awaiting_confirmation", 30_000);
  const before = prewarms;
  await connect(); // the listener has seen the handshake before the client is ready
  expect(prewarms).toBe(before);
  await deployer.confirm(d.id);
  await connect();
  expect(prewarms).toBe(before + 1);
}, 60_000);
