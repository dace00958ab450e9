// The simulated robots of bench/relay/scale.ts (a child process): one real agent gRPC server and
// N RelayLinks (the agent's own tunnel code), link i with CN rl-sim-i; every stream the relay
// opens goes to that one server. Usage: fork with [N, DIR]; DIR holds relay-ca.pem and .key.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { RelayLink } from "../../agent/src/dial-out/relay-link.js";
import { DeployingServer } from "../../agent/src/testing/deploying-server-core.js";
import { issueLeaf, issuerOf, sharedRobotKey } from "./certs.js";

const n = Number(process.argv[2]);
const dir = process.argv[3] as string;

/**
 * Per link, from its log: when its scheduled attempt was due (waiting + retryInMs) and, once
 * connected again, how late it came (connected − due): the handshake queue on top of the back-off.
 */
const due = new Map<number, number>();
let lateMs: number[] = [];
const linkLog = (i: number) => ({
  info: (f: { state?: string }) => {
    const d = due.get(i);
    if (f.state === "connected" && d !== undefined) {
      lateMs.push(Date.now() - d);
      due.delete(i);
    }
  },
  warn: (f: { retryInMs?: number }) => {
    if (typeof f.retryInMs === "number") due.set(i, Date.now() + f.retryInMs);
  },
});

// A clean exit on SIGTERM writes the CPU profile (BENCH_RELAY_PROF).
process.once("SIGTERM", () => process.exit(0));

const agent = new DeployingServer();
await agent.start();
const { caFile, clientCert, clientKey } = agent.pki;
process.send?.({ caFile, clientCert, clientKey });

const ca = readFileSync(join(dir, "relay-ca.pem"));
const issuer = issuerOf(ca.toString(), readFileSync(join(dir, "relay-ca.key"), "utf8"));
const { keyPem, publicKey } = sharedRobotKey();
const key = Buffer.from(keyPem);
const certs = Array.from({ length: n }, (_, i) =>
  Buffer.from(issueLeaf(`rl-sim-${i}`, i + 1, publicKey, issuer)),
);

// Later messages: forget the lateness measured so far (before a restart), report it (after).
process.on("message", (m: { reset?: boolean; report?: boolean }) => {
  if (m.reset === true) lateMs = [];
  if (m.report === true) process.send?.({ lateMs });
});

process.once("message", async (m: { relayPort: number }) => {
  for (let i = 0; i < n; i++) {
    new RelayLink({
      host: "127.0.0.1",
      port: m.relayPort,
      tls: { ca, cert: certs[i] as Buffer, key },
      onStream: (s) => agent.server.inject(s),
      log: linkLog(i),
    }).start();
    // A fleet does not all boot in the same millisecond; nor do 1,000 handshakes fit in one tick.
    if (i % 50 === 49) await new Promise((r) => setTimeout(r, 50));
  }
});
