// Activate with `reboot` over real gRPC with mutual TLS: what the agent refuses, and that a refusal changes nothing.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ServiceError, status } from "@grpc/grpc-js";
import { ActivationAction, type AgentClient } from "@ros-rollback/proto";
import { makeTestPki, type TestPki } from "@ros-rollback/proto/testing";
import { pino } from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { BootConfig } from "../boot/config.js";
import { DeployerLab, type Rig } from "../testing/deployer-rig.js";
import { realPlanner, tmpHolds } from "../testing/holds.js";
import { startTestServer, testClient } from "../testing/server-rig.js";
import type { RunningServer } from "./server.js";

let tmp: string;
let pki: TestPki;
let lab: DeployerLab;
let rig: Rig;
const servers: RunningServer[] = [];

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "rr-reboot-"));
  pki = makeTestPki(join(tmp, "pki"));
  lab = new DeployerLab();
  await lab.setup();
  rig = await lab.rig("reboot");
}, 120_000);

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close(100)));
  await lab?.teardown();
  await rm(tmp, { recursive: true, force: true });
});

async function client(boot: BootConfig | undefined): Promise<AgentClient> {
  const server = await startTestServer(pki, {
    deployer: rig.deployer,
    profile: rig.profile,
    system: rig.system,
    log: pino({ level: "silent" }),
    holds: tmpHolds(tmp),
    planner: realPlanner(rig.system),
    boot,
  });
  servers.push(server);
  return testClient(pki, server.port);
}

function activate(c: AgentClient, action: ActivationAction): Promise<ServiceError> {
  return new Promise((resolve, reject) => {
    const call = c.activate({
      storePath: lab.sys("sys-a"),
      action,
      options: undefined,
      overrideHolds: [],
      reboot: true,
    });
    call.on("data", () => reject(new Error("a refused Activate sent an event")));
    call.on("error", (e: ServiceError) => resolve(e));
    call.on("end", () => reject(new Error("a refused Activate ended without an error")));
  });
}

it("refuses reboot with test and dry-activate (INVALID_ARGUMENT), and without boot counting (FAILED_PRECONDITION)", async () => {
  const counting = await client({ counting: true, esp: join(tmp, "esp"), tries: 3 });
  for (const action of [
    ActivationAction.ACTIVATION_ACTION_TEST,
    ActivationAction.ACTIVATION_ACTION_DRY_ACTIVATE,
  ]) {
    const e = await activate(counting, action);
    expect(e.code).toBe(status.INVALID_ARGUMENT);
    expect(e.details).toMatch(/^reboot: only with the boot or switch action/);
  }
  const off = await client(undefined);
  for (const action of [ActivationAction.ACTIVATION_ACTION_BOOT, ActivationAction.ACTIVATION_ACTION_SWITCH]) {
    const e = await activate(off, action);
    expect(e.code).toBe(status.FAILED_PRECONDITION);
    expect(e.details).toMatch(/boot\.counting is off/);
  }
  expect(await rig.profile.list()).toEqual([]);
  expect(rig.switcher.started).toEqual([]);
  expect(rig.deployer.latest()).toBeUndefined();
}, 60_000);
