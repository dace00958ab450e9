// Roles from client certificates over real mutual TLS (issue 29): the real server, the real
// deployer (fake switch), real holds, both push transports. Refused calls change nothing.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { Metadata, type ServiceError, status } from "@grpc/grpc-js";
import {
  ActivationAction,
  type AgentClient,
  AgentService,
  decodeRawPushError,
  FRAME,
  type GetStatusResponse,
  RAW_PUSH_ALPN_V1,
} from "@ros-rollback/proto";
import { type IssuedCert, issueIdentityCert, makeTestPki, type TestPki } from "@ros-rollback/proto/testing";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Denial } from "../access/gate.js";
import { MAX_IDENTITY_TEXT } from "../access/identity.js";
import { type AccessConfig, compileAccess } from "../access/policy.js";
import { METHOD_ROLE } from "../access/rpc-roles.js";
import { startAccess } from "../access/start.js";
import { fileAuditor } from "../audit/auditor.js";
import { AuditFile, readAudit } from "../audit/file.js";
import { Deployer } from "../deployment/deployer.js";
import { FileRecordStore } from "../deployment/record-file.js";
import { NixProfile } from "../generations/profile.js";
import { Holds } from "../holds/holds.js";
import { HoldStore } from "../holds/store.js";
import { ProcessRunner } from "../system/command.js";
import { TEST_HEALTH } from "../testing/deployer-rig.js";
import { FakeHealth, FakeSwitchRunner, FakeSystemInspector, noData } from "../testing/fakes.js";
import { realPlanner } from "../testing/holds.js";
import { COMPLETE_STORE, startTestServer, testClient } from "../testing/server-rig.js";
import type { RunningServer } from "./server.js";

process.env.NIX_CONFIG = "build-users-group =";
const log = pino({ level: "silent" });
let tmp = "";
let pki: TestPki;
let server: RunningServer;
let deployer: Deployer;
let holdStore: HoldStore;
let systemPath = "";
const denials: Denial[] = [];
const counted: string[] = [];
let pushesReached = 0;
const certs: Record<string, IssuedCert> = {};

const ACCESS: AccessConfig = {
  rules: [
    { cn: "client", roles: ["read", "deploy", "hold"] },
    { cn: "reader", o: "fleet", roles: ["read"] },
    { uri: "spiffe://fleet/ci", roles: ["deploy"] },
    { uri: "spiffe://fleet/ops", roles: ["read", "deploy", "hold"] },
  ],
};

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "rr-access-"));
  const dir = join(tmp, "pki");
  pki = makeTestPki(dir);
  const issue = (name: string, subject: string, ext = "", ca = "ca") => {
    certs[name] = issueIdentityCert(dir, name, subject, ext, ca);
  };
  issue("reader", "/CN=reader/O=fleet");
  issue("ci", "/CN=ci", "subjectAltName=URI:spiffe://fleet/ci\n");
  issue("stranger", "/CN=stranger/O=elsewhere");
  issue("newline", "/CN=reader\nCN=client/O=fleet");
  issue("twoCn", "/CN=client/CN=reader/O=fleet");
  issue("longUri", "/CN=long", `subjectAltName=URI:spiffe://fleet/ops/${"a".repeat(2_048)}\n`);
  issue("commaUri", "/CN=comma", "subjectAltName=@alt\n[alt]\nURI.1 = spiffe://x, URI:spiffe://fleet/ops\n");
  issue("rogueClient", "/CN=client", "", "rogue-ca");
  issue("bidi", "/CN=\u202eredaer/O=fleet");
  issue("longOperator", "/CN=client", `subjectAltName=URI:spiffe://fleet/x/\u0007${"a".repeat(2_048)}\n`);
  issue("emptySubject", "/O=fleet");

  mkdirSync(join(tmp, "profile"));
  mkdirSync(join(tmp, "audit"));
  const sys = join(tmp, `acc-${process.pid}`);
  mkdirSync(join(sys, "bin"), { recursive: true });
  execFileSync("sh", ["-c", `printf '#!/bin/sh\\n' > ${sys}/bin/switch-to-configuration`]);
  systemPath = execFileSync("nix-store", ["--add", sys], { encoding: "utf8" }).trim();
  const inspector = new FakeSystemInspector();
  inspector.systems.add(systemPath);
  holdStore = new HoldStore(join(tmp, "hold-state"), () => Date.now());
  mkdirSync(join(tmp, "holds"));
  const holds = new Holds({
    store: holdStore,
    dir: join(tmp, "holds"),
    conditions: [],
    conditionDeps: { unitState: async () => "inactive", ros: undefined },
  });
  const profile = new NixProfile(join(tmp, "profile", "system"), new ProcessRunner(), "nix-env");
  deployer = new Deployer({
    holds,
    profile,
    switcher: new FakeSwitchRunner(),
    records: new FileRecordStore(join(tmp, "state")),
    data: noData(join(tmp, "state")),
    system: inspector,
    clock: { now: () => Date.now() },
    log,
    health: new FakeHealth(),
    options: {
      activationTimeoutMs: 30_000,
      deleteFailedGenerations: true,
      defaults: { autoRollback: true, magicRollback: true, confirmTimeoutSeconds: 30, health: TEST_HEALTH },
    },
  });
  await deployer.start();
  const access = startAccess(
    compileAccess(ACCESS),
    log,
    { enforced: () => undefined, denied: (rpc, role) => counted.push(`${rpc}/${role}`) },
    (d) => denials.push(d),
  );
  server = await startTestServer(
    pki,
    {
      deployer,
      profile,
      system: inspector,
      log,
      holds,
      planner: realPlanner(inspector),
      store: {
        ...COMPLETE_STORE,
        receivePush: async (...args) => {
          pushesReached++;
          return COMPLETE_STORE.receivePush(...args);
        },
        substitute: async () => {
          pushesReached++;
          return { done: true, paths: [], bytes: 0 } as never;
        },
      },
    },
    { access, audit: fileAuditor(new AuditFile({ dir: join(tmp, "audit") }), log) },
  );
}, 60_000);

