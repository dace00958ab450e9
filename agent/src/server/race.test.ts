// Simultaneous Activate and Rollback streams from separate clients over real gRPC with mutual TLS.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ClientReadableStream, type StatusObject, status } from "@grpc/grpc-js";
import {
  ActivationAction,
  type AgentClient,
  type DeploymentEvent,
  type DeploymentOptions,
  DeploymentState,
} from "@ros-rollback/proto";
import { makeTestPki, type TestPki } from "@ros-rollback/proto/testing";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Deployer } from "../deployment/deployer.js";
import type { NixProfile } from "../generations/profile.js";
import type { SwitchUnitStatus } from "../system/switcher.js";
import { TEST_HEALTH, until } from "../testing/deployer-rig.js";
import { FakeSwitchRunner, FakeSystemInspector } from "../testing/fakes.js";
import { realPlanner, tmpHolds } from "../testing/holds.js";
import { addTestSystem, startProfileDeployer } from "../testing/profile-deployer.js";
import { startTestServer, testClient } from "../testing/server-rig.js";
import type { RunningServer } from "./server.js";

/** Switch units keep running while `held`: the admitted deployment stays busy until the test lets go. */
class HeldSwitchRunner extends FakeSwitchRunner {
  held = false;

  override async status(unit: string): Promise<SwitchUnitStatus> {
    const s = await super.status(unit);
    return this.held && s.exists ? { ...s, running: true, exitCode: undefined, detail: "running" } : s;
  }
}

process.env.NIX_CONFIG = "build-users-group =";
const log = pino({ level: "silent" });
const CALLERS = 8;
const ROUNDS = 10;
let tmp: string;
let pki: TestPki;
let server: RunningServer;
let deployer: Deployer;
let profile: NixProfile;
let switcher: HeldSwitchRunner;
const systems: string[] = [];
const clients: AgentClient[] = [];

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "rr-race-"));
  pki = makeTestPki(join(tmp, "pki"));
  const inspector = new FakeSystemInspector();
  for (const name of ["race-a", "race-b"]) {
    const path = addTestSystem(tmp, `${name}-${process.pid}`);
    systems.push(path);
    inspector.systems.add(path);
  }
  switcher = new HeldSwitchRunner();
  ({ deployer, profile } = await startProfileDeployer(tmp, {
    log,
    system: inspector,
    health: TEST_HEALTH,
    switcher,
  }));
  server = await startTestServer(pki, {
    deployer,
    profile,
    system: inspector,
    log,
    holds: tmpHolds(tmp),
    planner: realPlanner(inspector),
  });
  for (let i = 0; i < CALLERS; i++) {
    // Each client its own channel and connection: the calls really arrive side by side.
    const c = testClient(pki, server.port, { "grpc.use_local_subchannel_pool": 1 });
    await new Promise<void>((res, rej) => c.waitForReady(Date.now() + 10_000, (e) => (e ? rej(e) : res())));
    clients.push(c);
  }
  // PKI, store paths and eight TLS handshakes: slow on a busy 2-core machine.
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

interface Watched {
  /** The first thing the call gave: an event (admitted) or its final status (refused). */
  readonly first: Promise<{ event: DeploymentEvent } | { status: StatusObject }>;
  /** The call's end: every event and the status. */
  readonly end: Promise<{ events: DeploymentEvent[]; status: StatusObject }>;
}

function watch(s: ClientReadableStream<DeploymentEvent>): Watched {
  const events: DeploymentEvent[] = [];
  let settleFirst: (v: { event: DeploymentEvent } | { status: StatusObject }) => void = () => undefined;
  const first = new Promise<{ event: DeploymentEvent } | { status: StatusObject }>((res) => {
    settleFirst = res;
  });
  // The 'status' event carries the outcome; errors are read from it.
  s.on("error", () => undefined);
  const end = new Promise<{ events: DeploymentEvent[]; status: StatusObject }>((res) => {
    s.on("data", (e: DeploymentEvent) => {
      events.push(e);
      settleFirst({ event: e });
    });
    s.on("status", (st: StatusObject) => {
      settleFirst({ status: st });
      res({ events, status: st });
    });
  });
  return { first, end };
}

async function otherGeneration(): Promise<number> {
  const other = (await profile.list()).find((g) => !g.current);
  if (other === undefined) throw new Error("need two generations");
  return other.number;
}

describe("simultaneous deployments over gRPC with mutual TLS", () => {
  it("lets exactly one of many simultaneous Activate and Rollback streams proceed; the rest are refused at once; every stream ends", async () => {
    const [a, b] = systems as [string, string];
    await until(deployer, (await deployer.activate(a, "switch", { selfConfirm: true })).id);
    await until(deployer, (await deployer.activate(b, "switch", { selfConfirm: true })).id);
    for (let round = 0; round < ROUNDS; round++) {
      const target = await otherGeneration();
      // The admitted deployment cannot finish before every refusal has arrived.
      switcher.held = true;
      const deadline = Date.now() + 10_000;
      const calls = clients.map((c, k) =>
        watch(
          (k + round) % 2 === 0
            ? c.activate(
                {
                  storePath: k % 4 === 0 ? a : b,
                  action: ActivationAction.ACTIVATION_ACTION_SWITCH,
                  options: SELF,
                  overrideHolds: [],
                },
                { deadline },
              )
            : c.rollback({ generation: target, overrideHolds: [] }, { deadline }),
        ),
      );
      const firsts = await Promise.all(calls.map((c) => c.first));
      const admitted = firsts.flatMap((f) => ("event" in f ? [f.event] : []));
      expect(admitted, `round ${round}`).toHaveLength(1);
      const id = (admitted[0] as DeploymentEvent).deploymentId;
      for (const f of firsts) {
        if ("status" in f) {
          expect(f.status.code, f.status.details).toBe(status.FAILED_PRECONDITION);
          expect(f.status.details).toContain(id);
        }
      }
      switcher.held = false;
      const ends = await Promise.all(calls.map((c) => c.end));
      const winner = ends.filter((e) => e.events.length > 0);
      expect(winner).toHaveLength(1);
      const w = winner[0] as { events: DeploymentEvent[]; status: StatusObject };
      expect(w.status.code).toBe(status.OK);
      expect(new Set(w.events.map((e) => e.deploymentId))).toEqual(new Set([id]));
      expect(w.events.at(-1)).toMatchObject({
        final: true,
        state: DeploymentState.DEPLOYMENT_STATE_SUCCEEDED,
      });
      expect(ends.filter((e) => e.status.code === status.FAILED_PRECONDITION)).toHaveLength(CALLERS - 1);
    }
  }, 60_000);
});
