import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { Registry } from "prom-client";
import { metricsHandler } from "./http.js";

/**
 * Serves the relay's scrape streams (dialOut): plain HTTP/1.1 inside the
 * robot→relay TLS connection, answering GET /metrics and nothing else. The
 * relay gets what Prometheus would, never the gRPC service: no certificate it
 * holds reaches the agent's listener. `registry` undefined (metrics off): 404.
 */
export function metricsStreamServer(
  registry: Registry | undefined,
  onError: (e: unknown) => void,
): { serve(stream: Duplex): void; close(): void } {
  const handler =
    registry === undefined
      ? (_req: IncomingMessage, res: ServerResponse) =>
          res.writeHead(404, { "content-type": "text/plain" }).end("metrics are off on this robot\n")
      : metricsHandler(registry, onError);
  const server = createServer(handler);
  // A relay that stalls a scrape holds one stream, not the agent.
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  server.on("clientError", (_e, socket: Duplex) => socket.destroy());
  return {
    serve: (stream) => server.emit("connection", stream),
    close: () => server.closeAllConnections(),
  };
}
