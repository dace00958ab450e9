// A stream's relay legs are HTTP/2 streams: every dial of one controller rides its one connection
// to the relay, every stream to a robot rides the robot's control connection, and the end-to-end
// mutual TLS inside each runs in full. Flow control is per stream: a stream nobody reads does not
// hold up another. A dedicated connection (the raw push's) is plain TCP on each leg, admitted by a
// ticket, with the end-to-end TLS inside.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer as createH2Server } from "node:http2";
import { connect as netConnect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { createSecureContext, type TLSSocket, connect as tlsConnect } from "node:tls";
import { issueCert } from "@ros-rollback/proto/testing";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RelayLink } from "../../agent/src/dial-out/relay-link.js";
import { useDeployingServer } from "../../agent/src/testing/deploying-server.js";
import { joinDedicated } from "../../controller/src/relay/dedicated.js";
import { RelayClient, RelayRefused } from "../../controller/src/relay/dial.js";
import type { RunningRelay } from "../../relay/src/index.js";
import {
  connect,
  linkFor,
  makeRelayPki,
  memoryLog,
  plainLine,
  type RelayPki,
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

  it("a dedicated connection: plain TCP on each leg admitted by a ticket, the end-to-end TLS inside; bad tickets change nothing", async () => {
    const toController = await tcpPath(relay.controllerPort);
    const toRobots = await tcpPath(relay.robotPort);
    const link = linkFor(pki, agent, toRobots.port);
    link.start();
    const c = client(toController.port);
    try {
      await until(() => link.current === "connected", 5_000, "the robot's link");
      const inner = await endToEnd(await dialDedicated(c, "rl-robot1"));
      expect(inner.authorized).toBe(true);
      // What only the end-to-end TLS can carry: nobody on either leg sees it.
      const secret = "a secret only the agent may read ".repeat(64);
      inner.write(secret);
      await until(() => toRobots.seen().length > secret.length, 3_000, "the bytes on the robot's leg");
      inner.destroy();
      for (const leg of [toController, toRobots])
        expect(leg.seen().includes(secret.slice(0, 64))).toBe(false);
      // The controller: its HTTP/2 connection (the ticket) and the dedicated one; the robot: likewise.
      expect(toController.accepted()).toBe(2);
      expect(toRobots.accepted()).toBe(2);

      const absent = await dialDedicated(c, "rl-nobody").catch((e: unknown) => e);
      expect(absent).toBeInstanceOf(RelayRefused);
      expect((absent as RelayRefused).message).toMatch(
        /rl-nobody is not connected to the relay at .*; not seen/,
      );
      const bad = await dialDedicated(c, "../etc").catch((e: unknown) => e);
      expect((bad as RelayRefused).code).toBe("BAD_REQUEST");
      expect(toRobots.accepted()).toBe(2); // neither reached the robot

      // A ticket is good once, on the controllers' port only; a robot's connection with a ticket nobody
      // issued is cut, and the link stays.
      const ticket = await c.ticket("rl-robot1", 3_000);
      expect(await plainLine(relay.robotPort, `{"ticket":"${ticket}"}\n`)).toBe("");
      expect(await plainLine(relay.robotPort, `{"ticket":"${"0".repeat(64)}"}\n`)).toBe("");
      const used = await dialTicket(relay.controllerPort, ticket);
      expect(JSON.parse(await firstLine(used))).toEqual({ ok: true });
      used.destroy();
      expect(JSON.parse(await plainLine(relay.controllerPort, `{"ticket":"${ticket}"}\n`))).toMatchObject({
        code: "BAD_REQUEST",
        message: "an unknown, used or expired ticket",
      });
      expect(JSON.parse(await plainLine(relay.controllerPort, '{"ticket":"../../x"}\n'))).toMatchObject({
        code: "BAD_REQUEST",
      });
      expect(link.current).toBe("connected");
      const again = await endToEnd(await dialDedicated(c, "rl-robot1"));
      expect(again.authorized).toBe(true);
      again.destroy();
    } finally {
      c.close();
      link.stop();
      toController.close();
      toRobots.close();
    }
  });

  it("a ticket whose robot never dials in: the controller is told within the relay's stream timeout", async () => {
    // A robot that answers the relay's every stream, the ask for a dedicated connection too, but never dials in.
    const robot3 = issueCert(dir, "robot3", "relay-ca", "extendedKeyUsage=clientAuth\n", "/CN=rl-robot3");
    const mute = tlsConnect({
      host: "127.0.0.1",
      port: relay.robotPort,
      ca: readFileSync(pki.relayCa),
      cert: readFileSync(robot3.cert),
      key: readFileSync(robot3.key),
      ALPNProtocols: ["ros-rollback-relay/2"],
    });
    const h2 = createH2Server();
    h2.on("stream", (st) => {
      st.respond({ ":status": 200 });
      st.end();
    });
    mute.once("secureConnect", () => h2.emit("connection", mute));
    const c = client(relay.controllerPort);
    try {
      await until(() => relay.registry.state("rl-robot3").connected, 5_000, "robot3 at the relay");
      const ticket = await c.ticket("rl-robot3", 3_000);
      const started = Date.now();
      const answer = JSON.parse(await firstLine(await dialTicket(relay.controllerPort, ticket)));
      expect(answer).toMatchObject({ code: "NO_STREAM" });
      expect(answer.message).toMatch(/rl-robot3 did not open a stream within 2000 ms/);
      expect(Date.now() - started).toBeLessThan(relay.streamOpenMs + 1_000);
    } finally {
      c.close();
      mute.destroy();
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

/** A plain connection to a relay port that presents `ticket` (what dialDedicated does after its POST). */
function dialTicket(port: number, ticket: string): Socket {
  const s = netConnect(port, "127.0.0.1");
  s.on("error", () => undefined);
  s.write(`{"ticket":"${ticket}"}\n`);
  return s;
}

/** The first line a socket receives. */
async function firstLine(s: Socket): Promise<string> {
  let got = "";
  for await (const b of s as AsyncIterable<Buffer>) {
    got += b.toString("utf8");
    const nl = got.indexOf("\n");
    if (nl >= 0) return got.slice(0, nl);
  }
  return got;
}

/** A dedicated connection as the CLI makes one: a ticket, then plain TCP to the relay with it. */
async function dialDedicated(c: RelayClient, robot: string) {
  return joinDedicated(c.address, await c.ticket(robot, 3_000), 3_000);
}

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
