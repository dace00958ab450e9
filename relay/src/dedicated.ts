import type { TLSSocket } from "node:tls";
import { encodeHeaderLine, RELAY_NAME, readHeaderLine, type StreamHeader } from "@ros-rollback/proto/relay";
import { bounded } from "./log.js";
import type { RelayMetrics } from "./metrics.js";
import { NotConnected, notConnectedMessage, type Registry } from "./registry.js";
import { splice } from "./splice.js";
import type { RelayTimings } from "./timings.js";

/**
 * A controller's dedicated stream (a push): its header line names the robot;
 * the relay asks the robot for a dedicated connection and joins the two TLS
 * sockets, answering `{ok}` first, or a refusal line and the end.
 */
export function serveDedicated(
  socket: TLSSocket,
  deps: { registry: Registry; metrics: RelayMetrics; timings: RelayTimings },
): void {
  const { registry, metrics, timings: t } = deps;
  const refuse = (h: StreamHeader, reason: "bad_request" | "not_connected" | "no_stream") => {
    metrics.refuse(reason);
    socket.end(encodeHeaderLine(h));
  };
  readHeaderLine(socket, t.handshakeMs).then(
    (h) => {
      const robot = h.robot;
      if (typeof robot !== "string" || !RELAY_NAME.test(robot)) {
        refuse({ code: "BAD_REQUEST", message: "a dedicated stream's header names a robot" }, "bad_request");
        return;
      }
      registry.openDedicated(robot, t.streamOpenMs).then(
        (toRobot) => {
          if (socket.destroyed) {
            toRobot.destroy();
            return;
          }
          metrics.streamsOpen++;
          metrics.streamsTotal++;
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
          if (e instanceof NotConnected) {
            const { lastSeen } = e.state;
            refuse(
              {
                code: "NOT_CONNECTED",
                message: notConnectedMessage(e.state),
                ...(lastSeen ? { lastSeen } : {}),
              },
              "not_connected",
            );
          } else refuse({ code: "NO_STREAM", message: bounded((e as Error).message) }, "no_stream");
        },
      );
    },
    () => {
      metrics.refuse("bad_request");
      socket.destroy();
    },
  );
}
