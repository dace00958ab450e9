// The controller resumes its TLS session with the relay (one full handshake per relay and CLI run):
// a resumed dial still reaches the named robot's agent, whose own mutual TLS runs in full inside it;
// a relay restarted with a CA that no longer accepts the controller takes none of its old sessions.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
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
import { linkFor, makeRelayPki, memoryLog, type RelayPki, relayFor, until } from "./rig.js";

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

describe("TLS session resumption controller → relay", () => {
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
