import { once } from "node:events";
import { createServer } from "node:http";
import { proxyRobotMetrics, robotOfPath } from "./robot-metrics.js";
import type { RunningRelay } from "./server.js";

/**
 * Plain HTTP (bind it to loopback or a scrape network): the relay's own
 * metrics at /metrics, each connected robot's at /robots/NAME/metrics.
 */
export async function startMetricsServer(
  at: { host: string; port: number },
  relay: Pick<RunningRelay, "metrics" | "registry" | "streamOpenMs">,
): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const url = req.url ?? "/";
    const robot = robotOfPath(url);
    if (req.method !== "GET") res.writeHead(405, { allow: "GET" }).end();
    else if (url === "/metrics")
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(relay.metrics.text());
    else if (robot !== undefined)
      proxyRobotMetrics(robot, req, res, {
        registry: relay.registry,
        metrics: relay.metrics,
        streamOpenMs: relay.streamOpenMs,
      });
    else
      res
        .writeHead(404, { "content-type": "text/plain" })
        .end("not found: /metrics or /robots/NAME/metrics\n");
  });
  server.listen(at.port, at.host);
  await once(server, "listening");
  const a = server.address();
  return {
    port: typeof a === "object" && a !== null ? a.port : at.port,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
