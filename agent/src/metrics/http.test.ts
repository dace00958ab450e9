import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeTestPki } from "@ros-rollback/proto/testing";
import { afterAll, describe, expect, it } from "vitest";
import { healthObserver } from "./deployments.js";
import { type MetricsServer, splitHostPort, startMetricsServer } from "./http.js";
import { pushObserver } from "./push.js";
import { createAgentMetrics } from "./registry.js";

const servers: MetricsServer[] = [];
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A registry with every kind of series the agent has: process metrics, labels, histograms. */
function busyMetrics() {
  const m = createAgentMetrics({ version: "1.2.3" });
  healthObserver(m)({
    healthy: false,
    reason: "x",
    phase: "checking",
    at: Date.now(),
    stableForSeconds: 0,
    checks: [
      { id: "topic:/chatter", kind: "topic", healthy: false, reason: 'silent "for" 3\\s', durationMs: 12 },
    ],
  });
  const push = pushObserver(m);
  push.wireBytes?.(100);
  push.pathRefused?.("/nix/store/x", "untrusted");
  m.activationSeconds.observe({ kind: "activate" }, 3.2);
  m.topicRate.set({ topic: "/chatter" }, 10);
  return m;
}

describe("/metrics over real HTTP", () => {
  it("serves the registry in Prometheus' text format, and promtool check metrics accepts it", async () => {
    const m = busyMetrics();
    const server = await startMetricsServer({ listen: "127.0.0.1:0" }, m.registry);
    servers.push(server);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/metrics`);
    const res = await fetch(server.url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).toContain('ros_rollback_agent_info{version="1.2.3"} 1');
    expect(text).toContain("process_cpu_seconds_total");
    expect(text).toContain("grpc_server_handled_total");
    const check = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
    expect(check.error).toBeUndefined();
    expect(check.status, `${check.stdout}${check.stderr}`).toBe(0);
    expect(`${check.stdout}${check.stderr}`.trim()).toBe("");
  });

  it("answers 404 beside /metrics and 405 to other methods", async () => {
    const server = await startMetricsServer(
      { listen: "127.0.0.1:0" },
      createAgentMetrics({ version: "0" }).registry,
    );
    servers.push(server);
    expect((await fetch(`http://127.0.0.1:${server.port}/`)).status).toBe(404);
    expect((await fetch(server.url, { method: "POST" })).status).toBe(405);
    expect((await fetch(`${server.url}?x=1`)).status).toBe(200);
  });

  it("refuses a port that is taken, naming the address", async () => {
    const first = await startMetricsServer(
      { listen: "127.0.0.1:0" },
      createAgentMetrics({ version: "0" }).registry,
    );
    servers.push(first);
    await expect(
      startMetricsServer(
        { listen: `127.0.0.1:${first.port}` },
        createAgentMetrics({ version: "0" }).registry,
      ),
    ).rejects.toThrow(`cannot serve metrics on 127.0.0.1:${first.port}`);
  });

  it("serves HTTPS and, with a CA, only to scrapers with a client certificate", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rr-metrics-tls-"));
    dirs.push(dir);
    const pki = makeTestPki(dir);
    const server = await startMetricsServer(
      {
        listen: "127.0.0.1:0",
        tls: { certFile: pki.serverCert, keyFile: pki.serverKey, caFile: pki.caFile },
      },
      createAgentMetrics({ version: "0" }).registry,
    );
    servers.push(server);
    expect(server.url.startsWith("https://127.0.0.1:")).toBe(true);
    const get = (withCert: boolean) =>
      new Promise<number>((resolve, reject) => {
        const req = request(
          server.url,
          {
            ca: readFileSync(pki.caFile),
            ...(withCert ? { cert: readFileSync(pki.clientCert), key: readFileSync(pki.clientKey) } : {}),
            // The test certificate names the agent, not 127.0.0.1.
            checkServerIdentity: () => undefined,
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on("error", reject);
        req.end();
      });
    expect(await get(true)).toBe(200);
    await expect(get(false)).rejects.toThrow();
  });

  it("parses host:port, IPv6 in brackets", () => {
    expect(splitHostPort("[::1]:9464")).toEqual({ host: "::1", port: 9464 });
    expect(splitHostPort("10.0.0.2:0")).toEqual({ host: "10.0.0.2", port: 0 });
    expect(() => splitHostPort("9464")).toThrow(/expected host:port/);
  });
});
