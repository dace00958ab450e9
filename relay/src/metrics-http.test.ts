import { describe, expect, it } from "vitest";
import { RelayMetrics } from "./metrics.js";
import { startMetricsServer } from "./metrics-http.js";
import { Registry } from "./registry.js";

describe("the relay's /metrics", () => {
  it("serves its counters in Prometheus text format over real HTTP; anything else is 404", async () => {
    const metrics = new RelayMetrics();
    metrics.connected = 3;
    metrics.refuse("robot_tls");
    metrics.refuse("robot_tls");
    const server = await startMetricsServer(
      { host: "127.0.0.1", port: 0 },
      { metrics, registry: new Registry(), streamOpenMs: 1_000 },
    );
    try {
      const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
      expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0.0.4/);
      const text = await res.text();
      expect(text).toMatch(/^ros_rollback_relay_robots_connected 3$/m);
      expect(text).toMatch(/^ros_rollback_relay_refusals_total\{reason="robot_tls"\} 2$/m);
      expect((await fetch(`http://127.0.0.1:${server.port}/robots/x/metrics`)).status).toBe(404);
    } finally {
      await server.close();
    }
  });
});
