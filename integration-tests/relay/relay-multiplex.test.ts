// A stream's relay legs are HTTP/2 streams: every dial of one controller rides its one connection
// to the relay, every stream to a robot rides the robot's control connection, and the end-to-end
// mutual TLS inside each runs in full. Flow control is per stream: a stream nobody reads does not
// hold up another. A dedicated stream (the raw push's) has a TLS connection of its own on each leg.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { createSecureContext, type TLSSocket, connect as tlsConnect } from "node:tls";
import { issueCert } from "@ros-rollback/proto/testing";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RelayLink } from "../../agent/src/dial-out/relay-link.js";
import { useDeployingServer } from "../../agent/src/testing/deploying-server.js";
import { dialDedicated } from "../../controller/src/relay/dedicated.js";
import { RelayClient, RelayRefused } from "../../controller/src/relay/dial.js";
import type { RunningRelay } from "../../relay/src/index.js";
import {
  connect,
  linkFor,
  makeRelayPki,
  memoryLog,
  type RelayPki,
  rawRobotConnection,
  relayFor,
  relayTarget,
  tcpPath,
  until,
} from "./rig.js";

const agent = useDeployingServer();
let dir: string;
let pki: RelayPki;
let relay: RunningRelay;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rl-mux-"));
  pki = makeRelayPki(dir);
  relay = await relayFor(pki, [agent.pki.caFile], memoryLog());
});

afterAll(async () => {
  await relay.close();
  rmSync(dir, { recursive: true, force: true });
});

const client = (port: number) =>
  new RelayClient({
    address: `127.0.0.1:${port}`,
    secureContext: createSecureContext({
      ca: readFileSync(pki.relayCa),
      cert: readFileSync(agent.pki.clientCert),
      key: readFileSync(agent.pki.clientKey),
    }),
  });