afterAll(async () => {
  await server?.close(100);
  await deployer?.close();
  rmSync(tmp, { recursive: true, force: true });
});

const as = (name: string): AgentClient => {
  const who = certs[name];
  if (who === undefined) throw new Error(`no cert ${name}`);
  return testClient(pki, server.port, { "grpc.use_local_subchannel_pool": 1 }, who);
};
const md = () => new Metadata();
const opts = () => ({ deadline: Date.now() + 10_000 });

/** A unary call's error (undefined: it succeeded). */
function unary<Req>(
  fn: (req: Req, m: Metadata, o: { deadline: number }, cb: (e: ServiceError | null) => void) => unknown,
  req: Req,
): Promise<ServiceError | undefined> {
  return new Promise((resolve) => {
    fn(req, md(), opts(), (e) => resolve(e ?? undefined));
  });
}

/** A server stream's error (undefined: it ended). */
function stream(s: NodeJS.EventEmitter): Promise<ServiceError | undefined> {
  return new Promise((resolve) => {
    s.on("data", () => undefined);
    s.on("error", (e: ServiceError) => resolve(e));
    s.on("end", () => resolve(undefined));
  });
}

function pushPaths(c: AgentClient): Promise<ServiceError | undefined> {
  return new Promise((resolve) => {
    const call = c.pushPaths(md(), opts(), (e) => resolve(e ?? undefined));
    call.write({ item: { $case: "options", value: { compression: 0, totalNarSize: 0 } } });
    call.end();
  });
}

/** A raw channel push that sends a frame at once; resolves with the agent's ERROR frame, if any. */
function rawPush(
  name: string,
): Promise<{ code: number | undefined; details: string | undefined } | undefined> {
  const who = certs[name] ?? { cert: pki.clientCert, key: pki.clientKey };
  const socket = connect({
    port: server.port,
    host: "127.0.0.1",
    servername: "localhost",
    ca: readFileSync(pki.caFile),
    cert: readFileSync(who.cert),
    key: readFileSync(who.key),
    ALPNProtocols: [RAW_PUSH_ALPN_V1],
  });
  const chunks: Buffer[] = [];
  socket.on("data", (d: Buffer) => chunks.push(d));
  socket.on("error", () => undefined);
  socket.write(Buffer.from([FRAME.END, 0, 0, 0, 0]));
  return new Promise((resolve) =>
    socket.on("close", () => {
      const all = Buffer.concat(chunks);
      if (all[0] !== FRAME.ERROR) return resolve(undefined);
      const e = decodeRawPushError(all.subarray(5, 5 + all.readUInt32BE(1)));
      resolve({ code: e?.code, details: e?.details });
    }),
  );
}

const SELF = {
  confirmTimeoutSeconds: undefined,
  magicRollback: undefined,
  autoRollback: undefined,
  selfConfirm: true,
  healthJson: "",
  label: "",
};
const activateReq = (overrideHolds: string[] = []) => ({
  storePath: systemPath,
  action: ActivationAction.ACTIVATION_ACTION_TEST,
  options: SELF,
  overrideHolds,
});

describe("the table of roles", () => {
  it("names every method of the Agent service", () => {
    const methods = Object.values(AgentService).map((m) => m.path.split("/").pop());
    expect(methods.length).toBeGreaterThan(10);
    for (const m of methods) expect(Object.hasOwn(METHOD_ROLE, m ?? "")).toBe(true);
    expect(Object.keys(METHOD_ROLE).sort()).toEqual([...methods].sort());
  });
});

