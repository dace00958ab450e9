// The access tests' rig: the real server with roles from client certificates over real mutual
// TLS, the real deployer (fake switch), real holds, both push transports; a certificate per
// identity the tests present, and what the gate refused (denials, counted, pushes that got through).
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { Metadata, type ServiceError } from "@grpc/grpc-js";
import {
  ActivationAction,
  type AgentClient,
  decodeRawPushError,
  FRAME,
  RAW_PUSH_ALPN_V1,
} from "@ros-rollback/proto";
import { type IssuedCert, issueIdentityCert, makeTestPki, type TestPki } from "@ros-rollback/proto/testing";
import { pino } from "pino";
import type { Denial } from "../../access/gate.js";
import { type AccessConfig, compileAccess } from "../../access/policy.js";
import { startAccess } from "../../access/start.js";
import { fileAuditor } from "../../audit/auditor.js";
import { AuditFile } from "../../audit/file.js";
import type { Deployer } from "../../deployment/deployer.js";
import { Holds } from "../../holds/holds.js";
import { HoldStore } from "../../holds/store.js";
import { TEST_HEALTH } from "../../testing/deployer-rig.js";
import { FakeSystemInspector } from "../../testing/fakes.js";
import { realPlanner } from "../../testing/holds.js";
import { addTestSystem, startProfileDeployer } from "../../testing/profile-deployer.js";
import { COMPLETE_STORE, startTestServer, testClient } from "../../testing/server-rig.js";
import type { RunningServer } from "../server.js";

const ACCESS: AccessConfig = {
  rules: [
    { cn: "client", roles: ["read", "deploy", "hold"] },
    { cn: "reader", o: "fleet", roles: ["read"] },
    { uri: "spiffe://fleet/ci", roles: ["deploy"] },
    { uri: "spiffe://fleet/ops", roles: ["read", "deploy", "hold"] },
  ],
};

export interface AccessRig {
  readonly tmp: string;
  readonly pki: TestPki;
  readonly server: RunningServer;
  readonly deployer: Deployer;
  readonly holdStore: HoldStore;
  /** A system in the store whose switch does nothing. */
  readonly systemPath: string;
  readonly denials: Denial[];
  readonly counted: string[];
  /** Pushes and substitutions that reached the store. */
  readonly pushesReached: number;
  /** A client presenting the named certificate. */
  as(name: string): AgentClient;
  /** A raw channel push that sends a frame at once; resolves with the agent's ERROR frame, if any. */
  rawPush(name: string): Promise<{ code: number | undefined; details: string | undefined } | undefined>;
  close(): Promise<void>;
}

export async function startAccessRig(): Promise<AccessRig> {
  process.env.NIX_CONFIG = "build-users-group =";
  const log = pino({ level: "silent" });
  const denials: Denial[] = [];
  const counted: string[] = [];
  let pushesReached = 0;
  const certs: Record<string, IssuedCert> = {};
  const tmp = mkdtempSync(join(tmpdir(), "rr-access-"));
  const dir = join(tmp, "pki");
  const pki = makeTestPki(dir);
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
  const systemPath = addTestSystem(tmp, `acc-${process.pid}`);
  const inspector = new FakeSystemInspector();
  inspector.systems.add(systemPath);
  const holdStore = new HoldStore(join(tmp, "hold-state"), () => Date.now());
  mkdirSync(join(tmp, "holds"));
  const holds = new Holds({
    store: holdStore,
    dir: join(tmp, "holds"),
    conditions: [],
    conditionDeps: { unitState: async () => "inactive", ros: undefined },
  });
  const { deployer, profile } = await startProfileDeployer(tmp, {
    log,
    system: inspector,
    health: TEST_HEALTH,
    holds,
  });
  const access = startAccess(
    compileAccess(ACCESS),
    log,
    { enforced: () => undefined, denied: (rpc, role) => counted.push(`${rpc}/${role}`) },
    (d) => denials.push(d),
  );
  const server = await startTestServer(
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

  return {
    tmp,
    pki,
    server,
    deployer,
    holdStore,
    systemPath,
    denials,
    counted,
    get pushesReached() {
      return pushesReached;
    },
    as: (name) => {
      const who = certs[name];
      if (who === undefined) throw new Error(`no cert ${name}`);
      return testClient(pki, server.port, { "grpc.use_local_subchannel_pool": 1 }, who);
    },
    rawPush: (name) => {
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
    },
    close: async () => {
      await server.close(100);
      await deployer.close();
      rmSync(tmp, { recursive: true, force: true });
    },
  };
}

export const md = () => new Metadata();
export const opts = () => ({ deadline: Date.now() + 10_000 });

/** A unary call's error (undefined: it succeeded). */
export function unary<Req>(
  fn: (req: Req, m: Metadata, o: { deadline: number }, cb: (e: ServiceError | null) => void) => unknown,
  req: Req,
): Promise<ServiceError | undefined> {
  return new Promise((resolve) => {
    fn(req, md(), opts(), (e) => resolve(e ?? undefined));
  });
}

/** A server stream's error (undefined: it ended). */
export function stream(s: NodeJS.EventEmitter): Promise<ServiceError | undefined> {
  return new Promise((resolve) => {
    s.on("data", () => undefined);
    s.on("error", (e: ServiceError) => resolve(e));
    s.on("end", () => resolve(undefined));
  });
}

export function pushPaths(c: AgentClient): Promise<ServiceError | undefined> {
  return new Promise((resolve) => {
    const call = c.pushPaths(md(), opts(), (e) => resolve(e ?? undefined));
    call.write({ item: { $case: "options", value: { compression: 0, totalNarSize: 0 } } });
    call.end();
  });
}

const SELF = {
  confirmTimeoutSeconds: undefined,
  magicRollback: undefined,
  autoRollback: undefined,
  selfConfirm: true,
  healthJson: "",
  label: "",
};
/** A self-confirming test activation of the rig's system. */
export const activateReq = (rig: AccessRig, overrideHolds: string[] = []) => ({
  storePath: rig.systemPath,
  action: ActivationAction.ACTIVATION_ACTION_TEST,
  options: SELF,
  overrideHolds,
});
