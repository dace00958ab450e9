// Revocation and rotation without a restart (issue 29): a real agent listener with a CRL made by
// openssl, the real file watcher, real handshakes.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type TLSSocket } from "node:tls";
import { RAW_PUSH_ALPN_V1 } from "@ros-rollback/proto";
import { type IssuedCert, issueIdentityCert, makeTestPki, type TestPki } from "@ros-rollback/proto/testing";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { COMPLETE_STORE } from "../testing/server-rig.js";
import { type RunningServer, startServer } from "./server.js";
import type { ServiceDeps } from "./service.js";
import { watchTls } from "./tls-watch.js";

const log = pino({ level: "silent" });
let tmp = "";
let dir = "";
let pki: TestPki;
let server: RunningServer;
let stopWatch: () => void;
let alice: IssuedCert;
let bob: IssuedCert;
/** A client certificate issued by an intermediate CA of the test CA, sent with its chain. */
let carol: IssuedCert;
const signalHandlers: (() => void)[] = [];

const openssl = (args: string[]) =>
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
const conf = (db: string) =>
  `[ca]\ndefault_ca = d\n[d]\ndatabase = ${db}-index.txt\ncrlnumber = ${db}-crlnumber\ndefault_md = sha256\ndefault_crl_days = 2\n`;

/** A CA's CRL from its database (`ca` or `inter`). */
function gencrl(ca: string): Buffer {
  openssl([
    "ca",
    "-config",
    `${ca}.cnf`,
    "-keyfile",
    `${ca}.key`,
    "-cert",
    `${ca}.pem`,
    "-gencrl",
    "-out",
    `${ca}-crl.pem`,
  ]);
  return readFileSync(join(dir, `${ca}-crl.pem`));
}

/** The root's and the intermediate's CRLs in one file, the agent's crl.pem, by rename (as a config manager would). */
function writeCrl(): void {
  writeFileSync(join(dir, "crl.new"), Buffer.concat([gencrl("ca"), gencrl("inter")]));
  renameSync(join(dir, "crl.new"), join(dir, "crl.pem"));
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "rr-tls-reload-"));
  dir = join(tmp, "pki");
  pki = makeTestPki(dir);
  alice = issueIdentityCert(dir, "alice", "/CN=alice");
  bob = issueIdentityCert(dir, "bob", "/CN=bob");
  issueIdentityCert(
    dir,
    "inter",
    "/CN=inter",
    "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n",
  );
  const leaf = issueIdentityCert(dir, "carol", "/CN=carol", "", "inter");
  writeFileSync(
    join(dir, "carol-chain.pem"),
    Buffer.concat([readFileSync(leaf.cert), readFileSync(join(dir, "inter.pem"))]),
  );
  carol = { cert: join(dir, "carol-chain.pem"), key: leaf.key };
  for (const ca of ["ca", "inter"]) {
    writeFileSync(join(dir, `${ca}.cnf`), conf(ca));
    writeFileSync(join(dir, `${ca}-index.txt`), "");
    writeFileSync(join(dir, `${ca}-crlnumber`), "01\n");
  }
  writeCrl();
  server = await startServer(
    {
      listen: "127.0.0.1:0",
      tls: {
        caFile: pki.caFile,
        certFile: pki.serverCert,
        keyFile: pki.serverKey,
        crlFile: join(dir, "crl.pem"),
      },
      insecure: false,
    },
    {
      version: "test",
      store: COMPLETE_STORE,
      validateStorePath: () => undefined,
      checkHealth: async () => {
        throw new Error("not used");
      },
      log,
      // Only handshakes are made here: no call reaches these.
      deployer: {} as ServiceDeps["deployer"],
      profile: {} as ServiceDeps["profile"],
      system: {} as ServiceDeps["system"],
      holds: {} as ServiceDeps["holds"],
      planner: {} as ServiceDeps["planner"],
    },
  );
  stopWatch = watchTls(
    [pki.caFile, pki.serverCert, pki.serverKey, join(dir, "crl.pem")],
    () => server.reloadTls(),
    log,
    (h) => {
      signalHandlers.push(h);
      return () => undefined;
    },
    100,
  );
}, 60_000);

