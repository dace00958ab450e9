import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createConnection, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { connect as tlsConnect } from "node:tls";
import {
  ActivationAction,
  type DeploymentEvent,
  DeploymentState,
  type PushPathsRequest,
} from "@ros-rollback/proto";
import { issueCert } from "@ros-rollback/proto/testing";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RelayLink } from "../../agent/src/dial-out/relay-link.js";
import { SELF_CONFIRM, useDeployingServer } from "../../agent/src/testing/deploying-server.js";
import { AgentCallError } from "../../controller/src/agent-api/errors.js";
import {
  RawPushBroken,
  type RawPushEndpoint,
  rawPush,
} from "../../controller/src/push/transport/raw-push-client.js";
import { joinDedicated } from "../../controller/src/relay/dedicated.js";
import { RelayClient, type RelayEndpoint } from "../../controller/src/relay/dial.js";
import { viaRelay } from "../../controller/src/relay/via-relay.js";
import type { RunningRelay } from "../../relay/src/index.js";
import {
  connect,
  linkFor,
  makeRelayPki,
  memoryLog,
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
const log = memoryLog();
let stopLink: () => void;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rl-relay-"));
  pki = makeRelayPki(dir);
  // The relay accepts controllers of the agent's CA and of an unrelated one (which the agent refuses).
  relay = await relayFor(pki, [agent.pki.caFile, agent.pki.rogueCa], log);
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

const relayEndpoint = (): RelayEndpoint => ({
  address: `127.0.0.1:${relay.controllerPort}`,
  ca: readFileSync(pki.relayCa),
  cert: readFileSync(agent.pki.clientCert),
  key: readFileSync(agent.pki.clientKey),
});

/** A dedicated connection as the CLI makes one: a ticket, then plain TCP to the relay with it. */
const dialDedicated = async (c: RelayClient, robot: string) =>
  joinDedicated(c.address, await c.ticket(robot, 3_000), 3_000);

const rawEndpoint = (dial: () => Promise<Duplex>): RawPushEndpoint => ({
  address: "127.0.0.1:1",
  serverName: "localhost",
  ca: readFileSync(agent.pki.caFile),
  cert: readFileSync(agent.pki.clientCert),
  key: readFileSync(agent.pki.clientKey),
  dial,
});

describe("through the relay", () => {
  it("gRPC calls, a raw push and a deployment reach the agent, end to end", async () => {
    const api = await connect(relayTarget(pki, agent, relay.controllerPort));
    try {
      const status = await api.getStatus(AbortSignal.timeout(5_000));
      expect(status.agentVersion).toBe("test");
      let transport = "";
      await api.pushPaths(
        (async function* (): AsyncGenerator<PushPathsRequest> {})(),
        AbortSignal.timeout(5_000),
        () => undefined,
        (t) => {
          transport = t.kind;
        },
      );
      expect(transport).toBe("raw");
      const events: DeploymentEvent[] = [];
      for await (const e of api.activate(
        {
          storePath: agent.systemPath,
          action: ActivationAction.ACTIVATION_ACTION_SWITCH,
          options: SELF_CONFIRM,
          overrideHolds: [],
        },
        AbortSignal.timeout(15_000),
      ))
        events.push(e);
      expect(events.at(-1)).toMatchObject({ final: true, state: DeploymentState.DEPLOYMENT_STATE_SUCCEEDED });
    } finally {
      api.close();
    }
    expect(relay.metrics.bytesFromRobots).toBeGreaterThan(0);
  });

  it("the raw push runs its TLS on a dedicated relay stream itself: no TCP connection to the proxy's address", async () => {
    // Nothing listens on port 1: only the relay's stream can carry this push.
    const before = relay.metrics.streamsTotal;
    const out = await rawPush(
      rawEndpoint(async () => dialDedicated(new RelayClient(relayEndpoint()), "rl-robot1")),
      (async function* (): AsyncGenerator<PushPathsRequest> {})(),
      AbortSignal.timeout(10_000),
      { connectTimeoutMs: 3_000, answerTimeoutMs: 5_000 },
    );
    expect(out.kind).toBe("pushed");
    expect(relay.metrics.streamsTotal).toBe(before + 1);
  });

  it("a robot behind a firewall that passes only TLS: the push falls back to a stream on the shared connections", async () => {
    // A second link of the same agent, under another name, whose every connection crosses the firewall.
    const firewall = await tcpPath(relay.robotPort, { tlsOnly: true });
    const robot3 = issueCert(dir, "robot3", "relay-ca", "extendedKeyUsage=clientAuth\n", "/CN=rl-robot3");
    const link = new RelayLink({
      host: "127.0.0.1",
      port: firewall.port,
      tls: { ca: readFileSync(pki.relayCa), cert: readFileSync(robot3.cert), key: readFileSync(robot3.key) },
      onStream: (s) => agent.server.inject(s),
      log: pino({ level: "silent" }),
    });
    link.start();
    const client = new RelayClient(relayEndpoint());
    try {
      await until(() => link.current === "connected", 5_000, "the link through the firewall");
      const target = {
        ...relayTarget(pki, agent, relay.controllerPort),
        relay: { address: `127.0.0.1:${relay.controllerPort}`, name: "rl-robot3", caFile: pki.relayCa },
      };
      const route = await viaRelay(target, client, 5_000);
      const before = relay.metrics.streamsTotal;
      const push = () =>
        rawPush(
          rawEndpoint(route.dialBulk),
          (async function* (): AsyncGenerator<PushPathsRequest> {})(),
          AbortSignal.timeout(15_000),
          { connectTimeoutMs: 5_000, answerTimeoutMs: 5_000 },
        );
      expect((await push()).kind).toBe("pushed");
      expect(firewall.cut()).toBe(1); // the robot's dedicated connection
      expect(log.lines.some((l) => /rl-robot3 did not open a stream/.test(String(l.fields.err)))).toBe(true);
      // The next push of this run goes to the shared connections at once: no second ticket.
      expect((await push()).kind).toBe("pushed");
      expect(firewall.cut()).toBe(1);
      expect(relay.metrics.streamsTotal).toBe(before + 2);
      route.proxy.close();
    } finally {
      client.close();
      link.stop();
      firewall.close();
    }
  });

  it("the relay's stream breaking mid-push: the push fails cleanly, it does not hang", async () => {
    let stream: Duplex | undefined;
    const requests = async function* (): AsyncGenerator<PushPathsRequest> {
      // The push is open (the agent is reading it) when its path through the relay goes away.
      stream?.destroy();
      await new Promise((r) => setTimeout(r, 300));
    };
    const e = await rawPush(
      rawEndpoint(async () => {
        stream = await dialDedicated(new RelayClient(relayEndpoint()), "rl-robot1");
        return stream;
      }),
      requests(),
      AbortSignal.timeout(10_000),
      { connectTimeoutMs: 3_000, answerTimeoutMs: 5_000 },
    ).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RawPushBroken);
  });

  it("a robot the relay does not have: refused within the connect timeout, saying it is not connected", async () => {
    const target = {
      ...relayTarget(pki, agent, relay.controllerPort),
      relay: { address: `127.0.0.1:${relay.controllerPort}`, name: "rl-nobody", caFile: pki.relayCa },
    };
    const started = Date.now();
    const e = await connect(target, 2_000).catch((x: unknown) => x);
    expect(Date.now() - started).toBeLessThan(2_500);
    expect(e).toBeInstanceOf(AgentCallError);
    expect((e as AgentCallError).message).toMatch(
      /rl-nobody is not connected to the relay at 127\.0\.0\.1:\d+; not seen since the relay started/,
    );
  });

  it("a controller certificate the relay accepts but the agent does not: refused by the agent", async () => {
    const target = relayTarget(pki, agent, relay.controllerPort, agent.pki.rogueCert, agent.pki.rogueKey);
    const before = relay.metrics.streamsTotal;
    const e = await connect(target, 2_000).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AgentCallError);
    expect((e as AgentCallError).message).toMatch(/cannot reach the agent/);
    // The relay did carry the stream: the refusal came from the agent's handshake, end to end.
    expect(relay.metrics.streamsTotal).toBeGreaterThan(before);
  });

  it("a robot certificate the relay does not accept: refused at the handshake and logged", async () => {
    const rogue = linkFor(pki, agent, relay.robotPort, pki.rogueRobot);
    rogue.start();
    try {
      await until(
        () => log.lines.some((l) => l.msg === "robot refused at the TLS handshake"),
        5_000,
        "the refusal",
      );
      expect(relay.registry.state("rl-robot1").connected).toBe(true);
      expect(rogue.current).not.toBe("connected");
    } finally {
      rogue.stop();
    }
  });

  it("garbage, a slow-loris and 200 half-open connections: the connected robot is still served", async () => {
    const sockets: Socket[] = [];
    for (let i = 0; i < 200; i++)
      sockets.push(
        createConnection({ host: "127.0.0.1", port: i % 2 ? relay.robotPort : relay.controllerPort }),
      );
    const garbage = createConnection({ host: "127.0.0.1", port: relay.controllerPort });
    garbage.write(Buffer.alloc(64 * 1024, 0x41));
    // On both ports: bytes that are neither TLS nor a header line; a header line that never ends;
    // one that is too long; one that starts and then stalls (a slow-loris of dedicated connections).
    const lines = [
      Buffer.alloc(64 * 1024, 0x41),
      Buffer.from(`{"ticket":"${"a".repeat(8 * 1024)}`),
      Buffer.from('{"tick'),
    ].flatMap((b) =>
      [relay.robotPort, relay.controllerPort].map((port) => {
        const s = createConnection({ host: "127.0.0.1", port });
        s.write(b);
        return s;
      }),
    );
    sockets.push(...lines);
    // A slow-loris: a TLS client that completes the handshake and then sends one header byte.
    const loris = tlsConnect({
      host: "127.0.0.1",
      port: relay.controllerPort,
      ca: agent.pki.caFile,
      rejectUnauthorized: false,
    });
    loris.on("secureConnect", () => loris.write(Buffer.from([0])));
    for (const s of [...sockets, garbage, loris]) s.on("error", () => undefined);
    try {
      const api = await connect(relayTarget(pki, agent, relay.controllerPort));
      try {
        expect((await api.getStatus(AbortSignal.timeout(5_000))).agentVersion).toBe("test");
      } finally {
        api.close();
      }
      // The handshake bound cuts them all.
      await until(
        () => sockets.every((s) => s.destroyed) && loris.destroyed,
        8_000,
        "the idle connections to be cut",
      );
    } finally {
      for (const s of [...sockets, garbage, loris]) s.destroy();
    }
  });
});
