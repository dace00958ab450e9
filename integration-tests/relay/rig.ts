// A real relay, a real agent server (agent/src/testing's DeployingServer) dialing out to it, and the
// controller's connectAgent routed through it: every hop real mutual TLS on loopback.
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { type AddressInfo, createServer, connect as netConnect, type Socket } from "node:net";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { type TLSSocket, connect as tlsConnect } from "node:tls";
import { type IssuedCert, issueCert, makeCa } from "@ros-rollback/proto/testing";
import { pino } from "pino";
import { RelayLink } from "../../agent/src/dial-out/relay-link.js";
import type { DeployingServer } from "../../agent/src/testing/deploying-server.js";
import type { AgentApi } from "../../controller/src/agent-api/types.js";
import { connectAgent } from "../../controller/src/push/transport/connect-agent.js";
import type { Target } from "../../controller/src/targets/inventory.js";
import { type RelayLog, type RunningRelay, startRelay } from "../../relay/src/index.js";

export interface RelayPki {
  readonly relayCa: string;
  readonly relayCert: IssuedCert;
  /** The robot's certificate at the relay (CN rl-robot1), from the relay's robot CA. */
  readonly robot: IssuedCert;
  /** CN rl-robot1 from a CA the relay does not know. */
  readonly rogueRobot: IssuedCert;
}

export function makeRelayPki(dir: string): RelayPki {
  makeCa(dir, "relay-ca");
  makeCa(dir, "stranger-ca");
  const client = "extendedKeyUsage=clientAuth\n";
  return {
    relayCa: join(dir, "relay-ca.pem"),
    relayCert: issueCert(
      dir,
      "relay",
      "relay-ca",
      "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    ),
    robot: issueCert(dir, "robot", "relay-ca", client, "/CN=rl-robot1"),
    rogueRobot: issueCert(dir, "rogue-robot", "stranger-ca", client, "/CN=rl-robot1"),
  };
}

/** Log lines kept for assertions. */
export function memoryLog(): RelayLog & {
  readonly lines: { msg: string; fields: Record<string, unknown> }[];
} {
  const lines: { msg: string; fields: Record<string, unknown> }[] = [];
  const add = (fields: Record<string, unknown>, msg: string) => void lines.push({ msg, fields });
  return { lines, info: add, warn: add };
}

/** A relay whose controller port accepts certificates of `controllerCas` (PEM files). */
export function relayFor(
  pki: RelayPki,
  controllerCas: readonly string[],
  log: RelayLog,
  ports = { robot: 0, controller: 0 },
): Promise<RunningRelay> {
  return startRelay({
    robotListen: { host: "127.0.0.1", port: ports.robot },
    controllerListen: { host: "127.0.0.1", port: ports.controller },
    tls: {
      cert: readFileSync(pki.relayCert.cert),
      key: readFileSync(pki.relayCert.key),
      robotCa: readFileSync(pki.relayCa),
      controllerCa: Buffer.concat(controllerCas.map((f) => readFileSync(f))),
    },
    log,
    timings: { pingMs: 500, idleMs: 1_500, handshakeMs: 2_000, streamOpenMs: 2_000 },
  });
}

/** The agent server's link to the relay, with the robot certificate given. */
export function linkFor(
  pki: RelayPki,
  agent: DeployingServer,
  relayPort: number,
  robot = pki.robot,
  backoff = { minMs: 100, maxMs: 1_000 },
  onMetricsStream?: (s: Duplex) => void,
): RelayLink {
  return new RelayLink({
    host: "127.0.0.1",
    port: relayPort,
    tls: { ca: readFileSync(pki.relayCa), cert: readFileSync(robot.cert), key: readFileSync(robot.key) },
    onStream: (s) => agent.server.inject(s),
    ...(onMetricsStream ? { onMetricsStream } : {}),
    log: pino({ level: "silent" }),
    backoff,
    pingMs: 300,
    idleMs: 1_500,
  });
}

/** The inventory target for the robot behind the relay. */
export function relayTarget(
  pki: RelayPki,
  agent: DeployingServer,
  relayControllerPort: number,
  cert = agent.pki.clientCert,
  key = agent.pki.clientKey,
): Target {
  return {
    name: "rl-robot1",
    address: "relay rl-robot1@127.0.0.1",
    caFile: agent.pki.caFile,
    certFile: cert,
    keyFile: key,
    serverName: "localhost",
    relay: { address: `127.0.0.1:${relayControllerPort}`, name: "rl-robot1", caFile: pki.relayCa },
  };
}

export function connect(target: Target, connectTimeoutMs = 3_000): Promise<AgentApi> {
  return connectAgent(target, { connectTimeoutMs, unaryTimeoutMs: 10_000 }, AbortSignal.timeout(20_000));
}

/** Resolves once `cond` holds (polled), or rejects after `ms`. */
export async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * A TCP path to `port` on loopback that counts its connections, and whose
 * connections can go silent (carry no byte, close nothing), like a dead NAT mapping.
 */
export async function tcpPath(port: number, o: { tlsOnly?: boolean } = {}) {
  let accepted = 0;
  let cut = 0;
  const live = new Map<Socket, { frozen: boolean }>();
  // What crossed the path each way (the first MiB): what someone on the wire saw.
  const seen: Buffer[] = [];
  let seenBytes = 0;
  const tap = (b: Buffer) => {
    if (seenBytes < 2 ** 20) seen.push(b);
    seenBytes += b.length;
  };
  const server = createServer((c) => {
    accepted++;
    const up = netConnect(port, "127.0.0.1");
    const state = { frozen: false };
    live.set(c, state);
    for (const s of [c, up]) {
      s.on("error", () => undefined);
      s.once("close", () => {
        live.delete(c);
        c.destroy();
        up.destroy();
      });
    }
    let first = true;
    const carry = (to: Socket) => (b: Buffer) => {
      if (state.frozen) return;
      // An egress firewall that passes TLS only: a connection not starting with a handshake is cut.
      if (first && to === up && o.tlsOnly === true && b[0] !== 0x16) {
        cut++;
        c.destroy();
        return;
      }
      first = false;
      tap(b);
      to.write(b);
    };
    c.on("data", carry(up));
    up.on("data", carry(c));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    port: (server.address() as AddressInfo).port,
    accepted: () => accepted,
    /** Connections a `tlsOnly` path cut. */
    cut: () => cut,
    seen: () => Buffer.concat(seen),
    /** The connections open now go silent; later ones (the redial) carry bytes. */
    freeze: () => {
      for (const s of live.values()) s.frozen = true;
    },
    close: () => {
      server.close();
      for (const c of live.keys()) c.destroy();
    },
  };
}

/** A plain connection to a relay port that sends `line` and resolves with what came back until it closed. */
export async function plainLine(port: number, line: string): Promise<string> {
  const s = netConnect(port, "127.0.0.1");
  s.on("error", () => undefined);
  s.write(line);
  const got: Buffer[] = [];
  s.on("data", (b: Buffer) => got.push(b));
  await once(s, "close");
  return Buffer.concat(got).toString("utf8");
}

/** A bare TLS connection to the relay's robot port with the robot's certificate: no agent behind it. */
export function rawRobotConnection(pki: RelayPki, port: number, ALPNProtocols?: string[]): TLSSocket {
  const s = tlsConnect({
    host: "127.0.0.1",
    port,
    ca: readFileSync(pki.relayCa),
    cert: readFileSync(pki.robot.cert),
    key: readFileSync(pki.robot.key),
    servername: "localhost",
    ...(ALPNProtocols === undefined ? {} : { ALPNProtocols }),
  });
  s.on("error", () => undefined);
  return s;
}
