import { createServer as h2server, type ServerHttp2Session, type ServerHttp2Stream } from "node:http2";
import { connect as netConnect } from "node:net";
import type { Duplex } from "node:stream";
import { connect, createSecureContext, type SecureContext, type TLSSocket } from "node:tls";
import {
  encodeHeaderLine,
  H_DEDICATED,
  H_NAME,
  keepAlive,
  RELAY_H2_SETTINGS,
  RELAY_ROBOT_ALPN,
  RELAY_SESSION_WINDOW,
  TICKET,
} from "@ros-rollback/proto/relay";
import { type Backoff, backoffDelay, DEFAULT_BACKOFF } from "./backoff.js";

/** pino's shape, narrowed to what the link logs. */
export interface LinkLog {
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
}

export interface RelayTlsMaterial {
  /** CA of the relay's server certificate. */
  readonly ca: Buffer;
  /** The robot's certificate (its CN is its name at the relay) and key. */
  readonly cert: Buffer;
  readonly key: Buffer;
}

export interface RelayLinkOptions {
  readonly host: string;
  readonly port: number;
  readonly tls: RelayTlsMaterial;
  /** A stream the relay opened for a controller: the caller's TLS server takes it as a connection. */
  readonly onStream: (stream: Duplex) => void;
  /** A stream for the relay's scrape of /metrics; absent: such streams are refused (404). */
  readonly onMetricsStream?: (stream: Duplex) => void;
  readonly log: LinkLog;
  readonly backoff?: Backoff;
  /** Ping this often; end the connection when nothing arrived for idleMs (half-open: within 30 s). */
  readonly pingMs?: number;
  readonly idleMs?: number;
  readonly random?: () => number;
}

/**
 * Lifecycle of one relay connection:
 * - `connecting`: a TLS connection and hello are under way;
 * - `connected`: the relay welcomed us; streams may open;
 * - `waiting`: the last attempt failed or ended; the next one is scheduled (back-off);
 * - `stopped`: stop() was called; nothing reconnects.
 */
export type RelayLinkState = "connecting" | "connected" | "waiting" | "stopped";

/**
 * The agent's outbound connection to one relay. The agent dials (TLS client)
 * but serves HTTP/2 on the connection: every controller connection or scrape
 * arrives as a stream the relay opens on it (CONNECT), with no handshake of
 * its own. HTTP/2 does each stream's flow control, so a large push does not
 * hold up a status beyond what the TCP connection has in flight.
 */
export class RelayLink {
  private state: RelayLinkState = "waiting";
  private socket: TLSSocket | undefined;
  /** Connections replaced by a renewal: they serve their open streams until the relay closes them. */
  private readonly superseded = new Set<TLSSocket>();
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private readonly streams = new Set<Duplex>();
  /** Serves the HTTP/2 of each control connection (it listens nowhere). */
  private readonly h2 = h2server({
    // A relay may only delay or drop traffic: it cannot hold more streams open than this either.
    settings: { ...RELAY_H2_SETTINGS, maxConcurrentStreams: 256 },
  });
  /**
   * The TLS material parsed once (the certificate, key and CA are not parsed
   * again per connection). Replaced by setTls when the files are renewed.
   */
  private secureContext: SecureContext;
  /** When the link last became connected (undefined while it is not). */
  connectedSince: Date | undefined;

  constructor(private readonly opts: RelayLinkOptions) {
    this.secureContext = createSecureContext(opts.tls);
    this.h2.on("stream", (stream, headers) => this.onStream(stream, headers));
  }

  /**
   * New material (a renewed certificate): a connected link dials again with
   * it at once, so the relay checks the new certificate, and the relay
   * replaces the old connection by the new one (the newer wins), letting the
   * old one's open streams finish. Make before break: no stream is cut.
   */
  setTls(context: SecureContext): void {
    this.secureContext = context;
    const old = this.socket;
    if (this.state !== "connected" || old === undefined) return;
    this.superseded.add(old);
    old.once("close", () => this.superseded.delete(old));
    this.socket = undefined;
    this.attempt();
  }

  get current(): RelayLinkState {
    return this.state;
  }

  private setState(next: RelayLinkState, why: string, retryInMs?: number): void {
    if (this.state === "stopped") return;
    this.state = next;
    this.connectedSince = next === "connected" ? new Date() : undefined;
    const fields = { relay: `${this.opts.host}:${this.opts.port}`, state: next, why, retryInMs };
    if (next === "connected") this.opts.log.info(fields, "relay link up");
    else if (next === "waiting") this.opts.log.warn(fields, "relay link down");
  }

  start(): void {
    this.attempt();
  }

