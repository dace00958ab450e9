import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, loadPackageDefinition, Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import {
  ActivationAction,
  AgentClient,
  type DeploymentEvent,
  type DeploymentOptions,
  DeploymentState,
  type GetStatusResponse,
  type SubstituteProgress,
} from "@ros-rollback/proto";
import { protoPath as healthProtoPath } from "grpc-health-check";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Deployer } from "../deployment/deployer.js";
import { FileRecordStore } from "../deployment/record-file.js";
import { AgentError } from "../errors.js";
import { NixProfile } from "../generations/profile.js";
import { compileHealthConfig } from "../health/index.js";
import type { Holds } from "../holds/holds.js";
import { ProcessRunner } from "../system/command.js";
import { makeTestPki, type TestPki } from "../testing/certs.js";
import { FakeHealth, FakeSwitchRunner, FakeSystemInspector, noData } from "../testing/fakes.js";
import { realPlanner, tmpHolds } from "../testing/holds.js";
import { probeHttp2 } from "../testing/http2-probe.js";
import { HEALTHY_SNAPSHOT, startTestServer } from "../testing/server-rig.js";
import { DEFAULT_FLOW_CONTROL } from "./flow-control.js";
import type { RunningServer } from "./server.js";
import type { StorePort } from "./store-port.js";

process.env.NIX_CONFIG = "build-users-group =";
const require = createRequire(import.meta.url);
const log = pino({ level: "silent" });
let tmp: string;
let pki: TestPki;
let server: RunningServer;
let systemPath: string;
let slowPath: string;
let deployer: Deployer;
let holds: Holds;
const hash = "0".repeat(32);

const fakeStore: StorePort = {
  queryMissing: async (paths) => paths.filter((p) => !p.includes("present")),
  querySubstitutable: async (paths) => ({
    paths: paths.map((storePath) => ({ storePath, cacheUrl: "http://cache", narSize: 10, fileSize: 5 })),
    unreachable: [],
  }),
  // Two progress reports, then the end or (for an "untrusted" path) the refusal a real store gives.
  substitute: async (paths, _signal, onProgress) => {
    const base = { pathsTotal: paths.length, narBytesTotal: 10 * paths.length, pathsAlreadyValid: 0 };
    onProgress({ ...base, pathsDone: 0, narBytesDone: 0, done: false });
    if (paths.some((p) => p.includes("untrusted"))) {
      throw new AgentError("UNTRUSTED", `path ${paths[0]} is not signed`);
    }
    const last = { ...base, pathsDone: paths.length, narBytesDone: base.narBytesTotal, done: true };
    onProgress(last);
    return last;
  },
  receivePush: async () => ({ imported: [], skipped: [], narBytes: 0 }),
};

function validate(p: string): void {
  if (!/^\/nix\/store\/[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]+$/.test(p) || p.includes("..")) {
    throw new AgentError("INVALID_ARGUMENT", `not a store path: ${p}`);
  }
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "rr-server-"));
  pki = makeTestPki(join(tmp, "pki"));
  mkdirSync(join(tmp, "profile"));
  const mk = (name: string) => {
    mkdirSync(join(tmp, name, "bin"), { recursive: true });
    execFileSync("sh", ["-c", `printf '#!/bin/sh\\n' > ${tmp}/${name}/bin/switch-to-configuration`]);
    return execFileSync("nix-store", ["--add", join(tmp, name)], { encoding: "utf8" }).trim();
  };
  systemPath = mk(`srv-sys-${process.pid}`);
  slowPath = mk(`srv-slow-${process.pid}`);
  const inspector = new FakeSystemInspector();
  inspector.systems.add(systemPath);
  inspector.systems.add(slowPath);
  const switcher = new FakeSwitchRunner();
  // The "slow" system's unit never finishes within the test: the deployment stays busy.
  const slowSwitcher = Object.assign(Object.create(switcher) as FakeSwitchRunner, {
    status: async (unit: string) =>
      unit.includes("slow") || switcher.started.at(-1)?.systemPath === slowPath
        ? { exists: true, running: true, exitCode: undefined, detail: "running" }
        : switcher.status(unit),
  });
  const profile = new NixProfile(join(tmp, "profile", "system"), new ProcessRunner(), "nix-env");
  holds = tmpHolds(tmp);
  deployer = new Deployer({
    holds,
    profile,
    switcher: slowSwitcher,
    records: new FileRecordStore(join(tmp, "state")),
    data: noData(join(tmp, "state")),
    system: inspector,
    clock: { now: () => Date.now() },
    log,
    health: new FakeHealth(),
    options: {
      activationTimeoutMs: 60_000,
      deleteFailedGenerations: true,
      defaults: {
        autoRollback: true,
        magicRollback: true,
        confirmTimeoutSeconds: 30,
        health: compileHealthConfig({
          settleSeconds: 0,
          stableSeconds: 1,
          timeoutSeconds: 2,
          intervalSeconds: 0.05,
        }),
      },
    },
  });
  await deployer.start();
  server = await startTestServer(pki, {
    deployer,
    profile,
    system: inspector,
    store: fakeStore,
    validateStorePath: validate,
    checkHealth: async (signal) => ({ ...(await HEALTHY_SNAPSHOT(signal)), reason: "fake" }),
    log,
    holds,
    planner: realPlanner(inspector),
  });
});

