import { once } from "node:events";
import { createServer } from "node:http";
import type { RunningRelay } from "./server.js";

/** The relay's own metrics over plain HTTP at /metrics (bind it to loopback or a scrape network). */
export async function startMetricsServer(
  at: { host: string; port: number },
  relay: Pick<RunningRelay, "metrics">,
): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    if (req.method === "GET" && req.url === "/metrics") {
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(relay.metrics.text());
    } else res.writeHead(404).end();
  });
  server.listen(at.port, at.host);
  await once(server, "listening");
  const a = server.address();
  return {
    port: typeof a === "object" && a !== null ? a.port : at.port,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