  stop(): void {
    this.state = "stopped";
    clearTimeout(this.timer);
    this.socket?.destroy();
    for (const s of this.superseded) s.destroy();
    for (const s of this.streams) s.destroy();
  }

  private dial(): TLSSocket {
    const { host, port } = this.opts;
    return connect({
      host,
      port,
      secureContext: this.secureContext,
      servername: isIpLike(host) ? undefined : host,
      ALPNProtocols: [RELAY_ROBOT_ALPN],
    });
  }

  private attempt(): void {
    if (this.state === "stopped") return;
    this.state = "connecting";
    const socket = this.dial();
    this.socket = socket;
    const pingMs = this.opts.pingMs ?? 10_000;
    const idleMs = this.opts.idleMs ?? 25_000;
    let why = "connection closed";
    let stopKeepAlive: () => void = () => undefined;
    socket.setKeepAlive(true, pingMs);
    // A relay that accepts TCP but never finishes TLS (a black hole on the path) is left like a silent one.
    const handshake = setTimeout(() => {
      why = `no TLS handshake within ${idleMs} ms`;
      socket.destroy();
    }, idleMs);
    socket.once("secureConnect", () => {
      clearTimeout(handshake);
      if (socket.alpnProtocol !== RELAY_ROBOT_ALPN) {
        why = `the relay does not speak ${RELAY_ROBOT_ALPN}`;
        socket.destroy();
        return;
      }
      // Synchronously: the server makes the session and emits it during emit("connection").
      this.h2.once("session", (session: ServerHttp2Session) => {
        session.on("error", (e) => {
          why = e.message;
        });
        try {
          session.setLocalWindowSize(RELAY_SESSION_WINDOW);
        } catch {
          // closing already
        }
        stopKeepAlive = keepAlive(session, socket, { pingMs, idleMs }, (w) => {
          why = w;
          socket.destroy();
        });
      });
      this.h2.emit("connection", socket);
    });
    socket.on("error", (e) => {
      why = e.message;
    });
    socket.once("close", () => {
      clearTimeout(handshake);
      stopKeepAlive();
      if (this.superseded.has(socket)) return; // renewed: its successor is the link now
      if (this.socket === socket) this.socket = undefined;
      if (this.state === "stopped") return;
      if (this.state === "connected") this.failures = 0;
      const delay = backoffDelay(
        this.failures++,
        this.opts.backoff ?? DEFAULT_BACKOFF,
        this.opts.random ?? Math.random,
      );
      this.setState("waiting", `${why.slice(0, 200)}; next attempt in ${delay} ms`, delay);
      this.timer = setTimeout(() => this.attempt(), delay);
    });
  }

  /** The relay's streams: its welcome, then one per controller connection or scrape. */
  private onStream(stream: ServerHttp2Stream, headers: Record<string, string | string[] | undefined>): void {
    stream.on("error", () => undefined);
    const method = headers[":method"];
    if (method === "POST" && headers[":path"] === "/welcome") {
      stream.respond({ ":status": 200 });
      stream.end();
      const name = headers[H_NAME];
      this.setState("connected", `as ${typeof name === "string" ? name.slice(0, 64) : "?"}`);
      return;
    }
    const kind = headers[":authority"];
    const serve =
      method !== "CONNECT" || this.state !== "connected"
        ? undefined
        : kind === "grpc"
          ? this.opts.onStream
          : kind === "metrics"
            ? this.opts.onMetricsStream
            : undefined;
    if (serve === undefined) {
      stream.respond({ ":status": 404 });
      stream.end();
      return;
    }
    const dedicated = headers[H_DEDICATED];
    if (typeof dedicated === "string" && kind === "grpc") {
      const ok = TICKET.test(dedicated);
      stream.respond({ ":status": ok ? 200 : 400 });
      stream.end();
      if (ok) this.openDedicated(dedicated, serve);
      return;
    }
    this.streams.add(stream);
    stream.once("close", () => this.streams.delete(stream));
    stream.respond({ ":status": 200 });
    serve(stream);
  }

  /**
   * Asked by the relay for a dedicated connection (a push): plain TCP to the
   * relay's port carrying `ticket` first, then the controller's TLS end to end
   * (the relay joins it to the controller's own; see proto's relay-wire.ts).
   */
  private openDedicated(ticket: string, serve: (stream: Duplex) => void): void {
    const s = netConnect({ host: this.opts.host, port: this.opts.port, noDelay: true });
    this.streams.add(s);
    s.once("close", () => this.streams.delete(s));
    s.on("error", (e) => this.opts.log.warn({ err: e.message.slice(0, 200) }, "relay stream failed"));
    s.once("connect", () => {
      s.write(encodeHeaderLine({ ticket }));
      serve(s);
    });
  }
}

const isIpLike = (host: string) => /^[\d.]+$|:/.test(host);