afterAll(async () => {
  await server?.close(100);
  await deployer?.close();
  rmSync(tmp, { recursive: true, force: true });
});

function client(cert = pki.clientCert, key = pki.clientKey): AgentClient {
  const creds = credentials.createSsl(readFileSync(pki.caFile), readFileSync(key), readFileSync(cert));
  return new AgentClient(`127.0.0.1:${server.port}`, creds, { "grpc.ssl_target_name_override": "localhost" });
}

const SELF_CONFIRM: DeploymentOptions = {
  confirmTimeoutSeconds: undefined,
  magicRollback: undefined,
  autoRollback: undefined,
  selfConfirm: true,
  healthJson: "",
  label: "",
};

function events(
  c: AgentClient,
  storePath: string,
  action: ActivationAction,
  options: DeploymentOptions = SELF_CONFIRM,
  onEvent: (e: DeploymentEvent) => void = () => undefined,
): Promise<DeploymentEvent[]> {
  return new Promise((resolve, reject) => {
    const out: DeploymentEvent[] = [];
    const s = c.activate({ storePath, action, options, overrideHolds: [] });
    s.on("data", onEvent);
    s.on("data", (e: DeploymentEvent) => out.push(e));
    s.on("error", reject);
    s.on("end", () => resolve(out));
  });
}

const deadline = () => ({ deadline: Date.now() + 5_000 });