afterAll(async () => {
  stopWatch?.();
  await server?.close(100);
  rmSync(tmp, { recursive: true, force: true });
});

/** A handshake as `who` (for gRPC, or `alpn`): the connected socket, or the error that ended it. */
function handshake(who: IssuedCert, alpn = "h2"): Promise<TLSSocket | Error> {
  return new Promise((resolve) => {
    const s = connect({
      port: server.port,
      host: "127.0.0.1",
      servername: "localhost",
      ca: readFileSync(pki.caFile),
      cert: readFileSync(who.cert),
      key: readFileSync(who.key),
      ALPNProtocols: [alpn],
    });
    s.once("secureConnect", () =>
      // TLS 1.3: the server judges the client certificate after the client's side is done.
      setTimeout(() => resolve(s.destroyed ? new Error("closed by the server") : s), 200),
    );
    s.once("error", (e) => resolve(e));
  });
}

async function until(check: () => Promise<boolean>, ms = 8_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 100));
  }
}

const refused = async (who: IssuedCert, alpn?: string) => {
  const r = await handshake(who, alpn);
  if (r instanceof Error) return true;
  r.destroy();
  return false;
};

describe("revocation and rotation without a restart", () => {
  it("a certificate revoked after start is refused at its next handshake once the CRL file changes; open connections and others go on", async () => {
    expect(await refused(bob)).toBe(false);
    expect(await refused(bob, RAW_PUSH_ALPN_V1)).toBe(false);
    const open = await handshake(bob);
    expect(open).not.toBeInstanceOf(Error);
    openssl(["ca", "-config", "ca.cnf", "-keyfile", "ca.key", "-cert", "ca.pem", "-revoke", "bob.pem"]);
    writeCrl();
    await until(() => refused(bob));
    // The raw push channel is the same listener, the same handshake.
    expect(await refused(bob, RAW_PUSH_ALPN_V1)).toBe(true);
    expect(await refused(alice)).toBe(false);
    // The connection made before the revocation is not cut by the reload.
    expect((open as TLSSocket).destroyed).toBe(false);
    (open as TLSSocket).destroy();
  });

  it("a certificate under an intermediate CA passes while the file holds both CRLs, and is refused once the intermediate is revoked", async () => {
    expect(await refused(carol)).toBe(false);
    openssl(["ca", "-config", "ca.cnf", "-keyfile", "ca.key", "-cert", "ca.pem", "-revoke", "inter.pem"]);
    writeCrl();
    await until(() => refused(carol));
    expect(await refused(alice)).toBe(false);
  });

  it("a reload that fails (a CRL that is not PEM) keeps the old material and says why", async () => {
    const good = readFileSync(join(dir, "crl.pem"));
    writeFileSync(join(dir, "crl.pem"), "not a crl\n");
    await expect(server.reloadTls()).rejects.toThrow(/tls material not taken/);
    expect(await refused(bob)).toBe(true);
    expect(await refused(alice)).toBe(false);
    writeFileSync(join(dir, "crl.pem"), good);
  });

  it("a renewed agent certificate is served from the next handshake on, and SIGHUP reloads too", async () => {
    const before = await handshake(alice);
    const oldFp = (before as TLSSocket).getPeerCertificate().fingerprint256;
    issueIdentityCert(
      dir,
      "server2",
      "/CN=server2",
      "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    );
    // Rewritten in place while no watcher tick runs in between matters not: SIGHUP is asked for below.
    stopWatch();
    writeFileSync(pki.serverCert, readFileSync(join(dir, "server2.pem")));
    writeFileSync(pki.serverKey, readFileSync(join(dir, "server2.key")));
    for (const h of signalHandlers) h();
    await until(async () => {
      const s = await handshake(alice);
      if (s instanceof Error) return false;
      const fp = s.getPeerCertificate().fingerprint256;
      s.destroy();
      return fp !== oldFp;
    });
    expect((before as TLSSocket).destroyed).toBe(false);
    (before as TLSSocket).destroy();
  });
});