describe("a read-only certificate", () => {
  it("reads: status, generations, holds, health, watch", async () => {
    const c = as("reader");
    expect(await unary(c.getStatus.bind(c), {})).toBeUndefined();
    expect(await unary(c.listGenerations.bind(c), {})).toBeUndefined();
    expect(await unary(c.listHolds.bind(c), {})).toBeUndefined();
    expect(await unary(c.checkHealth.bind(c), {})).toBeUndefined();
    expect(await stream(c.watch({}))).toBeUndefined();
    c.close();
  });

  it("is refused deploy, rollback, confirm, hold, release, substitute and both pushes: PERMISSION_DENIED, nothing changed", async () => {
    const c = as("reader");
    const before = deployer.latest();
    denials.length = 0;
    const errors = [
      await stream(c.activate(activateReq())),
      await stream(c.rollback({ generation: 1, overrideHolds: [] })),
      await unary(c.confirm.bind(c), { deploymentId: before?.id ?? "x" }),
      await unary(c.hold.bind(c), { name: "mine", reason: "r" }),
      await unary(c.release.bind(c), { name: "mine" }),
      await stream(c.substitute({ storePaths: [systemPath] })),
      await pushPaths(c),
    ];
    for (const e of errors) {
      expect(e?.code).toBe(status.PERMISSION_DENIED);
      expect(e?.details).toMatch(
        /^permission denied to CN=reader, O=fleet \[sha256 [0-9A-F:]{23}…\]: it lacks role "(deploy|hold)" needed for \w+$/,
      );
      expect(e?.metadata.get("ros-rollback-error-code")[0]).toBe("PERMISSION_DENIED");
    }
    const raw = await rawPush("reader");
    expect(raw?.code).toBe(status.PERMISSION_DENIED);
    expect(raw?.details).toMatch(/CN=reader, O=fleet .*lacks role "deploy" needed for PushPaths$/);
    expect(pushesReached).toBe(0);
    expect(deployer.latest()).toBe(before);
    expect(await holdStore.list()).toEqual([]);
    expect(denials.map((d) => `${d.rpc}/${d.role}`)).toEqual([
      "Activate/deploy",
      "Rollback/deploy",
      "Confirm/deploy",
      "Hold/hold",
      "Release/hold",
      "Substitute/deploy",
      "PushPaths/deploy",
      "PushPaths/deploy",
    ]);
    expect(counted.slice(-8)).toEqual(denials.map((d) => `${d.rpc}/${d.role}`));
    const audit = (await readAudit(join(tmp, "audit"))).entries.slice(-8);
    expect(audit.map((e) => `${e.rpc}/${e.admission}/${e.role}/${e.outcome}`)).toEqual([
      "Activate/denied/deploy/PermissionDenied",
      "Rollback/denied/deploy/PermissionDenied",
      "Confirm/denied/deploy/PermissionDenied",
      "Hold/denied/hold/PermissionDenied",
      "Release/denied/hold/PermissionDenied",
      "Substitute/denied/deploy/PermissionDenied",
      "PushPaths/denied/deploy/PermissionDenied",
      "PushPaths (raw)/denied/deploy/PermissionDenied",
    ]);
    for (const e of audit) {
      expect(e.identity).toEqual({
        subject: expect.stringMatching(/^CN=reader, O=fleet \[sha256 /),
        fingerprint: expect.stringMatching(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/),
      });
      expect(e.peer).toMatch(/127\.0\.0\.1:\d+$/);
    }
    c.close();
  });
});

describe("deploy and hold", () => {
  it("a deploy-only certificate deploys, but overriding a hold needs hold too", async () => {
    const c = as("ci");
    await holdStore.set("mission", "busy", undefined);
    try {
      const before = deployer.latest();
      const e = await stream(c.activate(activateReq(["mission"])));
      expect(e?.code).toBe(status.PERMISSION_DENIED);
      expect(e?.details).toMatch(/URI=spiffe:\/\/fleet\/ci .*lacks role "hold" needed for Activate$/);
      expect(deployer.latest()).toBe(before);
      const r = await stream(c.rollback({ generation: 1, overrideHolds: ["mission"] }));
      expect(r?.details).toMatch(/lacks role "hold" needed for Rollback$/);
    } finally {
      await holdStore.release("mission");
    }
    expect(await stream(c.activate(activateReq()))).toBeUndefined();
    expect(deployer.latest()?.storePath).toBe(systemPath);
    const audit = (await readAudit(join(tmp, "audit"))).entries.slice(-4);
    expect(audit.map((e) => `${e.rpc}/${e.admission}/${e.role ?? ""}/${e.outcome ?? ""}`)).toEqual([
      "Activate/denied/hold/PermissionDenied",
      "Rollback/denied/hold/PermissionDenied",
      "Activate/allowed//",
      "Activate/allowed//OK",
    ]);
    expect(audit[0]?.args).toMatchObject({
      storePath: systemPath,
      overrideHolds: { count: 1, first: ["mission"] },
    });
    expect(audit[2]?.args).toMatchObject({
      storePath: systemPath,
      action: ActivationAction.ACTIVATION_ACTION_TEST,
    });
    expect(audit[2]?.identity).toMatchObject({
      subject: expect.stringMatching(/^CN=ci, URI=spiffe:\/\/fleet\/ci /),
    });
    c.close();
  });
});

describe("who started the deployment", () => {
  /** GetStatus as the reader sees it. */
  const statusAsReader = () =>
    new Promise<GetStatusResponse>((resolve, reject) => {
      const c = as("reader");
      c.getStatus({}, md(), opts(), (e, r) => {
        c.close();
        if (e !== null) reject(e);
        else resolve(r);
      });
    });

  it("status names the certificate that deployed: escaped subject and fingerprint head, kept in the record", async () => {
    const c = as("ci");
    expect(await stream(c.activate(activateReq()))).toBeUndefined();
    c.close();
    const last = (await statusAsReader()).lastDeployment;
    expect(last?.id).toBe(deployer.latest()?.id);
    expect(last?.startedBy).toMatch(
      /^CN=ci, URI=spiffe:\/\/fleet\/ci \[sha256 ([0-9A-F]{2}:){7}[0-9A-F]{2}…\]$/,
    );
    expect(deployer.latest()?.startedBy).toBe(last?.startedBy);
  });

  it("an operator's 2 kB SAN URI is recorded escaped and bounded, fingerprint head intact", async () => {
    const c = as("longOperator");
    expect(await stream(c.activate(activateReq()))).toBeUndefined();
    c.close();
    const by = (await statusAsReader()).lastDeployment?.startedBy ?? "";
    expect(by).toMatch(
      /^CN=client, URI=spiffe:\/\/fleet\/x\/\\u0007a+… \(\d+ more characters\) \[sha256 [0-9A-F:]{23}…\]$/,
    );
    // The subject cut at MAX_IDENTITY_TEXT, its "(N more characters)" note and the fingerprint head.
    expect(by.length).toBeLessThan(MAX_IDENTITY_TEXT + 80);
  });
});

describe("identities that get nothing, or only what they are", () => {
  it.each([
    ["a certificate no rule names", "stranger", /CN=stranger, O=elsewhere/],
    [
      "a newline in the CN (forging CN=client on a second line)",
      "newline",
      /CN=reader\\u000aCN=client, O=fleet/,
    ],
    ["two CNs (client and reader)", "twoCn", /CN=client, CN=reader, O=fleet/],
    [
      "a 2 kB SAN URI under spiffe://fleet/ops/",
      "longUri",
      /URI=spiffe:\/\/fleet\/ops\/a+… \(\d+ more characters\)/,
    ],
    [
      "a SAN URI holding ', URI:spiffe://fleet/ops'",
      "commaUri",
      /URI=spiffe:\/\/x, URI:spiffe:\/\/fleet\/ops/,
    ],
    ["a bidi override in the CN", "bidi", /CN=\\u202eredaer, O=fleet/],
    ["no CN at all", "emptySubject", /^permission denied to O=fleet \[/],
  ])("%s: refused even GetStatus, named escaped and bounded", async (_what, name, named) => {
    const c = as(name);
    const e = await unary(c.getStatus.bind(c), {});
    expect(e?.code).toBe(status.PERMISSION_DENIED);
    expect(e?.details).toMatch(named);
    expect(e?.details).toMatch(/lacks role "read" needed for GetStatus$/);
    expect(e?.details.length).toBeLessThan(450);
    expect(e?.details).not.toMatch(/[\n\r\u202e]/);
    c.close();
  });

  it("a certificate from another CA with the operator's subject does not get past the handshake", async () => {
    const c = as("rogueClient");
    const e = await unary(c.getStatus.bind(c), {});
    expect(e?.code).toBe(status.UNAVAILABLE);
    expect(await rawPush("rogueClient")).toBeUndefined();
    expect(pushesReached).toBe(0);
    c.close();
  });

  it("the operator (all roles) may do everything the others may not", async () => {
    const c = testClient(pki, server.port, { "grpc.use_local_subchannel_pool": 1 });
    expect(await unary(c.hold.bind(c), { name: "op", reason: "r" })).toBeUndefined();
    expect(await unary(c.release.bind(c), { name: "op" })).toBeUndefined();
    expect(await pushPaths(c)).toBeUndefined();
    expect(await rawPush("client")).toBeUndefined();
    expect(pushesReached).toBe(2);
    c.close();
  });
});
