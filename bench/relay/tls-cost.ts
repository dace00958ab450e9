// What one connection costs Node on this host, client and server in this one process (CPU per
// connection, both ends together): plain TCP, a full mutual TLS handshake, a resumed one (TLS 1.3
// as the relay's legs run it, TLS 1.2, TLS 1.3 resumed without DHE). Each connection: connect,
// one byte back, close. The relay's legs and the end-to-end TLS are made of these.
//   npx tsx bench/relay/tls-cost.ts [CONNECTIONS, default 300]
import { constants } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect as netConnect, createServer as netServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, createSecureContext, createServer, type SecureContextOptions } from "node:tls";
import { issueCert, makeCa } from "@ros-rollback/proto/testing";

const n = Number(process.argv[2] ?? 300);
const dir = mkdtempSync(join(tmpdir(), "rl-tls-"));
makeCa(dir, "ca");
issueCert(dir, "server", "ca", "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n");
issueCert(dir, "client", "ca", "extendedKeyUsage=clientAuth\n");
const file = (f: string) => readFileSync(join(dir, f));
const noDhe = { secureOptions: constants.SSL_OP_ALLOW_NO_DHE_KEX };

async function tlsCost(extra: SecureContextOptions, resume: boolean): Promise<number> {
  const server = createServer(
    { ca: file("ca.pem"), cert: file("server.pem"), key: file("server.key"), requestCert: true, ...extra },
    (s) => {
      s.on("error", () => undefined);
      s.end("x");
    },
  );
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  const secureContext = createSecureContext({
    ca: file("ca.pem"),
    cert: file("client.pem"),
    key: file("client.key"),
    ...extra,
  });
  let session: Buffer | undefined;
  const one = async () => {
    const s = connect({ port, host: "127.0.0.1", servername: "localhost", secureContext, session });
    if (resume) s.once("session", (b: Buffer) => (session ??= b));
    s.resume();
    await once(s, "end");
    s.destroy();
  };
  const cpu = await measure(one);
  server.close();
  return cpu;
}

async function tcpCost(): Promise<number> {
  const server = netServer((s) => s.end("x"));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  const cpu = await measure(async () => {
    const s = netConnect(port, "127.0.0.1");
    s.resume();
    await once(s, "end");
    s.destroy();
  });
  server.close();
  return cpu;
}

/** CPU ms per call of `one` (after 20 to warm up), the calls one after another. */
async function measure(one: () => Promise<void>): Promise<number> {
  for (let i = 0; i < 20; i++) await one();
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) await one();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000 / n;
}

try {
  const rows: [string, number][] = [
    ["TCP", await tcpCost()],
    ["TLS 1.3, full mutual handshake", await tlsCost({}, false)],
    ["TLS 1.3, resumed", await tlsCost({}, true)],
    ["TLS 1.2, resumed", await tlsCost({ maxVersion: "TLSv1.2" }, true)],
    ["TLS 1.3, resumed without DHE", await tlsCost(noDhe, true)],
  ];
  process.stdout.write("| connection | CPU ms, both ends |\n| --- | --- |\n");
  for (const [what, ms] of rows) process.stdout.write(`| ${what} | ${ms.toFixed(2)} |\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
