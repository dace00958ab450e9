// Bad actors against roles and the audit log (issue 29), over real mutual TLS: certificates the
// handshake must refuse, identities that must get nothing, and requests that must not blow up the
// log. Each is refused or recorded, escaped and bounded. (access.test.ts has the first eight.)
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { credentials, Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { ActivationAction, type AgentClient, FRAME, RAW_PUSH_ALPN_V1 } from "@ros-rollback/proto";
import { agentClient } from "@ros-rollback/proto/clients";
import {
  type IssuedCert,
  issueDatedCert,
  issueIdentityCert,
  issueUnderLeaf,
  makeTestPki,
  type TestPki,
} from "@ros-rollback/proto/testing";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compileAccess } from "../access/policy.js";
import { startAccess } from "../access/start.js";
import { fileAuditor } from "../audit/auditor.js";
import { AuditFile, MAX_LINE, readAudit } from "../audit/file.js";
import { startTestServer } from "../testing/server-rig.js";
import type { RunningServer } from "./server.js";
import type { ServiceDeps } from "./service.js";

const log = pino({ level: "silent" });
/** Small, so that a flood rotates: the log on disk stays under (KEEP + 1) × MAX_BYTES. */
const MAX_BYTES = 8_192;
const KEEP = 2;
let tmp = "";
let auditDir = "";
let pki: TestPki;
let server: RunningServer;
let reached = 0;
const certs: Record<string, IssuedCert> = {};

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "rr-hostile-"));
  const dir = join(tmp, "pki");
  pki = makeTestPki(dir);
  const client = { cert: pki.clientCert, key: pki.clientKey };
  const issue = (name: string, subject: string, ext = "") => {
    certs[name] = issueIdentityCert(dir, name, subject, ext);
  };
  issue("reader", "/CN=reader/O=fleet");
  issue("ci", "/CN=ci", "subjectAltName=URI:spiffe://fleet/ci\n");
  issue("ansi", "/CN=\u001b[2J\u001b]0;owned\u0007client/O=fleet");
  const uris = Array.from({ length: 199 }, (_, i) => `URI.${i + 1} = spiffe://junk/${i}`);
  issue(
    "manyUris",
    "/CN=many/O=fleet",
    `subjectAltName=@alt\n[alt]\n${uris.join("\n")}\nURI.200 = spiffe://fleet/ops/alice\n`,
  );
  issue("nearMiss", "/CN=mallory/O=fleet/OU=ops", "subjectAltName=URI:spiffe://fleet/ops/alice/\n");
  certs.expired = issueDatedCert(dir, "expired", "client", "20200101000000Z", "20200102000000Z");
  certs.notYet = issueDatedCert(dir, "notYet", "client", "20990101000000Z", "20990102000000Z");
  certs.underLeaf = issueUnderLeaf(dir, "underLeaf", "client", client);
  certs.serverAsClient = { cert: pki.serverCert, key: pki.serverKey };
  auditDir = join(tmp, "audit");
  mkdirSync(auditDir);
  const access = startAccess(
    compileAccess({
      rules: [
        { cn: "client", roles: ["read", "deploy", "hold"] },
        { cn: "reader", o: "fleet", roles: ["read"] },
        { uri: "spiffe://fleet/ci", roles: ["deploy"] },
        { o: "fleet", uri: "spiffe://fleet/ops/alice", roles: ["read", "deploy", "hold"] },
      ],
    }),
    log,
    { enforced: () => undefined, denied: () => undefined },
  );
  // Every call here is refused before a handler runs: a handler reaching a dependency is counted,
  // then fails. Only the listener's own question (is a deployment running?) is answered.
  const unreached = <T extends object>(own: Partial<T> = {}): T =>
    new Proxy(own, {
      get: (target, prop) => {
        if (Object.hasOwn(target, prop)) return Reflect.get(target, prop);
        reached++;
        throw new Error(`a refused call reached a handler (${String(prop)})`);
      },
    }) as T;
  server = await startTestServer(
    pki,
    {
      log,
      deployer: unreached<ServiceDeps["deployer"]>({ active: () => undefined }),
      profile: unreached<ServiceDeps["profile"]>(),
      system: unreached<ServiceDeps["system"]>(),
      holds: unreached<ServiceDeps["holds"]>(),
      planner: unreached<ServiceDeps["planner"]>(),
    },
    {
      access,
      audit: fileAuditor(new AuditFile({ dir: auditDir, maxBytes: MAX_BYTES, keep: KEEP }), log),
    },
  );
}, 60_000);

afterAll(async () => {
  await server?.close(100);
  rmSync(tmp, { recursive: true, force: true });
});

/** A client as `name`; "none": no client certificate at all. */
const as = (name: string): AgentClient => {
  const who = certs[name];
  const creds =
    name === "none"
      ? credentials.createSsl(readFileSync(pki.caFile))
      : credentials.createSsl(
          readFileSync(pki.caFile),
          readFileSync(who?.key ?? ""),
          readFileSync(who?.cert ?? ""),
        );
  return new (agentClient())(`127.0.0.1:${server.port}`, creds, {
    "grpc.ssl_target_name_override": "localhost",
    "grpc.use_local_subchannel_pool": 1,
  });
};

const getStatus = (c: AgentClient) =>
  new Promise<ServiceError | undefined>((resolve) =>
    c.getStatus({}, new Metadata(), { deadline: Date.now() + 10_000 }, (e) => resolve(e ?? undefined)),
  );

