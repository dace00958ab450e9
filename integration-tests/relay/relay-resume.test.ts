// A stream's relay legs: one controller→relay connection (no query first), resumed after the first
// full handshake; the robot's stream resumes its control connection's session and is still routed
// by the robot's name; the end-to-end mutual TLS inside runs in full. A relay restarted with a CA
// that no longer accepts the controller takes none of its old sessions.
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { type AddressInfo, createServer, connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSecureContext, type TLSSocket, connect as tlsConnect } from "node:tls";
import { issueCert } from "@ros-rollback/proto/testing";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RelayLink } from "../../agent/src/dial-out/relay-link.js";
import { useDeployingServer } from "../../agent/src/testing/deploying-server.js";
import { dialThroughRelay, RelayRefused, RelaySessions } from "../../controller/src/relay/dial.js";
import type { RunningRelay } from "../../relay/src/index.js";
import {
  connect,
  linkFor,
  makeRelayPki,
  memoryLog,
  type RelayPki,
  relayFor,
  relayTarget,
  until,
} from "./rig.js";

const agent = useDeployingServer();
let dir: string;
let pki: RelayPki;
let relay: RunningRelay;
let stopLink: () => void;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rl-resume-"));
  pki = makeRelayPki(dir);
  relay = await relayFor(pki, [agent.pki.caFile], memoryLog());
  const link = linkFor(pki, agent, relay.robotPort);
  link.start();
  stopLink = () => link.stop();
  await until(() => link.current === "connected", 5_000, "the robot's link");
});

afterAll(async () => {
  stopLink();
  await relay.close();
  rmSync(dir, { recursive: true, force: true });
});

const controllerContext = () =>
  createSecureContext({
    ca: readFileSync(pki.relayCa),
    cert: readFileSync(agent.pki.clientCert),
    key: readFileSync(agent.pki.clientKey),
  });

describe("the relay legs of a stream: one dial, TLS resumed", () => {
  it("the second dial resumes, and still reaches rl-robot1's agent, which checks the controller in full", async () => {
    const sessions = new RelaySessions();
    const endpoint = {
      address: `127.0.0.1:${relay.controllerPort}`,
      secureContext: controllerContext(),
      sessions,
    };
    const first = await dialThroughRelay(endpoint, "rl-robot1", 3_000);
    expect(first.isSessionReused()).toBe(false);
    await until(() => sessions.get(endpoint.address) !== undefined, 3_000, "a session ticket");
    first.destroy();

    const second = await dialThroughRelay(endpoint, "rl-robot1", 3_000);
    expect(second.isSessionReused()).toBe(true);
    const inner = await endToEnd(second);
    expect(inner.authorized).toBe(true);
    expect(inner.getPeerCertificate().subject?.CN).toBeDefined();
    inner.destroy();

    // A resumed session names no robot by itself: the relay routes by the dial, refusing an absent one.
    const absent = await dialThroughRelay(endpoint, "rl-nobody", 3_000).catch((e: unknown) => e);
    expect(absent).toBeInstanceOf(RelayRefused);
    expect((absent as RelayRefused).code).toBe("NOT_CONNECTED");
    expect((absent as RelayRefused).message).toMatch(
      /rl-nobody is not connected to the relay at .*; not seen/,
    );
  });

  it("a robot's stream resumes its control connection's session, and the relay still routes it by the robot's name", async () => {
    const robot2 = issueCert(dir, "robot2", "relay-ca", "extendedKeyUsage=clientAuth\n", "/CN=rl-robot2");
    const resumed: boolean[] = [];
    const link = new RelayLink({
      host: "127.0.0.1",
      port: relay.robotPort,
      tls: { ca: readFileSync(pki.relayCa), cert: readFileSync(robot2.cert), key: readFileSync(robot2.key) },
      onStream: (s) => {
        resumed.push(s.isSessionReused());
        agent.server.inject(s);
      },
      log: pino({ level: "silent" }),
      backoff: { minMs: 100, maxMs: 1_000 },
    });
    link.start();
    try {
      await until(() => link.current === "connected", 5_000, "the second robot's link");
      const endpoint = { address: `127.0.0.1:${relay.controllerPort}`, secureContext: controllerContext() };
      for (let i = 0; i < 2; i++) {
        // The relay hands a stream on only when the name it read from the robot's session is the dial's.
        const inner = await endToEnd(await dialThroughRelay(endpoint, "rl-robot2", 3_000));
        expect(inner.authorized).toBe(true);
        inner.destroy();
      }
      expect(resumed).toEqual([true, true]);
    } finally {
      link.stop();
    }
  });

  it("a status through the relay costs one controller→relay connection (its dial; no query before it)", async () => {
    // A TCP counter in front of the relay's controller port.
    let connections = 0;
    const counter = createServer((c) => {
      connections++;
      const up = netConnect(relay.controllerPort, "127.0.0.1");
      c.pipe(up).pipe(c);
      c.on("error", () => up.destroy());
      up.on("error", () => c.destroy());
    });
    counter.listen(0, "127.0.0.1");
    await once(counter, "listening");
    const port = (counter.address() as AddressInfo).port;
    try {
      const api = await connect(relayTarget(pki, agent, port));
      try {
        expect((await api.getStatus(AbortSignal.timeout(10_000))).agentVersion).toBe("test");
      } finally {
        api.close();
      }
      expect(connections).toBe(1);
    } finally {
      counter.close();
    }
  });

  it("a relay restarted to refuse the controller's certificate does not resume its old session", async () => {
    const sessions = new RelaySessions();
    const endpoint = {
      address: `127.0.0.1:${relay.controllerPort}`,
      secureContext: controllerContext(),
      sessions,
    };
    (await dialThroughRelay(endpoint, "rl-robot1", 3_000)).destroy();
    await until(() => sessions.get(endpoint.address) !== undefined, 3_000, "a session ticket");
    const old = sessions.get(endpoint.address) as Buffer;

    // Restarted (a new process has new ticket keys) accepting only the relay CA's controllers.
    const strict = await relayFor(pki, [pki.relayCa], memoryLog());
    try {
      const address = `127.0.0.1:${strict.controllerPort}`;
      const replay = new RelaySessions();
      replay.set(address, old);
      const err = await dialThroughRelay(
        { ...endpoint, address, sessions: replay },
        "rl-robot1",
        3_000,
      ).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RelayRefused);
      expect((err as RelayRefused).code).toBe("UNREACHABLE");
    } finally {
      await strict.close();
    }
  });
});

/** The end-to-end TLS inside a stream: the agent's certificate verified here, ours by the agent. */
async function endToEnd(stream: TLSSocket): Promise<TLSSocket> {
  const inner = tlsConnect({
    socket: stream,
    ca: readFileSync(agent.pki.caFile),
    cert: readFileSync(agent.pki.clientCert),
    key: readFileSync(agent.pki.clientKey),
    servername: "localhost",
    ALPNProtocols: ["h2"],
  });
  await new Promise<void>((resolve, reject) => {
    inner.once("secureConnect", resolve);
    inner.once("error", reject);
  });
  return inner;
}