describe("agent gRPC server over mutual TLS", () => {
  it("answers GetStatus and QueryMissingPaths to a client of the right CA", async () => {
    const c = client();
    const st = await new Promise((res, rej) =>
      c.getStatus({}, new Metadata(), deadline(), (e, r) => (e ? rej(e) : res(r))),
    );
    expect(st).toMatchObject({ agentVersion: "test", currentGeneration: 0 });
    const missing = await new Promise((res, rej) =>
      c.queryMissingPaths(
        { storePaths: [`/nix/store/${hash}-present`, `/nix/store/${hash}-absent`] },
        (e, r) => (e ? rej(e) : res(r)),
      ),
    );
    expect(missing).toEqual({ missing: [`/nix/store/${hash}-absent`] });
    c.close();
  });

  it("streams Substitute progress to the end; an untrusted path is PERMISSION_DENIED with code UNTRUSTED", async () => {
    const c = client();
    const stream = (p: string) =>
      new Promise<{ progress: SubstituteProgress[]; error?: ServiceError }>((resolve) => {
        const progress: SubstituteProgress[] = [];
        const s = c.substitute({ storePaths: [p] });
        s.on("data", (m: SubstituteProgress) => progress.push(m));
        s.on("error", (error: ServiceError) => resolve({ progress, error }));
        s.on("end", () => resolve({ progress }));
      });
    const ok = await stream(`/nix/store/${hash}-fine`);
    expect(ok.error).toBeUndefined();
    expect(ok.progress.map((m) => [m.pathsDone, m.narBytesDone, m.done])).toEqual([
      [0, 0, false],
      [1, 10, true],
    ]);
    const refused = await stream(`/nix/store/${hash}-untrusted`);
    expect(refused.progress).toHaveLength(1);
    expect(refused.error?.code).toBe(status.PERMISSION_DENIED);
    expect(refused.error?.metadata.get("ros-rollback-error-code")).toEqual(["UNTRUSTED"]);
    c.close();
  });

  it("refuses a client certificate from another CA at the handshake", async () => {
    const c = client(pki.rogueCert, pki.rogueKey);
    const err = await new Promise<ServiceError>((res) =>
      c.getStatus({}, new Metadata(), deadline(), (e) => res(e as ServiceError)),
    );
    expect(err.code).toBe(status.UNAVAILABLE);
    c.close();
  });

  it("refuses a client without a certificate", async () => {
    const c = new AgentClient(`127.0.0.1:${server.port}`, credentials.createSsl(readFileSync(pki.caFile)), {
      "grpc.ssl_target_name_override": "localhost",
    });
    const err = await new Promise<ServiceError>((res) =>
      c.getStatus({}, new Metadata(), deadline(), (e) => res(e as ServiceError)),
    );
    expect(err.code).toBe(status.UNAVAILABLE);
    c.close();
  });

  it.each([
    ["/nix/store/short-name"],
    [`/nix/store/${hash}-..`],
    [`/nix/store/${hash}-a/../../etc`],
    [`/tmp/${hash}-x`],
    [""],
  ])("gives INVALID_ARGUMENT for the malformed path %j", async (p) => {
    const err = await events(client(), p, ActivationAction.ACTIVATION_ACTION_SWITCH).catch(
      (e: ServiceError) => e,
    );
    expect((err as ServiceError).code).toBe(status.INVALID_ARGUMENT);
  });

  it("gives INVALID_ARGUMENT for an unknown action", async () => {
    const err = await events(client(), systemPath, 42 as ActivationAction).catch((e: ServiceError) => e);
    expect((err as ServiceError).code).toBe(status.INVALID_ARGUMENT);
    expect((err as ServiceError).details).toMatch(/unknown activation action/);
  });

  it("streams a deployment's events to the end", async () => {
    const evs = await events(client(), systemPath, ActivationAction.ACTIVATION_ACTION_SWITCH);
    const states = evs.map((e) => e.state);
    expect(states.filter((s, i) => s !== states[i - 1])).toEqual([
      DeploymentState.DEPLOYMENT_STATE_PENDING,
      DeploymentState.DEPLOYMENT_STATE_PROFILE_SET,
      DeploymentState.DEPLOYMENT_STATE_ACTIVATING,
      DeploymentState.DEPLOYMENT_STATE_ACTIVATED,
      DeploymentState.DEPLOYMENT_STATE_CHECKING_HEALTH,
      DeploymentState.DEPLOYMENT_STATE_SUCCEEDED,
    ]);
    expect(evs.find((e) => e.health !== undefined)?.health?.checks[0]?.id).toBe("unit:talker.service");
    expect(evs.at(-1)).toMatchObject({ final: true, generation: 1 });
    expect(new Set(evs.map((e) => e.deploymentId)).size).toBe(1);
  });

  it("keeps the options' opaque label with the deployment and shows it in GetStatus", async () => {
    const label = "rollout=r-20261129-abc strategy=canary:1,batch:2";
    const evs = await events(client(), systemPath, ActivationAction.ACTIVATION_ACTION_SWITCH, {
      ...SELF_CONFIRM,
      label,
    });
    expect(evs.at(-1)).toMatchObject({ final: true });
    const c = client();
    const st = await new Promise<GetStatusResponse>((res, rej) =>
      c.getStatus({}, new Metadata(), deadline(), (e, r) => (e ? rej(e) : res(r))),
    );
    c.close();
    expect(st.lastDeployment?.id).toBe(evs.at(-1)?.deploymentId);
    expect(st.lastDeployment?.options?.label).toBe(label);
  });

  it.each([
    ["too long", "x".repeat(513)],
    ["not printable", "rollout=r-1\nstrategy=all"],
  ])("gives INVALID_ARGUMENT for a label that is %s, and starts nothing", async (_, label) => {
    const err = await events(client(), systemPath, ActivationAction.ACTIVATION_ACTION_SWITCH, {
      ...SELF_CONFIRM,
      label,
    }).catch((e: ServiceError) => e);
    expect((err as ServiceError).code).toBe(status.INVALID_ARGUMENT);
    expect((err as ServiceError).details).toMatch(
      /options\.label must be printable ASCII of at most 512 bytes/,
    );
  });

  it("waits for Confirm, which a NEW client sends; Confirm of an unknown id is NOT_FOUND", async () => {
    const watcher = client();
    let confirmed: Promise<unknown> | undefined;
    const evs = await events(
      watcher,
      systemPath,
      ActivationAction.ACTIVATION_ACTION_TEST,
      { ...SELF_CONFIRM, selfConfirm: false, confirmTimeoutSeconds: 20 },
      (e) => {
        if (e.state === DeploymentState.DEPLOYMENT_STATE_AWAITING_CONFIRMATION && confirmed === undefined) {
          expect(e.confirmDeadlineUnixMs).toBeGreaterThan(Date.now());
          const fresh = client();
          confirmed = new Promise((res, rej) =>
            fresh.confirm({ deploymentId: e.deploymentId }, (err, r) => (err ? rej(err) : res(r))),
          ).finally(() => fresh.close());
        }
      },
    );
    await expect(confirmed).resolves.toMatchObject({
      deployment: { state: DeploymentState.DEPLOYMENT_STATE_SUCCEEDED },
    });
    expect(evs.at(-1)?.state).toBe(DeploymentState.DEPLOYMENT_STATE_SUCCEEDED);
    const err = await new Promise<ServiceError | null>((res) =>
      watcher.confirm({ deploymentId: "d-nope" }, (e) => res(e)),
    );
    expect(err?.code).toBe(status.NOT_FOUND);
    watcher.close();
  });

  it("refuses Activate while held: FAILED_PRECONDITION with the trailer code HELD, naming the hold", async () => {
    await holds.store.set("operator", "filming a demo", undefined);
    try {
      const err = (await events(client(), systemPath, ActivationAction.ACTIVATION_ACTION_SWITCH).catch(
        (e: ServiceError) => e,
      )) as ServiceError;
      expect(err.code).toBe(status.FAILED_PRECONDITION);
      expect(err.details).toBe(
        'the robot is held: command hold "operator": filming a demo (to go ahead anyway: --override-hold operator)',
      );
      expect(err.metadata.get("ros-rollback-error-code")).toEqual(["HELD"]);
    } finally {
      await holds.store.release("operator");
    }
  });

  it("gives FAILED_PRECONDITION to a second Activate while one runs, naming it", async () => {
    const c = client();
    const first = c.activate({
      storePath: slowPath,
      action: ActivationAction.ACTIVATION_ACTION_TEST,
      options: SELF_CONFIRM,
      overrideHolds: [],
    });
    const firstId = await new Promise<string>((res) =>
      first.once("data", (e: DeploymentEvent) => res(e.deploymentId)),
    );
    const err = await events(c, systemPath, ActivationAction.ACTIVATION_ACTION_SWITCH).catch(
      (e: ServiceError) => e,
    );
    expect((err as ServiceError).code).toBe(status.FAILED_PRECONDITION);
    expect((err as ServiceError).details).toContain(firstId);
    // Not a hold: a controller must not wait for release here.
    expect((err as ServiceError).metadata.get("ros-rollback-error-code")).toEqual(["FAILED_PRECONDITION"]);
    first.on("error", () => {
      // Cancelling our own watch ends the stream with CANCELLED; the deployment goes on.
    });
    first.cancel();
  });

  it("serves grpc.health.v1.Health and server reflection", async () => {
    const creds = credentials.createSsl(
      readFileSync(pki.caFile),
      readFileSync(pki.clientKey),
      readFileSync(pki.clientCert),
    );
    const opts = { "grpc.ssl_target_name_override": "localhost" };
    type Ctor = new (
      addr: string,
      c: typeof creds,
      o: typeof opts,
    ) => {
      check: (req: object, cb: (e: Error | null, r: { status: string }) => void) => void;
      close: () => void;
    };
    const health = loadPackageDefinition(loadSync(healthProtoPath, { enums: String })) as unknown as {
      grpc: { health: { v1: { Health: Ctor } } };
    };
    const hc = new health.grpc.health.v1.Health(`127.0.0.1:${server.port}`, creds, opts);
    const res = await new Promise<{ status: string }>((ok, fail) =>
      hc.check({ service: "ros_rollback.v1.Agent" }, (e, r) => (e ? fail(e) : ok(r))),
    );
    expect(res.status).toBe("SERVING");
    hc.close();

    const reflectionProto = require.resolve(
      "@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto",
    );
    const refl = loadPackageDefinition(loadSync(reflectionProto)) as unknown as {
      grpc: {
        reflection: {
          v1: {
            ServerReflection: new (
              a: string,
              c: typeof creds,
              o: typeof opts,
            ) => {
              serverReflectionInfo: () => NodeJS.ReadWriteStream & {
                end: () => void;
                write: (m: object) => boolean;
              };
              close: () => void;
            };
          };
        };
      };
    };
    const rc = new refl.grpc.reflection.v1.ServerReflection(`127.0.0.1:${server.port}`, creds, opts);
    const stream = rc.serverReflectionInfo();
    const answer = new Promise<{ listServicesResponse?: { service: { name: string }[] } }>((ok, fail) => {
      stream.on("data", ok);
      stream.on("error", fail);
    });
    stream.write({ listServices: "" });
    const names = (await answer).listServicesResponse?.service.map((s) => s.name) ?? [];
    stream.end();
    rc.close();
    expect(names).toContain("ros_rollback.v1.Agent");
    expect(names).toContain("grpc.health.v1.Health");
  });
});

describe("startServer's HTTP/2 flow control", () => {
  it("grants clients the wide windows and frames (a push is not capped at 64 KiB per round trip)", async () => {
    const got = await probeHttp2(server.port, pki);
    expect(got.initialWindowSize).toBe(DEFAULT_FLOW_CONTROL.streamWindow);
    expect(got.maxFrameSize).toBe(DEFAULT_FLOW_CONTROL.maxFrameSize);
    expect(got.connectionWindow).toBe(DEFAULT_FLOW_CONTROL.connectionWindow);
  });
});