/** A raw push channel connection's first bytes back ("" when the handshake was refused). */
function rawPush(name: string): Promise<string> {
  const who = certs[name];
  const socket = connect({
    port: server.port,
    host: "127.0.0.1",
    servername: "localhost",
    ca: readFileSync(pki.caFile),
    ...(who === undefined ? {} : { cert: readFileSync(who.cert), key: readFileSync(who.key) }),
    ALPNProtocols: [RAW_PUSH_ALPN_V1],
  });
  const chunks: Buffer[] = [];
  socket.on("data", (d: Buffer) => chunks.push(d));
  socket.on("error", () => undefined);
  socket.write(Buffer.from([FRAME.END, 0, 0, 0, 0]));
  return new Promise((resolve) =>
    socket.on("close", () => resolve(Buffer.concat(chunks).toString("latin1"))),
  );
}

/** Every line of the audit files on disk, raw. */
const auditLines = () =>
  readdirSync(auditDir).flatMap((f) => readFileSync(join(auditDir, f), "utf8").split("\n").filter(Boolean));

describe("certificates the handshake refuses: no call, no push, nothing logged as theirs", () => {
  it.each([
    ["an expired certificate with the operator's CN", "expired"],
    ["a not-yet-valid certificate with the operator's CN", "notYet"],
    ["a certificate signed by the operator's own (non-CA) certificate, chain sent", "underLeaf"],
    ["the agent's server certificate (serverAuth only) used as a client", "serverAsClient"],
    ["no client certificate at all", "none"],
  ])("%s", async (_what, name) => {
    const before = auditLines().length;
    const c = as(name);
    expect((await getStatus(c))?.code).toBe(status.UNAVAILABLE);
    c.close();
    expect(await rawPush(name)).toBe("");
    expect(reached).toBe(0);
    expect(auditLines().length).toBe(before);
  });
});

describe("identities that get nothing, named escaped and bounded", () => {
  it.each([
    [
      "ANSI escapes in the CN (clear screen, retitle the terminal)",
      "ansi",
      /CN=\\u001b\[2J\\u001b\]0;owned\\u0007client, O=fleet/,
    ],
    ["200 SAN URIs, the operator's last: only the first 16 count", "manyUris", /URI=spiffe:\/\/junk\/0, .*…/],
    [
      "O=fleet and a URI one slash away from the operator's",
      "nearMiss",
      /URI=spiffe:\/\/fleet\/ops\/alice\/ \[/,
    ],
  ])("%s", async (_what, name, named) => {
    const c = as(name);
    const e = await getStatus(c);
    c.close();
    expect(e?.code).toBe(status.PERMISSION_DENIED);
    expect(e?.details).toMatch(named);
    expect(e?.details).toMatch(/lacks role "read" needed for GetStatus$/);
    expect(e?.details.length).toBeLessThan(450);
    expect(e?.details).not.toMatch(/\p{Cc}/u);
    const last = auditLines().at(-1) ?? "";
    expect(last).not.toMatch(/\p{Cc}/u);
    expect(JSON.parse(last)).toMatchObject({ rpc: "GetStatus", admission: "denied", role: "read" });
    expect(last.length).toBeLessThan(2_000);
  });
});

describe("requests that would blow up the audit log", () => {
  it("an Activate with a 1 MB store path and 10,000 hold overrides from a deploy-only certificate: refused, summarised in a bounded line", async () => {
    const c = as("ci");
    const holds = Array.from({ length: 10_000 }, (_, i) => `hold-${i}-${"h".repeat(90)}`);
    const e = await new Promise<ServiceError | undefined>((resolve) => {
      const call = c.activate({
        storePath: `/nix/store/${"x".repeat(1_000_000)}`,
        action: ActivationAction.ACTIVATION_ACTION_SWITCH,
        options: undefined,
        overrideHolds: holds,
      });
      call.on("data", () => undefined);
      call.on("error", (err: ServiceError) => resolve(err));
      call.on("end", () => resolve(undefined));
    });
    c.close();
    expect(e?.code).toBe(status.PERMISSION_DENIED);
    expect(e?.details).toMatch(/lacks role "hold" needed for Activate$/);
    expect(reached).toBe(0);
    const last = auditLines().at(-1) ?? "";
    expect(last.length).toBeLessThan(4_000);
    expect(JSON.parse(last)).toMatchObject({
      rpc: "Activate",
      admission: "denied",
      args: {
        storePath: expect.stringMatching(/^\/nix\/store\/x+… \(\d+ more characters\)$/),
        overrideHolds: { count: 10_000, first: expect.any(Array) },
      },
    });
  });

  it("a flood of refused calls from a read-only certificate: every one recorded, the log on disk bounded by rotation", async () => {
    const c = as("reader");
    for (let i = 0; i < 120; i++) {
      const e = await new Promise<ServiceError | null>((resolve) =>
        c.hold({ name: `flood-${i}`, reason: "r".repeat(1_000) }, new Metadata(), (err) => resolve(err)),
      );
      expect(e?.code).toBe(status.PERMISSION_DENIED);
    }
    c.close();
    const files = readdirSync(auditDir);
    expect(files.length).toBeLessThanOrEqual(KEEP + 1);
    const bytes = files.reduce((n, f) => n + statSync(join(auditDir, f)).size, 0);
    expect(bytes).toBeLessThanOrEqual((KEEP + 1) * MAX_BYTES);
    for (const line of auditLines()) expect(line.length).toBeLessThan(MAX_LINE);
    const { entries, skipped } = await readAudit(auditDir, KEEP);
    expect(skipped).toBe(0);
    expect(entries.at(-1)).toMatchObject({ rpc: "Hold", admission: "denied", role: "hold" });
    expect(reached).toBe(0);
  });
});
