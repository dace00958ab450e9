import type { TLSSocket } from "node:tls";
import { encodeRelayFrame, RelayFrameReader, type RelayMessage } from "@ros-rollback/proto/relay";
import { bounded, type RelayLog } from "./log.js";
import type { RelayMetrics } from "./metrics.js";
import type { Registry, RobotLink } from "./registry.js";
import type { RelayTimings } from "./timings.js";

/**
 * A robot's control connection: registered under its certificate's name,
 * pinged every `pingMs`, ended when nothing arrived for `idleMs` (a half-open
 * TCP connection sends nothing, so it ends within idleMs).
 */
export function serveControl(
  socket: TLSSocket,
  name: string,
  deps: { registry: Registry; metrics: RelayMetrics; log: RelayLog; timings: RelayTimings },
): void {
  const { registry, metrics, log, timings } = deps;
  const send = (m: RelayMessage) => {
    if (!socket.destroyed) socket.write(encodeRelayFrame(m));
  };
  let closeReason = "connection closed";
  const link: RobotLink = {
    name,
    since: new Date(),
    // A controller's stream keeps the frame older agents know; a scrape names its kind.
    open: (id, kind) => send(kind === "grpc" ? { t: "open", id } : { t: "open", id, kind }),
    close: (reason) => {
      closeReason = reason;
      socket.destroy();
    },
  };
  const replaced = registry.attach(link);
  metrics.robotConnects++;
  metrics.connected = registry.size;
  if (replaced) {
    metrics.replaced++;
    log.warn(
      { robot: name, remote: socket.remoteAddress, since: replaced.since.toISOString() },
      "robot reconnected: the newer connection replaces the older",
    );
    replaced.close("replaced by a newer connection");
  }
  log.info({ robot: name, remote: socket.remoteAddress }, "robot connected");
  send({ t: "welcome", name });

  let lastHeard = Date.now();
  const ping = setInterval(
    () => {
      if (Date.now() - lastHeard > timings.idleMs) {
        link.close(`silent for ${timings.idleMs} ms`);
        return;
      }
      send({ t: "ping" });
    },
    Math.min(timings.pingMs, timings.idleMs / 2),
  );
  const reader = new RelayFrameReader();
  socket.on("data", (chunk: Buffer) => {
    lastHeard = Date.now();
    try {
      for (const m of reader.push(chunk)) if (m.t === "ping") send({ t: "pong" });
    } catch (e) {
      link.close(`bad frame: ${bounded((e as Error).message)}`);
    }
  });
  socket.resume();
  socket.once("close", () => {
    clearInterval(ping);
    registry.detach(link);
    metrics.connected = registry.size;
    log.info({ robot: name, reason: closeReason }, "robot disconnected");
  });
}
