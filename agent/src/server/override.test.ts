// Overriding named holds over real gRPC with mutual TLS: what is refused, what is recorded, who is logged, and a race.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { Metadata, type ServiceError, status } from "@grpc/grpc-js";
import {
  ActivationAction,
  type AgentClient,
  type DeploymentEvent,
  type DeploymentOptions,
  type GetStatusResponse,
} from "@ros-rollback/proto";
import { makeTestPki, type TestPki } from "@ros-rollback/proto/testing";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Deployer } from "../deployment/deployer.js";
import { FileRecordStore } from "../deployment/record-file.js";
import type { NixProfile } from "../generations/profile.js";
import { Holds } from "../holds/holds.js";
import { HoldStore } from "../holds/store.js";
import type { HoldSource } from "../holds/types.js";
import { TEST_HEALTH, until } from "../testing/deployer-rig.js";
import { FakeSystemInspector } from "../testing/fakes.js";
import { realPlanner } from "../testing/holds.js";
import { addTestSystem, startProfileDeployer } from "../testing/profile-deployer.js";
import { startTestServer, testClient } from "../testing/server-rig.js";
import type { RunningServer } from "./server.js";

process.env.NIX_CONFIG = "build-users-group =";
const logLines: { level: number; msg: string; client?: string; overridden?: string[]; notHeld?: string[] }[] =
  [];
const log = pino(
  { level: "warn" },
  new Writable({
    write(chunk: Buffer, _enc, cb) {
      logLines.push(JSON.parse(chunk.toString("utf8")) as (typeof logLines)[number]);
      cb();
    },
  }),
);
const overriddenSources: HoldSource[] = [];
let tmp = "";
let pki: TestPki;
let server: RunningServer;
let deployer: Deployer;
let store: HoldStore;
let holdDir = "";
let systemPath = "";
const clients: AgentClient[] = [];

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "rr-override-"));
  pki = makeTestPki(join(tmp, "pki"));
  systemPath = addTestSystem(tmp, `ovr-${process.pid}`);
  const inspector = new FakeSystemInspector();
  inspector.systems.add(systemPath);
  store = new HoldStore(join(tmp, "hold-state"), () => Date.now());
  holdDir = join(tmp, "holds");
  mkdirSync(holdDir);
  const holds = new Holds({
    store,
    dir: holdDir,
    conditions: [],
    conditionDeps: { unitState: async () => "inactive", ros: undefined },
    onOverridden: (hs) => overriddenSources.push(...hs.map((h) => h.source)),
  });
  let profile: NixProfile;
  ({ deployer, profile } = await startProfileDeployer(tmp, {
    log,
    system: inspector,
    health: TEST_HEALTH,
    holds,
  }));
  server = await startTestServer(pki, {
    deployer,
    profile,
    system: inspector,
    log,
    holds: holds,
    planner: realPlanner(inspector),
  });
  for (let i = 0; i < 6; i++) {
    // Each client its own connection: the racing calls really arrive side by side.
    const c = testClient(pki, server.port, { "grpc.use_local_subchannel_pool": 1 });
    await new Promise<void>((res, rej) => c.waitForReady(Date.now() + 10_000, (e) => (e ? rej(e) : res())));
    clients.push(c);
  }
}, 30_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await server?.close(100);
  await deployer?.close();
  rmSync(tmp, { recursive: true, force: true });
});

const SELF: DeploymentOptions = {
  confirmTimeoutSeconds: undefined,
  magicRollback: undefined,
  autoRollback: undefined,
  selfConfirm: true,
  healthJson: "",
  label: "",
};

type Result = { events: DeploymentEvent[]; error?: ServiceError };

function activate(c: AgentClient, overrideHolds: string[]): Promise<Result> {
  return new Promise((resolve) => {
    const events: DeploymentEvent[] = [];
    const s = c.activate({
      storePath: systemPath,
      action: ActivationAction.ACTIVATION_ACTION_TEST,
      options: SELF,
      overrideHolds,
    });
    s.on("data", (e: DeploymentEvent) => events.push(e));
    s.on("error", (error: ServiceError) => resolve({ events, error }));
    s.on("end", () => resolve({ events }));
  });
}

function rollback(c: AgentClient, overrideHolds: string[]): Promise<Result> {
  return new Promise((resolve) => {
    const events: DeploymentEvent[] = [];
    const s = c.rollback({ generation: 1, overrideHolds });
    s.on("data", (e: DeploymentEvent) => events.push(e));
    s.on("error", (error: ServiceError) => resolve({ events, error }));
    s.on("end", () => resolve({ events }));
  });
}

function getStatus(c: AgentClient): Promise<GetStatusResponse> {
  return new Promise((res, rej) =>
    c.getStatus({}, new Metadata(), { deadline: Date.now() + 5_000 }, (e, r) => (e ? rej(e) : res(r))),
  );
}

const c0 = () => clients[0] as AgentClient;
const trailerCode = (e: ServiceError | undefined) => e?.metadata.get("ros-rollback-error-code")[0];

