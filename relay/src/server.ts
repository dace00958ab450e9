import { once } from "node:events";
import { createServer, type TLSSocket, type Server as TlsServer } from "node:tls";
import {
  encodeRelayFrame,
  MAX_QUERY_ROBOTS,
  RELAY_NAME,
  type RelayMessage,
  readRelayHeader,
} from "@ros-rollback/proto/relay";
import { bounded, type RelayLog } from "./log.js";
import { RelayMetrics } from "./metrics.js";
import { peerName } from "./peer-name.js";
import { NotConnected, notConnectedMessage, Registry } from "./registry.js";
import { serveControl } from "./robot-control.js";
import { splice } from "./splice.js";
import { DEFAULT_TIMINGS, type RelayTimings } from "./timings.js";

export interface RelayTls {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** Robots' client certificates must chain to this CA. */
  readonly robotCa: Buffer;
  /** Controllers' client certificates must chain to this CA. */
  readonly controllerCa: Buffer;
}

export interface RelayOptions {
  readonly robotListen: { readonly host: string; readonly port: number };
  readonly controllerListen: { readonly host: string; readonly port: number };
  readonly tls: RelayTls;
  readonly log: RelayLog;
  readonly timings?: Partial<RelayTimings>;
}

export interface RunningRelay {
  readonly robotPort: number;
  readonly controllerPort: number;
  readonly registry: Registry;
  readonly metrics: RelayMetrics;
  /** How long a robot has to open a stream the relay asked for. */
  readonly streamOpenMs: number;
  close(): Promise<void>;
}

export async function startRelay(opts: RelayOptions): Promise<RunningRelay> {
  const t: RelayTimings = { ...DEFAULT_TIMINGS, ...opts.timings };
  const { log } = opts;
  const registry = new Registry();
  const metrics = new RelayMetrics();
  const sockets = new Set<TLSSocket>();
  const track = (s: TLSSocket) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
    s.on("error", () => undefined); // a peer's reset is its own; the close handler cleans up
  };
  const base = { cert: opts.tls.cert, key: opts.tls.key, requestCert: true, rejectUnauthorized: true };

  const robots = createServer(
    { ...base, ca: opts.tls.robotCa, handshakeTimeout: t.handshakeMs },
    (socket) => {
      track(socket);
      const name = peerName(socket);
      if (name === undefined) {
        metrics.refuse("bad_name");
        log.warn(
          { remote: socket.remoteAddress },
          "robot refused: its certificate's CN is not a routable name",
        );
        socket.destroy();
        return;
      }
      readRelayHeader(socket, t.handshakeMs).then(
        (msg) => {
          if (msg.t === "hello") serveControl(socket, name, { registry, metrics, log, timings: t });
          else if (msg.t === "accept" && typeof msg.id === "string" && registry.accept(name, msg.id, socket))
            return;
          else {
            metrics.refuse("bad_header");
            socket.destroy();
          }
        },
        () => {
          metrics.refuse("bad_header");
          socket.destroy();
        },
      );
    },
  );
  robots.on("tlsClientError", (e, socket) => {
    metrics.refuse("robot_tls");
    log.warn({ remote: socket.remoteAddress, err: bounded(e.message) }, "robot refused at the TLS handshake");
    socket.destroy(); // a listener on tlsClientError means Node leaves the socket to us
  });

  const controllers = createServer(
    { ...base, ca: opts.tls.controllerCa, handshakeTimeout: t.handshakeMs },
    (socket) => {
      track(socket);
      readRelayHeader(socket, t.handshakeMs).then(
        (msg) => serveController(socket, msg),
        () => {
          metrics.refuse("bad_header");
          socket.destroy();
        },
      );
    },
  );
  controllers.on("tlsClientError", (e, socket) => {
    metrics.refuse("controller_tls");
    log.warn(
      { remote: socket.remoteAddress, err: bounded(e.message) },
      "controller refused at the TLS handshake",
    );
    socket.destroy();
  });

  // A frame that cannot be encoded is the relay's bug, never a reason to stop serving everyone.
  const reply = (socket: TLSSocket, msg: RelayMessage) => {
    try {
      socket.end(encodeRelayFrame(msg));
    } catch (e) {
      log.warn({ err: bounded((e as Error).message) }, "cannot encode an answer");
      socket.destroy();
    }
  };

  function serveController(socket: TLSSocket, msg: RelayMessage): void {
    if (msg.t === "query") {
      const asked = Array.isArray(msg.robots) ? msg.robots : registry.names();
      if (asked.length > MAX_QUERY_ROBOTS) {
        metrics.refuse("bad_header");
        reply(socket, {
          t: "refused",
          code: "BAD_REQUEST",
          message: `a query names at most ${MAX_QUERY_ROBOTS} robots (this one ${asked.length}); ask in several`,
        });
        return;
      }
      const names = asked.filter((n): n is string => typeof n === "string" && RELAY_NAME.test(n));
      reply(socket, { t: "robots", robots: names.map((n) => registry.state(n)) });
      return;
    }
    if (msg.t !== "dial" || typeof msg.robot !== "string" || !RELAY_NAME.test(msg.robot)) {
      metrics.refuse("bad_header");
      reply(socket, {
        t: "refused",
        code: "BAD_REQUEST",
        message: "expected a dial or query frame naming a robot",
      });
      return;
    }
    const robot = msg.robot;
    registry.openStream(robot, t.streamOpenMs).then(
      (stream) => {
        if (socket.destroyed) {
          stream.destroy();
          return;
        }
        metrics.streamsOpen++;
        metrics.streamsTotal++;
        socket.write(encodeRelayFrame({ t: "ok" }));
        splice(
          socket,
          stream,
          { toRobot: (n) => (metrics.bytesToRobots += n), fromRobot: (n) => (metrics.bytesFromRobots += n) },
          () => metrics.streamsOpen--,
        );
      },
      (e: unknown) => {
        if (e instanceof NotConnected) {
          metrics.refuse("not_connected");
          const { lastSeen } = e.state;
          reply(socket, {
            t: "refused",
            code: "NOT_CONNECTED",
            message: notConnectedMessage(e.state),
            ...(lastSeen ? { lastSeen } : {}),
          });
        } else {
          metrics.refuse("no_stream");
          reply(socket, { t: "refused", code: "NO_STREAM", message: bounded((e as Error).message) });
        }
      },
    );
  }

  const listen = async (server: TlsServer, at: { host: string; port: number }) => {
    server.listen(at.port, at.host);
    await once(server, "listening");
    const a = server.address();
    return typeof a === "object" && a !== null ? a.port : at.port;
  };
  const robotPort = await listen(robots, opts.robotListen);
  const controllerPort = await listen(controllers, opts.controllerListen).catch(async (e: unknown) => {
    robots.close();
    throw e;
  });
  log.info({ robotPort, controllerPort }, "relay listening");

  return {
    robotPort,
    controllerPort,
    registry,
    metrics,
    streamOpenMs: t.streamOpenMs,
    close: async () => {
      const closed = [robots, controllers].map((s) => new Promise<void>((r) => s.close(() => r())));
      registry.closeAll("relay stopping");
      for (const s of sockets) s.destroy();
      await Promise.all(closed);
    },
  };
}
