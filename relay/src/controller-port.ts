import {
  createServer as createH2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from "node:http2";
import { createServer, type TLSSocket, type Server as TlsServer } from "node:tls";
import {
  H_REFUSAL,
  MAX_QUERY_BYTES,
  MAX_QUERY_ROBOTS,
  type QueryBody,
  REFUSAL_STATUS,
  RELAY_H2_SETTINGS,
  RELAY_NAME,
  RELAY_SESSION_WINDOW,
  RELAY_STREAM_ALPN,
  type RefusalBody,
} from "@ros-rollback/proto/relay";
import { serveDedicated } from "./dedicated.js";
import { bounded, type RelayLog } from "./log.js";
import type { RelayMetrics } from "./metrics.js";
import { NotConnected, notConnectedMessage, type Registry } from "./registry.js";
import { splice } from "./splice.js";
import type { RelayTimings } from "./timings.js";

/** Streams one controller's connection may have open at once (status --all uses a few). */
const MAX_STREAMS_PER_CONTROLLER = 256;
/** A controller's connection with no stream open this long is closed (the CLI dials again). */
const IDLE_SESSION_MS = 60_000;

/**
 * The controllers' port: HTTP/2 over mutual TLS, one connection per CLI run
 * however many robots it talks to. `CONNECT` to a robot's name joins the
 * stream to a new stream on the robot's control connection; `POST /robots`
 * answers who is connected. A connection must open its first stream within
 * `handshakeMs` of its TLS handshake (a slow or silent client is cut).
 */
export function controllerPort(
  tls: { cert: Buffer; key: Buffer; ca: Buffer },
  deps: { registry: Registry; metrics: RelayMetrics; log: RelayLog; timings: RelayTimings },
): { server: TlsServer; sessions: Set<ServerHttp2Session>; sockets: Set<TLSSocket> } {
  const { registry, metrics, log, timings: t } = deps;
  const sessions = new Set<ServerHttp2Session>();
  const sockets = new Set<TLSSocket>();
  // TLS first, then by ALPN: HTTP/2 (every stream of a CLI run), or one dedicated stream (a push).
  const h2 = createH2Server({
    settings: { ...RELAY_H2_SETTINGS, maxConcurrentStreams: MAX_STREAMS_PER_CONTROLLER },
  });
  const server = createServer(
    {
      ...tls,
      requestCert: true,
      rejectUnauthorized: true,
      handshakeTimeout: t.handshakeMs,
      ALPNProtocols: ["h2", RELAY_STREAM_ALPN],
    },
    (socket: TLSSocket) => {
      socket.on("error", () => undefined); // a peer's reset is its own
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
      if (socket.alpnProtocol === "h2") h2.emit("connection", socket);
      else if (socket.alpnProtocol === RELAY_STREAM_ALPN) serveDedicated(socket, deps);
      else {
        metrics.refuse("bad_protocol");
        socket.destroy();
      }
    },
  );
  server.on("tlsClientError", (e, socket) => {
    metrics.refuse("controller_tls");
    log.warn(
      { remote: socket.remoteAddress, err: bounded(e.message) },
      "controller refused at the TLS handshake",
    );
    socket.destroy();
  });
  h2.on("session", (session) => {
    sessions.add(session);
    session.on("error", () => undefined); // a peer's reset is its own
    try {
      session.setLocalWindowSize(RELAY_SESSION_WINDOW);
    } catch {
      // already closing
    }
    let open = 0;
    let idle = setTimeout(() => {
      metrics.refuse("idle");
      session.destroy();
    }, t.handshakeMs);
    session.on("stream", (stream: ServerHttp2Stream) => {
      open++;
      clearTimeout(idle);
      stream.once("close", () => {
        if (--open > 0 || session.destroyed) return;
        idle = setTimeout(() => session.close(), IDLE_SESSION_MS);
      });
    });
    session.once("close", () => {
      clearTimeout(idle);
      sessions.delete(session);
    });
  });
  h2.on("stream", (stream, headers) => {
    stream.on("error", () => undefined);
    const method = headers[":method"];
    if (method === "CONNECT") dial(stream, headers);
    else if (method === "POST" && headers[":path"] === "/robots") query(stream);
    else refuse(stream, { code: "BAD_REQUEST", message: "expected CONNECT to a robot or POST /robots" });
  });

  function refuse(stream: ServerHttp2Stream, body: RefusalBody): void {
    metrics.refuse(
      body.code === "NOT_CONNECTED"
        ? "not_connected"
        : body.code === "NO_STREAM"
          ? "no_stream"
          : "bad_request",
    );
    answer(stream, REFUSAL_STATUS[body.code], body, { [H_REFUSAL]: body.code });
  }

  function answer(stream: ServerHttp2Stream, status: number, body: object, extra: object = {}): void {
    if (stream.destroyed || stream.headersSent) return;
    stream.respond({ ":status": status, "content-type": "application/json", ...extra });
    stream.end(JSON.stringify(body));
  }

  function dial(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const robot = headers[":authority"];
    if (typeof robot !== "string" || !RELAY_NAME.test(robot)) {
      refuse(stream, { code: "BAD_REQUEST", message: "CONNECT must name a robot" });
      return;
    }
    registry.openStream(robot, t.streamOpenMs).then(
      (toRobot) => {
        if (stream.destroyed || stream.closed) {
          toRobot.destroy();
          return;
        }
        metrics.streamsOpen++;
        metrics.streamsTotal++;
        stream.respond({ ":status": 200 });
        splice(
          stream,
          toRobot,
          { toRobot: (n) => (metrics.bytesToRobots += n), fromRobot: (n) => (metrics.bytesFromRobots += n) },
          () => metrics.streamsOpen--,
        );
      },
      (e: unknown) => {
        if (e instanceof NotConnected) {
          const { lastSeen } = e.state;
          refuse(stream, {
            code: "NOT_CONNECTED",
            message: notConnectedMessage(e.state),
            ...(lastSeen ? { lastSeen } : {}),
          });
        } else refuse(stream, { code: "NO_STREAM", message: bounded((e as Error).message) });
      },
    );
  }

  function query(stream: ServerHttp2Stream): void {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on("data", (b: Buffer) => {
      size += b.length;
      if (size > MAX_QUERY_BYTES) {
        refuse(stream, { code: "BAD_REQUEST", message: `a query is at most ${MAX_QUERY_BYTES} bytes` });
        stream.close();
      } else chunks.push(b);
    });
    stream.once("end", () => {
      if (size > MAX_QUERY_BYTES) return;
      let body: QueryBody;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as QueryBody;
      } catch {
        refuse(stream, { code: "BAD_REQUEST", message: "a query's body is JSON" });
        return;
      }
      const asked = Array.isArray(body?.robots) ? body.robots : registry.names();
      if (asked.length > MAX_QUERY_ROBOTS) {
        refuse(stream, {
          code: "BAD_REQUEST",
          message: `a query names at most ${MAX_QUERY_ROBOTS} robots (this one ${asked.length}); ask in several`,
        });
        return;
      }
      const names = asked.filter((n): n is string => typeof n === "string" && RELAY_NAME.test(n));
      answer(stream, 200, { robots: names.map((n) => registry.state(n)) });
    });
  }

  return { server, sessions, sockets };
}
