import { connect, createSecureContext, type SecureContext, type TLSSocket } from "node:tls";
import { encodeRelayFrame, RelayFrameReader, type RelayMessage } from "@ros-rollback/proto/relay";
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
  readonly onStream: (socket: TLSSocket) => void;
  /** A stream for the relay's scrape of /metrics; absent: such requests are ignored (the relay times out). */
  readonly onMetricsStream?: (socket: TLSSocket) => void;
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
 * The agent's outbound connection to one relay. Each controller connection
 * arrives as a fresh robot→relay TLS connection (opened when the relay asks
 * over this control connection), not as a stream multiplexed on it: TCP does
 * each stream's flow control, a large push does not hold up a status, and the
 * relay only pipes bytes. The cost is one TLS handshake per controller connection.
 */
export class RelayLink {
  private state: RelayLinkState = "waiting";
  private socket: TLSSocket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private readonly streams = new Set<TLSSocket>();
  /**
   * The control connection's TLS session: each stream resumes it (no
   * certificate or signature per stream, about half the handshake's CPU at
   * both ends). The relay still knows the robot's name on a resumed session
   * (the session carries the certificate it verified in full); its ticket keys
   * die with its process, so after a relay restart every robot is checked in
   * full again.
   */
  private session: Buffer | undefined;
  /**
   * The TLS material parsed once: passing PEM buffers to every connect() parses
   * the certificate, key and CA again per stream (a third of a simulated
   * robot's CPU in the bench). Replaced by setTls when the files are renewed.
   */
  private secureContext: SecureContext;
  /** Bumped by setTls: a session ticket that arrives later for older material is not kept. */
  private tlsGeneration = 0;
  /** When the link last became connected (undefined while it is not). */
  connectedSince: Date | undefined;

  constructor(private readonly opts: RelayLinkOptions) {
    this.secureContext = createSecureContext(opts.tls);
  }

  /**
   * New material (a renewed certificate): used from the next connection on,
   * control or stream. The session of the current control connection is dropped
   * so no stream resumes what the old certificate authenticated; the open
   * control connection stays (the relay checked it at its handshake).
   */
  setTls(context: SecureContext): void {
    this.secureContext = context;
    this.session = undefined;
    this.tlsGeneration++;
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
    for (const s of this.streams) s.destroy();
  }

  private dial(session?: Buffer): TLSSocket {
    const { host, port } = this.opts;
    return connect({
      ...(session === undefined ? {} : { session }),
      host,
      port,
      secureContext: this.secureContext,
      servername: isIpLike(host) ? undefined : host,
    });
  }

  private attempt(): void {
    if (this.state === "stopped") return;
    this.state = "connecting";
    const pingMs = this.opts.pingMs ?? 10_000;
    const idleMs = this.opts.idleMs ?? 25_000;
    this.session = undefined;
    const socket = this.dial();
    this.socket = socket;
    const generation = this.tlsGeneration;
    socket.on("session", (s: Buffer) => {
      if (this.socket === socket && generation === this.tlsGeneration) this.session = s;
    });
    socket.setKeepAlive(true, pingMs);
    let lastHeard = Date.now();
    let why = "connection closed";
    const ping = setInterval(
      () => {
        if (Date.now() - lastHeard > idleMs) {
          why = `nothing from the relay for ${idleMs} ms`;
          socket.destroy();
        } else if (this.state === "connected") socket.write(encodeRelayFrame({ t: "ping" }));
      },
      Math.min(pingMs, idleMs / 2),
    );
    const reader = new RelayFrameReader();
    socket.once("secureConnect", () => socket.write(encodeRelayFrame({ t: "hello" })));
    socket.on("data", (chunk: Buffer) => {
      lastHeard = Date.now();
      try {
        for (const m of reader.push(chunk)) this.onFrame(socket, m);
      } catch (e) {
        why = (e as Error).message;
        socket.destroy();
      }
    });
    socket.on("error", (e) => {
      why = e.message;
    });
    socket.once("close", () => {
      clearInterval(ping);
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

  private onFrame(socket: TLSSocket, m: RelayMessage): void {
    if (m.t === "welcome") this.setState("connected", `as ${m.name}`);
    else if (m.t === "ping") socket.write(encodeRelayFrame({ t: "pong" }));
    else if (m.t === "open" && typeof m.id === "string" && this.state === "connected") {
      const serve = m.kind === "metrics" ? this.opts.onMetricsStream : this.opts.onStream;
      if (serve) this.openStream(m.id, serve);
    }
  }

  /** A fresh connection to the relay for one stream, handed on once the relay has it. */
  private openStream(id: string, serve: (socket: TLSSocket) => void): void {
    const s = this.dial(this.session);
    this.streams.add(s);
    s.once("close", () => this.streams.delete(s));
    s.on("error", (e) => this.opts.log.warn({ err: e.message.slice(0, 200) }, "relay stream failed"));
    s.once("secureConnect", () => {
      s.write(encodeRelayFrame({ t: "accept", id }));
      serve(s);
    });
  }
}

const isIpLike = (host: string) => /^[\d.]+$|:/.test(host);
