import { connect as h2connect } from "node:http2";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import {
  H_DEDICATED,
  H_NAME,
  keepAlive,
  RELAY_H2_SETTINGS,
  RELAY_SESSION_WINDOW,
  type RelayStreamKind,
} from "@ros-rollback/proto/relay";
import type { RelayLog } from "./log.js";
import type { RelayMetrics } from "./metrics.js";
import type { Registry, RobotLink } from "./registry.js";
import type { RelayTimings } from "./timings.js";

/**
 * A robot's control connection: the robot dialled, but the relay is the
 * HTTP/2 client on it, so the relay opens a stream per controller connection
 * or scrape (no handshake per stream). Registered under the certificate's
 * name, welcomed with `POST /welcome`, kept alive by pings both ways, ended
 * when nothing arrived for `idleMs` (a half-open connection sends nothing).
 */
export function serveControl(
  socket: TLSSocket,
  name: string,
  deps: { registry: Registry; metrics: RelayMetrics; log: RelayLog; timings: RelayTimings },
): void {
  const { registry, metrics, log, timings } = deps;
  const session = h2connect(`http://${name}`, {
    createConnection: () => socket,
    settings: RELAY_H2_SETTINGS,
  });
  session.on("error", () => undefined); // the close handler cleans up
  session.once("connect", () => session.setLocalWindowSize(RELAY_SESSION_WINDOW));
  let closeReason = "connection closed";
  const link: RobotLink = {
    name,
    since: new Date(),
    open: (kind, timeoutMs) => openStream(kind, timeoutMs),
    askDedicated: (id) => {
      if (session.destroyed || session.closed) return; // the registry's timer answers the controller
      const ask = session.request({ ":method": "CONNECT", ":authority": "grpc", [H_DEDICATED]: id });
      ask.on("error", () => undefined);
      ask.once("response", () => ask.close());
    },
    close: (reason, graceful) => {
      closeReason = reason;
      // GOAWAY: no new stream, the open ones finish (a dead connection's keepalive still ends it).
      if (graceful === true && !session.destroyed) session.close(() => socket.destroy());
      else socket.destroy();
    },
  };

  function openStream(kind: RelayStreamKind, timeoutMs: number): Promise<Duplex> {
    return new Promise<Duplex>((resolve, reject) => {
      if (session.destroyed || session.closed) {
        reject(new Error(`${name}'s connection is closing`));
        return;
      }
      const stream = session.request({ ":method": "CONNECT", ":authority": kind });
      const timer = setTimeout(() => {
        stream.close();
        reject(new Error(`${name} did not open a stream within ${timeoutMs} ms`));
      }, timeoutMs);
      stream.once("response", (headers) => {
        clearTimeout(timer);
        if (headers[":status"] === 200) resolve(stream);
        else {
          stream.close();
          reject(new Error(`${name} refused the stream (${String(headers[":status"]).slice(0, 5)})`));
        }
      });
      stream.once("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
      stream.once("close", () => {
        clearTimeout(timer);
        reject(new Error(`${name}'s stream closed before it was answered`));
      });
    });
  }

  const replaced = registry.attach(link);
  metrics.robotConnects++;
  metrics.connected = registry.size;
  if (replaced) {
    metrics.replaced++;
    log.warn(
      { robot: name, remote: socket.remoteAddress, since: replaced.since.toISOString() },
      "robot reconnected: the newer connection replaces the older",
    );
    replaced.close("replaced by a newer connection", true);
  }
  const serial = socket.getPeerX509Certificate()?.serialNumber;
  log.info({ robot: name, remote: socket.remoteAddress, serial }, "robot connected");
  const welcome = session.request({ ":method": "POST", ":path": "/welcome", [H_NAME]: name });
  welcome.on("error", () => undefined);
  welcome.resume();
  welcome.end();

  const stopKeepAlive = keepAlive(session, socket, timings, (why) => link.close(why));
  socket.once("close", () => {
    stopKeepAlive();
    session.destroy();
    registry.detach(link);
    metrics.connected = registry.size;
    log.info({ robot: name, reason: closeReason }, "robot disconnected");
  });
}
