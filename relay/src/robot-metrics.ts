import { type IncomingMessage, request, type ServerResponse } from "node:http";
import { RELAY_NAME } from "@ros-rollback/proto/relay";
import type { RelayMetrics } from "./metrics.js";
import { NotConnected, notConnectedMessage, type Registry } from "./registry.js";

const PATH = /^\/robots\/([^/?]{1,200})\/metrics(?:\?.*)?$/;

/** Bounds a scrape end to end: Prometheus' default scrape timeout. */
const SCRAPE_MS = 10_000;

/** `/robots/NAME/metrics` → NAME (undefined: not this route; "" : not a robot name). */
export function robotOfPath(url: string): string | undefined {
  const m = PATH.exec(url);
  if (m === null) return undefined;
  const name = m[1] ?? "";
  return RELAY_NAME.test(name) ? name : "";
}

/**
 * GET /robots/NAME/metrics: a "metrics" stream through NAME's tunnel, on
 * which the agent answers GET /metrics and nothing else. Never seen since this
 * relay started (or not a name): 404; seen but gone: 503 with when; the
 * robot failing to answer: 502/504.
 */
export function proxyRobotMetrics(
  name: string,
  req: IncomingMessage,
  res: ServerResponse,
  deps: { registry: Registry; metrics: RelayMetrics; streamOpenMs: number },
): void {
  const reply = (code: number, text: string) => {
    deps.metrics.scraped(code);
    if (!res.headersSent) res.writeHead(code, { "content-type": "text/plain" });
    res.end(`${text}\n`);
  };
  if (name === "") {
    reply(404, "not a robot name");
    return;
  }
  const state = deps.registry.state(name);
  if (!state.connected && state.lastSeen === undefined) {
    reply(404, `${name} is not known to this relay (not seen since it started)`);
    return;
  }
  const started = Date.now();
  deps.registry.openStream(name, Math.min(deps.streamOpenMs, SCRAPE_MS), "metrics").then(
    (stream) => {
      if (res.destroyed) {
        stream.destroy();
        return;
      }
      const accept = req.headers.accept;
      const upstream = request(
        {
          // readRelayHeader left it paused; nothing arrives before the request is written.
          createConnection: () => stream.resume(),
          method: "GET",
          path: "/metrics",
          headers: { host: name, connection: "close", ...(accept ? { accept } : {}) },
          timeout: Math.max(1, SCRAPE_MS - (Date.now() - started)),
        },
        (r) => {
          deps.metrics.scraped(r.statusCode ?? 502);
          res.writeHead(r.statusCode ?? 502, {
            "content-type": r.headers["content-type"] ?? "text/plain",
          });
          r.pipe(res);
          r.on("error", () => res.destroy());
        },
      );
      upstream.on("timeout", () => upstream.destroy(new Error("timeout")));
      upstream.on("error", (e) => {
        if (res.headersSent) res.destroy();
        else reply(e.message === "timeout" ? 504 : 502, `${name} did not answer the scrape`);
      });
      res.on("close", () => stream.destroy());
      upstream.end();
    },
    (e: unknown) => {
      if (e instanceof NotConnected) reply(503, notConnectedMessage(e.state));
      else reply(504, `${name} did not open a metrics stream in time`);
    },
  );
}
