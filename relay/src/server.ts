import { once } from "node:events";
import type { Server } from "node:net";
import { createServer, type TLSSocket } from "node:tls";
import { RELAY_ROBOT_ALPN } from "@ros-rollback/proto/relay";
import { controllerPort as makeControllerPort } from "./controller-port.js";
import { acceptDedicated, serveDedicated } from "./dedicated.js";
import { bounded, type RelayLog } from "./log.js";
import { RelayMetrics } from "./metrics.js";
import { peerName } from "./peer-name.js";
import { Registry } from "./registry.js";
import { serveControl } from "./robot-control.js";
import { sniffingServer } from "./sniff.js";
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

  const robotsTls = createServer(
    {
      ...base,
      ca: opts.tls.robotCa,
      handshakeTimeout: t.handshakeMs,
      ALPNProtocols: [RELAY_ROBOT_ALPN],
    },
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
      if (socket.alpnProtocol !== RELAY_ROBOT_ALPN) {
        metrics.refuse("bad_protocol");
        log.warn(
          { robot: name, remote: socket.remoteAddress, alpn: bounded(String(socket.alpnProtocol)) },
          `robot refused: it does not speak ${RELAY_ROBOT_ALPN} (an agent of another version?)`,
        );
        socket.destroy();
        return;
      }
      serveControl(socket, name, { registry, metrics, log, timings: t });
    },
  );
  robotsTls.on("tlsClientError", (e, socket) => {
    metrics.refuse("robot_tls");
    log.warn({ remote: socket.remoteAddress, err: bounded(e.message) }, "robot refused at the TLS handshake");
    socket.destroy(); // a listener on tlsClientError means Node leaves the socket to us
  });

  const {
    server: controllersTls,
    sessions,
    sockets: controllerSockets,
  } = makeControllerPort(
    { cert: opts.tls.cert, key: opts.tls.key, ca: opts.tls.controllerCa },
    { registry, metrics, log, timings: t },
  );
  // Each port also takes dedicated connections (plain TCP with a ticket; see dedicated.ts).
  const deps = { registry, metrics, log, timings: t };
  const garbage = () => metrics.refuse("bad_request");
  const robotPortSniff = sniffingServer(robotsTls, (s) => acceptDedicated(s, deps), garbage, t.handshakeMs);
  const controllerPortSniff = sniffingServer(
    controllersTls,
    (s) => serveDedicated(s, deps),
    garbage,
    t.handshakeMs,
  );
  const robots = robotPortSniff.server;
  const controllers = controllerPortSniff.server;

  const listen = async (server: Server, at: { host: string; port: number }) => {
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
      for (const s of sessions) s.destroy();
      for (const s of controllerSockets) s.destroy();
      for (const s of [...robotPortSniff.sockets, ...controllerPortSniff.sockets]) s.destroy();
      await Promise.all(closed);
    },
  };
}