describe("the relay legs of a stream are HTTP/2 streams", () => {
  it("eight streams, three at once: one controller connection, one robot connection, eight full end-to-end handshakes", async () => {
    const toController = await tcpPath(relay.controllerPort);
    const toRobots = await tcpPath(relay.robotPort);
    const link = linkFor(pki, agent, toRobots.port);
    link.start();
    const c = client(toController.port);
    try {
      await until(() => link.current === "connected", 5_000, "the robot's link");
      const stream = async () => {
        const inner = await endToEnd(await c.dial("rl-robot1", 3_000));
        expect(inner.authorized).toBe(true);
        expect(inner.isSessionReused()).toBe(false);
        inner.destroy();
      };
      for (let i = 0; i < 5; i++) await stream();
      await Promise.all([stream(), stream(), stream()]);
      expect(toController.accepted()).toBe(1);
      expect(toRobots.accepted()).toBe(1);

      const absent = await c.dial("rl-nobody", 3_000).catch((e: unknown) => e);
      expect(absent).toBeInstanceOf(RelayRefused);
      expect((absent as RelayRefused).code).toBe("NOT_CONNECTED");
      expect((absent as RelayRefused).message).toMatch(
        /rl-nobody is not connected to the relay at .*; not seen/,
      );
    } finally {
      c.close();
      link.stop();
      toController.close();
      toRobots.close();
    }
  });

  it("a status through the relay costs one controller→relay connection (its dial; no query before it)", async () => {
    const toController = await tcpPath(relay.controllerPort);
    const link = linkFor(pki, agent, relay.robotPort);
    link.start();
    try {
      await until(() => link.current === "connected", 5_000, "the robot's link");
      const api = await connect(relayTarget(pki, agent, toController.port));
      try {
        expect((await api.getStatus(AbortSignal.timeout(10_000))).agentVersion).toBe("test");
      } finally {
        api.close();
      }
      expect(toController.accepted()).toBe(1);
    } finally {
      link.stop();
      toController.close();
    }
  });

  it("a dedicated stream: a connection of its own on each leg, the end-to-end TLS inside; refusals and garbage are clean", async () => {
    const toController = await tcpPath(relay.controllerPort);
    const toRobots = await tcpPath(relay.robotPort);
    const link = linkFor(pki, agent, toRobots.port);
    link.start();
    const endpoint = () => ({
      address: `127.0.0.1:${toController.port}`,
      ca: readFileSync(pki.relayCa),
      cert: readFileSync(agent.pki.clientCert),
      key: readFileSync(agent.pki.clientKey),
    });
    try {
      await until(() => link.current === "connected", 5_000, "the robot's link");
      const inner = await endToEnd(await dialDedicated(endpoint(), "rl-robot1", 3_000));
      expect(inner.authorized).toBe(true);
      inner.destroy();
      expect(toController.accepted()).toBe(1);
      expect(toRobots.accepted()).toBe(2); // the control connection and the dedicated one

      const absent = await dialDedicated(endpoint(), "rl-nobody", 3_000).catch((e: unknown) => e);
      expect(absent).toBeInstanceOf(RelayRefused);
      expect((absent as RelayRefused).message).toMatch(
        /rl-nobody is not connected to the relay at .*; not seen/,
      );
      const bad = await dialDedicated(endpoint(), "../etc", 3_000).catch((e: unknown) => e);
      expect((bad as RelayRefused).code).toBe("BAD_REQUEST");
      expect(toRobots.accepted()).toBe(2); // neither reached the robot

      // A robot connection claiming a dedicated stream nobody asked for is closed, and the link stays.
      const stray = rawRobotConnection(pki, relay.robotPort, ["ros-rollback-relay-stream/2"]);
      stray.once("secureConnect", () => stray.write('{"id":"0123456789abcdef"}\n'));
      await new Promise((r) => stray.once("close", r));
      expect(link.current).toBe("connected");
      const again = await endToEnd(await dialDedicated(endpoint(), "rl-robot1", 3_000));
      expect(again.authorized).toBe(true);
      again.destroy();
    } finally {
      link.stop();
      toController.close();
      toRobots.close();
    }
  });

  it("a stream whose robot end reads nothing does not hold up another stream to that robot", async () => {
    const robot2 = issueCert(dir, "robot2", "relay-ca", "extendedKeyUsage=clientAuth\n", "/CN=rl-robot2");
    const stalled: Duplex[] = [];
    const link = new RelayLink({
      host: "127.0.0.1",
      port: relay.robotPort,
      tls: { ca: readFileSync(pki.relayCa), cert: readFileSync(robot2.cert), key: readFileSync(robot2.key) },
      // The first stream is never read (a receiver that fell behind); the others reach the agent.
      onStream: (s) => {
        if (stalled.length === 0) {
          s.pause();
          stalled.push(s);
        } else agent.server.inject(s);
      },
      log: pino({ level: "silent" }),
      backoff: { minMs: 100, maxMs: 1_000 },
    });
    link.start();
    const c = client(relay.controllerPort);
    try {
      await until(() => link.current === "connected", 5_000, "the second robot's link");
      const bulk = await c.dial("rl-robot2", 3_000);
      bulk.on("error", () => undefined);
      // Far more than the windows and the socket buffers on the way hold.
      const chunk = Buffer.alloc(1024 * 1024);
      let written = 0;
      for (let i = 0; i < 64; i++) {
        written++;
        if (!bulk.write(chunk)) break;
      }
      await until(() => stalled.length === 1, 3_000, "the stalled stream at the robot");
      const inner = await endToEnd(await c.dial("rl-robot2", 3_000));
      expect(inner.authorized).toBe(true);
      inner.destroy();
      expect(written).toBeLessThan(64); // the bulk stream was really held back
      bulk.destroy();
    } finally {
      c.close();
      link.stop();
    }
  });
});

/** The end-to-end TLS inside a stream: the agent's certificate verified here, ours by the agent. */
async function endToEnd(stream: Duplex): Promise<TLSSocket> {
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