describe("override_holds", () => {
  it("goes ahead despite only the holds named: the other still refuses with HELD and its own hint", async () => {
    await store.set("operator", "filming a demo", undefined);
    writeFileSync(join(holdDir, "mission"), "executing waypoint 3\n");
    try {
      const before = deployer.latest();
      const r = await activate(c0(), ["mission"]);
      expect(r.events).toEqual([]);
      expect(r.error?.code).toBe(status.FAILED_PRECONDITION);
      expect(trailerCode(r.error)).toBe("HELD");
      expect(r.error?.details).toBe(
        'the robot is held: command hold "operator": filming a demo (to go ahead anyway: --override-hold operator)',
      );
      const rb = await rollback(c0(), ["operator"]);
      expect(trailerCode(rb.error)).toBe("HELD");
      expect(rb.error?.details).toMatch(/file hold "mission".*--override-hold mission\)$/);
      expect(deployer.latest()).toBe(before);
      expect(overriddenSources).toEqual([]);
    } finally {
      await store.release("operator");
      rmSync(join(holdDir, "mission"), { force: true });
    }
  });

  it.each([
    ["an empty name", [""], /override_holds\[0\] "" \(0 characters\) is not a hold name/],
    ["a control character", ["ok", "mis\nsion"], /override_holds\[1\] "mis\\nsion" \(8 characters\)/],
    [
      "a name of 257 characters",
      ["x".repeat(257)],
      /override_holds\[0\] "x{64}… \(193 more characters\)" \(257 characters\)/,
    ],
    ["33 names", Array.from({ length: 33 }, (_, i) => `h${i}`), /names 33 holds; at most 32$/],
  ])("refuses %s with INVALID_ARGUMENT, bounded, and changes nothing", async (_what, names, message) => {
    const before = deployer.latest();
    for (const r of [await activate(c0(), names), await rollback(c0(), names)]) {
      expect(r.error?.code).toBe(status.INVALID_ARGUMENT);
      expect(r.error?.details).toMatch(message);
      expect(r.error?.details.length).toBeLessThan(400);
    }
    expect(deployer.latest()).toBe(before);
  });

  it("admits a request naming every hold, records the overridden ones, logs them at warn with the client, and counts them", async () => {
    await store.set("operator", "filming a demo", undefined);
    writeFileSync(join(holdDir, "mission"), "executing waypoint 3\n");
    logLines.length = 0;
    try {
      const r = await activate(c0(), ["mission", "operator", "ghost"]);
      expect(r.error).toBeUndefined();
      const id = r.events[0]?.deploymentId ?? "";
      const done = await until(deployer, id);
      expect(done.state).toBe("succeeded");
      expect(done.overriddenHolds).toEqual(["operator", "mission"]);
      expect(await new FileRecordStore(join(tmp, "state")).load()).toMatchObject({
        id,
        overriddenHolds: ["operator", "mission"],
      });
      expect((await getStatus(c0())).lastDeployment?.overriddenHolds).toEqual(["operator", "mission"]);
      expect(overriddenSources).toEqual(["command", "file"]);
      const warn = logLines.find((l) => l.level === 40 && l.msg.includes("despite hold"));
      expect(warn).toMatchObject({
        msg: "activate goes ahead despite hold(s): operator, mission; not held now: ghost",
        overridden: ["operator", "mission"],
        notHeld: ["ghost"],
      });
      expect(warn?.client).toMatch(/^CN=client from /);
    } finally {
      await store.release("operator");
      rmSync(join(holdDir, "mission"), { force: true });
    }
  });

  it("says so when a named hold is not held, and records no override", async () => {
    logLines.length = 0;
    const r = await activate(c0(), ["mission"]);
    expect(r.error).toBeUndefined();
    const done = await until(deployer, r.events[0]?.deploymentId ?? "");
    expect(done.overriddenHolds).toBeUndefined();
    expect(logLines.map((l) => [l.level, l.msg])).toContainEqual([
      40,
      "override of hold(s) that are not held now: mission",
    ]);
  });

  it("races Activates with and without the override while held: only one with the override is ever admitted", async () => {
    await store.set("operator", "filming a demo", undefined);
    const withOverride = (i: number, round: number) => (i + round) % 2 === 0;
    try {
      for (let round = 0; round < 6; round++) {
        // Who asks first alternates between the two kinds from round to round.
        const results = await Promise.all(
          clients.map((c, i) =>
            activate(c, withOverride(i, round) ? ["operator"] : []).then((r) => ({ i, r })),
          ),
        );
        const admitted = results.filter(({ r }) => r.error === undefined);
        expect(admitted.length).toBeLessThanOrEqual(1);
        for (const { i } of admitted) expect(withOverride(i, round)).toBe(true);
        for (const { i, r } of results.filter(({ i }) => !withOverride(i, round))) {
          // Without the override: HELD, or refused because another request holds the gate.
          expect([i, r.error?.code]).toEqual([i, status.FAILED_PRECONDITION]);
        }
        const winner = admitted[0]?.r.events[0]?.deploymentId;
        if (winner !== undefined) {
          expect((await until(deployer, winner)).overriddenHolds).toEqual(["operator"]);
        }
      }
      // The gate is free again: without the override HELD (not busy), with it admitted.
      expect(trailerCode((await activate(c0(), [])).error)).toBe("HELD");
      const alone = await activate(c0(), ["operator"]);
      expect(alone.error).toBeUndefined();
      await until(deployer, alone.events[0]?.deploymentId ?? "");
    } finally {
      await store.release("operator");
    }
  }, 30_000);
});
