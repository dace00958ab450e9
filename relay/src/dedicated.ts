import type { Socket } from "node:net";
import { encodeHeaderLine, readHeaderLine, type StreamHeader, TICKET } from "@ros-rollback/proto/relay";
import { bounded, type RelayLog } from "./log.js";
import type { RelayMetrics } from "./metrics.js";
import { type Registry, UnknownTicket } from "./registry.js";
import { splice } from "./splice.js";
import type { RelayTimings } from "./timings.js";

interface Deps {
  readonly registry: Registry;
  readonly log: RelayLog;
  readonly metrics: RelayMetrics;
  readonly timings: RelayTimings;
}

/**
 * A controller's dedicated connection (a push): plain TCP whose first line
 * holds the ticket `POST /dedicated` gave it. Joined to the robot's own once
 * that arrives, answering `{ok}` first, or a refusal line and the end.
 */
export function serveDedicated(socket: Socket, deps: Deps): void {
  const { registry, metrics, timings: t } = deps;
  const refuse = (h: StreamHeader, reason: "bad_request" | "no_stream") => {
    metrics.refuse(reason);
    socket.end(encodeHeaderLine(h));
  };
  readHeaderLine(socket, t.handshakeMs).then(
    (h) => {
      if (typeof h.ticket !== "string" || !TICKET.test(h.ticket)) {
        refuse(
          { code: "BAD_REQUEST", message: "a dedicated connection's first line holds a ticket" },
          "bad_request",
        );
        return;
      }
      registry.claim(h.ticket).then(
        (toRobot) => {
          if (socket.destroyed) {
            toRobot.destroy();
            return;
          }
          metrics.streamsOpen++;
          metrics.streamsTotal++;
          socket.setNoDelay(true);
          socket.write(encodeHeaderLine({ ok: true }));
          splice(
            socket,
            toRobot,
            {
              toRobot: (n) => (metrics.bytesToRobots += n),
              fromRobot: (n) => (metrics.bytesFromRobots += n),
            },
            () => metrics.streamsOpen--,
          );
        },
        (e: unknown) => {
          if (e instanceof UnknownTicket) {
            refuse({ code: "BAD_REQUEST", message: e.message }, "bad_request");
            return;
          }
          const message = bounded((e as Error).message);
          // The controller falls back to a shared stream; a robot that never makes its half may sit
          // behind an egress firewall that passes TLS only.
          deps.log.warn({ err: message }, "no dedicated connection: the robot's half did not come");
          refuse({ code: "NO_STREAM", message }, "no_stream");
        },
      );
    },
    () => {
      metrics.refuse("bad_request");
      socket.destroy();
    },
  );
}

/** A robot's dedicated connection: its first line holds the ticket the relay sent it; any other is cut. */
export function acceptDedicated(socket: Socket, deps: Deps): void {
  const { registry, metrics, timings: t } = deps;
  const cut = () => {
    metrics.refuse("bad_request");
    socket.destroy();
  };
  readHeaderLine(socket, t.handshakeMs).then((h) => {
    if (typeof h.ticket === "string" && TICKET.test(h.ticket) && registry.accept(h.ticket, socket)) {
      socket.setNoDelay(true);
    } else cut();
  }, cut);
}
