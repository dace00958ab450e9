import {
  createServer as createH2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from "node:http2";
import { createServer, type TLSSocket, type Server as TlsServer } from "node:tls";
import {
  type DedicatedBody,
  H_REFUSAL,
  MAX_QUERY_BYTES,
  MAX_QUERY_ROBOTS,
  type QueryBody,
  REFUSAL_STATUS,
  RELAY_H2_SETTINGS,
  RELAY_NAME,
  RELAY_SESSION_WINDOW,
  type RefusalBody,
} from "@ros-rollback/proto/relay";
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
 * answers who is connected; `POST /dedicated` gives a push its ticket. A connection must open its first stream within
 * `handshakeMs` of its TLS handshake (a slow or silent client is cut).
 */
export function controllerPort(
  tls: { cert: Buffer; key: Buffer; ca: Buffer },
  deps: { registry: Registry; metrics: RelayMetrics; log: RelayLog; timings: RelayTimings },
): { server: TlsServer; sessions: Set<ServerHttp2Session>; sockets: Set<TLSSocket> } {
  const { registry, metrics, log, timings: t } = deps;
  const sessions = new Set<ServerHttp2Session>();
  const sockets = new Set<TLSSocket>();
  const h2 = createH2Server({
    settings: { ...RELAY_H2_SETTINGS, maxConcurrentStreams: MAX_STREAMS_PER_CONTROLLER },
  });
  const server = createServer(
    {
      ...tls,
      requestCert: true,
      rejectUnauthorized: true,
      handshakeTimeout: t.handshakeMs,
      ALPNProtocols: ["h2"],
    },
    (socket: TLSSocket) => {
      socket.on("error", () => undefined); // a peer's reset is its own
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
      if (socket.alpnProtocol === "h2") h2.emit("connection", socket);
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
    else if (method === "POST" && headers[":path"] === "/robots") jsonBody(stream, query);
    else if (method === "POST" && headers[":path"] === "/dedicated") jsonBody(stream, ticket);
    else {
      refuse(stream, {
        code: "BAD_REQUEST",
        message: "expected CONNECT to a robot, POST /robots or POST /dedicated",
      });
    }
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
      (e: unknown) => refuseDial(stream, e),
    );
  }

  /** A robot not connected (and when it was last seen), or no stream to it. */
  function refuseDial(stream: ServerHttp2Stream, e: unknown): void {
    if (e instanceof NotConnected) {
      const { lastSeen } = e.state;
      refuse(stream, {
        code: "NOT_CONNECTED",
        message: notConnectedMessage(e.state),
        ...(lastSeen ? { lastSeen } : {}),
      });
    } else refuse(stream, { code: "NO_STREAM", message: bounded((e as Error).message) });
  }

  /** Reads a request's JSON body (at most MAX_QUERY_BYTES) and hands it to `then`. */
  function jsonBody(
    stream: ServerHttp2Stream,
    then: (stream: ServerHttp2Stream, body: unknown) => void,
  ): void {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on("data", (b: Buffer) => {
      size += b.length;
      if (size > MAX_QUERY_BYTES) {
        refuse(stream, { code: "BAD_REQUEST", message: `a request is at most ${MAX_QUERY_BYTES} bytes` });
        stream.close();
      } else chunks.push(b);
    });
    stream.once("end", () => {
      if (size > MAX_QUERY_BYTES) return;
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        refuse(stream, { code: "BAD_REQUEST", message: "a request's body is JSON" });
        return;
      }
      then(stream, body);
    });
  }

  function query(stream: ServerHttp2Stream, body: unknown): void {
    const robots = (body as QueryBody | null)?.robots;
    const asked = Array.isArray(robots) ? robots : registry.names();
    if (asked.length > MAX_QUERY_ROBOTS) {
      refuse(stream, {
        code: "BAD_REQUEST",
        message: `a query names at most ${MAX_QUERY_ROBOTS} robots (this one ${asked.length}); ask in several`,
      });
      return;
    }
    const names = asked.filter((n): n is string => typeof n === "string" && RELAY_NAME.test(n));
    answer(stream, 200, { robots: names.map((n) => registry.state(n)) });
  }

  /** A ticket for a dedicated connection to a robot (a push; see dedicated.ts). */
  function ticket(stream: ServerHttp2Stream, body: unknown): void {
    const robot = (body as Partial<DedicatedBody> | null)?.robot;
    if (typeof robot !== "string" || !RELAY_NAME.test(robot)) {
      refuse(stream, { code: "BAD_REQUEST", message: "a dedicated connection names a robot" });
      return;
    }
    try {
      answer(stream, 200, { ticket: registry.issueTicket(robot, t.streamOpenMs) });
    } catch (e) {
      refuseDial(stream, e);
    }
  }

  return { server, sessions, sockets };
}
