// Prometheus through the relay: a real Prometheus, with observability/'s relay scrape example,
// scrapes a real relay's /robots/NAME/metrics, which fetches a real agent's metrics registry
// through the robot's tunnel (agent/src/metrics/relay-stream.ts); every hop on loopback.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { issueCert } from "@ros-rollback/proto/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RelayLink } from "../../agent/src/dial-out/relay-link.js";
import { createAgentMetrics } from "../../agent/src/metrics/registry.js";
import { metricsStreamServer } from "../../agent/src/metrics/relay-stream.js";
import { useDeployingServer } from "../../agent/src/testing/deploying-server.js";
import type { RunningRelay } from "../../relay/src/index.js";
import { startMetricsServer } from "../../relay/src/metrics-http.js";
import { type RunningPrometheus, startPrometheus } from "../support/prometheus.js";
import { linkFor, makeRelayPki, memoryLog, type RelayPki, relayFor, until } from "./rig.js";

const EXAMPLE = fileURLToPath(
  new URL("../../observability/prometheus/relay-scrape.example.yml", import.meta.url),
);
const agent = useDeployingServer();
const agentMetrics = createAgentMetrics({ version: "relayed-1", defaultMetrics: false });
const scrapes = metricsStreamServer(agentMetrics.registry, () => undefined);
let dir: string;
let pki: RelayPki;
let relay: RunningRelay;
let http: { port: number; close(): Promise<void> };
let link: RelayLink;
let base = "";

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rl-metrics-"));
  pki = makeRelayPki(dir);
  relay = await relayFor(pki, [agent.pki.caFile], memoryLog());
  http = await startMetricsServer({ host: "127.0.0.1", port: 0 }, relay);
  base = `http://127.0.0.1:${http.port}`;
  link = linkFor(pki, agent, relay.robotPort, pki.robot, undefined, scrapes.serve);
  link.start();
  await until(() => link.current === "connected", 5_000, "the robot's link");
});

afterAll(async () => {
  link.stop();
  scrapes.close();
  await http.close();
  await relay.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("robots' metrics through the relay", () => {
  it("a real Prometheus scrapes the agent through the relay with the shipped example config", async () => {
    const relayAddress = `127.0.0.1:${http.port}`;
    // The example, pointed at this relay: robot1 → rl-robot1 (connected), robot2 → rl-ghost
    // (never connected), robot3 (direct) dropped; 1 s scrapes.
    const example = readFileSync(EXAMPLE, "utf8")
      .replaceAll("relay.example.org:9465", relayAddress)
      .replace("robot: robot1", "robot: rl-robot1")
      .replace("robot: robot2", "robot: rl-ghost")
      .replace(/ {6}# A robot Prometheus reaches itself.*\n.*\n/, "");
    expect(example).not.toContain("robot3");
    let prometheus: RunningPrometheus | undefined;
    try {
      prometheus = await startPrometheus(
        `global: { scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s }\n${example}`,
      );
      const p = prometheus;
      const values = async (q: string) => (await p.query(q)).map((s) => [s.metric.instance, s.value[1]]);
      const want = [
        [
          'up{job="ros-rollback-agent"}',
          [
            ["rl-ghost", "0"],
            ["rl-robot1", "1"],
          ],
        ],
        ['ros_rollback_agent_info{version="relayed-1"}', [["rl-robot1", "1"]]],
        ['up{job="ros-rollback-relay"}', [[relayAddress, "1"]]],
        ["ros_rollback_relay_robots_connected", [[relayAddress, "1"]]],
      ] as const;
      const end = Date.now() + 20_000;
      for (const [q, expected] of want) {
        let got: (string | undefined)[][] = [];
        for (;;) {
          got = (await values(q)).sort((a, b) => String(a[0]).localeCompare(String(b[0])));
          if (JSON.stringify(got) === JSON.stringify(expected) || Date.now() > end) break;
          await new Promise((r) => setTimeout(r, 250));
        }
        expect(got, q).toEqual(expected);
      }
    } finally {
      await prometheus?.stop();
    }
  }, 60_000);

  it("the agent's Prometheus text, by GET; unknown robot 404, bad name 404 without echo, gone robot 503 with when", async () => {
    const ok = await fetch(`${base}/robots/rl-robot1/metrics`);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('ros_rollback_agent_info{version="relayed-1"} 1');

    const ghost = await fetch(`${base}/robots/rl-ghost/metrics`);
    expect(ghost.status).toBe(404);
    expect(await ghost.text()).toBe("rl-ghost is not known to this relay (not seen since it started)\n");

    const garbage = await fetch(`${base}/robots/${"%3Cscript%3E".repeat(10)}/metrics`);
    expect(garbage.status).toBe(404);
    expect(await garbage.text()).toBe("not a robot name\n");

    // A second robot that connects, then goes away: 503, and when it was last seen.
    const robot2 = issueCert(dir, "robot2", "relay-ca", "extendedKeyUsage=clientAuth\n", "/CN=rl-robot2");
    const link2 = linkFor(pki, agent, relay.robotPort, robot2, undefined, scrapes.serve);
    link2.start();
    await until(() => link2.current === "connected", 5_000, "the second robot");
    link2.stop();
    await until(() => !relay.registry.state("rl-robot2").connected, 5_000, "the relay to see it leave");
    const gone = await fetch(`${base}/robots/rl-robot2/metrics`);
    expect(gone.status).toBe(503);
    expect(await gone.text()).toMatch(/^rl-robot2 is not connected to the relay \(last seen \d{4}-.*Z\)\n$/);

    const own = await (await fetch(`${base}/metrics`)).text();
    expect(own).toMatch(/ros_rollback_relay_robot_scrapes_total\{code="200"\} [1-9]/);
    expect(own).toMatch(/ros_rollback_relay_robot_scrapes_total\{code="503"\} 1/);
  });

  it("a scrape stream serves GET /metrics only: the relay cannot reach the gRPC service through it", async () => {
    // What the relay could send down a metrics stream instead of its GET: a gRPC Deploy (HTTP/2),
    // a POST, another path. The agent answers none of them as gRPC.
    const stream = () => relay.registry.openStream("rl-robot1", 2_000, "metrics");
    const exchange = async (bytes: Buffer | string) => {
      const s = await stream();
      let got = "";
      s.on("data", (b: Buffer) => {
        got += b.toString("latin1");
      });
      s.resume(); // the relay's header reader leaves a stream paused
      s.write(bytes);
      await new Promise<void>((resolve) => {
        s.once("close", () => resolve());
        setTimeout(() => {
          s.destroy();
          resolve();
        }, 3_000);
      });
      return got;
    };
    const h2 = Buffer.concat([
      Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
      // An empty SETTINGS frame, as a gRPC client sends next.
      Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),
    ]);
    const viaH2 = await exchange(h2);
    expect(viaH2).not.toMatch(/grpc-status|application\/grpc/);
    expect(viaH2).not.toContain("ros_rollback_");
    const post = await exchange(
      "POST /ros_rollback.v1.Agent/Deploy HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
    );
    expect(post).toMatch(/^HTTP\/1\.1 404 /);
    const head = await exchange("GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    expect(head).toMatch(/^HTTP\/1\.1 200 /);
  });
});
