import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ActivationAction, type DeploymentEvent, DeploymentState } from "@ros-rollback/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SELF_CONFIRM, useDeployingServer } from "../../agent/src/testing/deploying-server.js";
import { AgentCallError } from "../../controller/src/agent-api/errors.js";
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

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "rl-faults-"));
  pki = makeRelayPki(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("relay faults", () => {
  it("a restarted relay: the robot reconnects within its back-off bound and is served again", async () => {
    const log = memoryLog();
    const first = await relayFor(pki, [agent.pki.caFile], log);
    const ports = { robot: first.robotPort, controller: first.controllerPort };
    const link = linkFor(pki, agent, ports.robot, pki.robot, { minMs: 100, maxMs: 800 });
    link.start();
    try {
      await until(() => link.current === "connected", 5_000, "the first connection");
      await first.close();
      await until(() => link.current !== "connected", 3_000, "the link to notice");
      // Down for a while: several failed attempts, so the back-off reaches its ceiling.
      await new Promise((r) => setTimeout(r, 2_000));
      const second = await relayFor(pki, [agent.pki.caFile], log, ports);
      const back = Date.now();
      try {
        await until(() => link.current === "connected", 5_000, "the reconnect");
        // Within the ceiling (800 ms) and a handshake.
        expect(Date.now() - back).toBeLessThan(800 + 700);
        const api = await connect(relayTarget(pki, agent, ports.controller));
        try {
          expect((await api.getStatus(AbortSignal.timeout(5_000))).agentVersion).toBe("test");
        } finally {
          api.close();
        }
      } finally {
        await second.close();
      }
    } finally {
      link.stop();
    }
  });

  it("two connections with one name: the newer wins, the older is closed and it is logged", async () => {
    const log = memoryLog();
    const relay = await relayFor(pki, [agent.pki.caFile], log);
    const older = linkFor(pki, agent, relay.robotPort, pki.robot, { minMs: 5_000, maxMs: 5_000 });
    older.start();
    try {
      await until(() => older.current === "connected", 5_000, "the older connection");
      const firstSince = relay.registry.state("rl-robot1").since;
      const newer = linkFor(pki, agent, relay.robotPort, pki.robot, { minMs: 5_000, maxMs: 5_000 });
      newer.start();
      await until(() => newer.current === "connected", 3_000, "the newer connection's welcome");
      await until(() => older.current !== "connected", 3_000, "the older connection to be closed");
      expect(relay.registry.state("rl-robot1")).toMatchObject({ connected: true });
      expect(relay.registry.state("rl-robot1").since).not.toBe(firstSince);
      expect(relay.metrics.replaced).toBe(1);
      expect(log.lines.map((l) => l.msg)).toContain(
        "robot reconnected: the newer connection replaces the older",
      );
      newer.stop();
    } finally {
      older.stop();
      await relay.close();
    }
  });

  it("a relay that goes silent (half-open): the robot's link notices within its idle bound and redials", async () => {
    // Between the robot and the relay, a path that can stop carrying bytes without closing: a dead NAT mapping.
    const relay = await relayFor(pki, [agent.pki.caFile], memoryLog());
    const path = await tcpPath(relay.robotPort);
    const link = linkFor(pki, agent, path.port, pki.robot, { minMs: 100, maxMs: 200 });
    link.start();
    try {
      await until(() => link.current === "connected", 3_000, "the welcome");
      path.freeze();
      const frozen = Date.now();
      await until(() => link.current !== "connected", 5_000, "the link to give up on the silent relay");
      // Its idle bound (1.5 s): silence, not a close, ended it.
      expect(Date.now() - frozen).toBeGreaterThanOrEqual(1_400);
      await until(() => path.accepted() >= 2, 3_000, "a new attempt");
    } finally {
      link.stop();
      path.close();
      await relay.close();
    }
  });

  it("a robot that speaks another relay protocol is refused at the relay, and it is logged", async () => {
    const log = memoryLog();
    const relay = await relayFor(pki, [agent.pki.caFile], log);
    try {
      // An agent offering another version fails the handshake; one offering none is refused after it.
      for (const ALPNProtocols of [["ros-rollback-relay/1"], undefined]) {
        const old = rawRobotConnection(pki, relay.robotPort, ALPNProtocols);
        await new Promise((r) => old.once("close", r));
      }
      expect(relay.registry.state("rl-robot1").connected).toBe(false);
      expect(relay.metrics.refusals.get("robot_tls")).toBe(1);
      expect(relay.metrics.refusals.get("bad_protocol")).toBe(1);
      expect(log.lines.map((l) => l.msg)).toContain(
        "robot refused: it does not speak ros-rollback-relay/2 (an agent of another version?)",
      );
      expect(log.lines.find((l) => l.msg === "robot refused at the TLS handshake")?.fields.err).toMatch(
        /application protocol/,
      );
    } finally {
      await relay.close();
    }
  });

  it("the relay restarts while a deployment runs: the controller's stream fails cleanly, the robot keeps the deployment, a new connection finds it", async () => {
    const log = memoryLog();
    const first = await relayFor(pki, [agent.pki.caFile], log);
    const ports = { robot: first.robotPort, controller: first.controllerPort };
    const link = linkFor(pki, agent, ports.robot, pki.robot, { minMs: 100, maxMs: 500 });
    link.start();
    try {
      await until(() => link.current === "connected", 5_000, "the link");
      const api = await connect(relayTarget(pki, agent, ports.controller));
      const seen: DeploymentEvent[] = [];
      const stream = (async () => {
        for await (const e of api.activate(
          {
            storePath: agent.slowPath,
            action: ActivationAction.ACTIVATION_ACTION_SWITCH,
            options: SELF_CONFIRM,
            overrideHolds: [],
          },
          AbortSignal.timeout(30_000),
        ))
          seen.push(e);
      })();
      const outcome = stream.then(
        () => "ended",
        (e: unknown) => e,
      );
      await until(
        () => seen.some((e) => e.state === DeploymentState.DEPLOYMENT_STATE_ACTIVATING),
        10_000,
        "activating",
      );
      const id = seen[0]?.deploymentId;
      await first.close();
      // Not a hang: the cut tunnel is a cut connection for gRPC.
      const err = await outcome;
      api.close();
      expect(err).toBeInstanceOf(AgentCallError);
      expect((err as AgentCallError).statusName).toBe("UNAVAILABLE");
      const second = await relayFor(pki, [agent.pki.caFile], log, ports);
      try {
        await until(() => link.current === "connected", 5_000, "the reconnect");
        const again = await connect(relayTarget(pki, agent, ports.controller));
        try {
          const status = await again.getStatus(AbortSignal.timeout(5_000));
          expect(status.deployment?.id).toBe(id);
        } finally {
          again.close();
        }
      } finally {
        await second.close();
      }
    } finally {
      link.stop();
    }
  });
});
