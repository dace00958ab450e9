import type { Duplex } from "node:stream";

/*
 * The relay's protocol. Both legs are HTTP/2 on one TLS connection, so a
 * stream costs a HEADERS frame, not a TLS handshake:
 * - controller → relay (ALPN "h2"): `CONNECT` with `:authority` = the robot's
 *   name opens a byte stream to its agent (the controller's mutual TLS then
 *   runs end to end inside it); `POST /robots` asks who is connected.
 * - robot → relay (ALPN RELAY_ROBOT_ALPN): the robot dials and is the TLS
 *   client, but the HTTP/2 *server*: the relay opens streams towards it
 *   (`POST /welcome` once, then `CONNECT` with `:authority` = the stream's kind).
 * The raw push alone has a connection of its own on each leg (below).
 */

/** The robot leg's TLS ALPN id: a robot speaking another version is refused at the handshake. */
export const RELAY_ROBOT_ALPN = "ros-rollback-relay/2";

/** Robots one query may name (its answer is about 120 bytes per robot). */
export const MAX_QUERY_ROBOTS = 500;
/** A query's body at most (500 names of 63 characters, quoted, fit). */
export const MAX_QUERY_BYTES = 64 * 1024;
/** A refusal's or welcome's body at most: names and messages are short. */
export const MAX_ANSWER_BYTES = 128 * 1024;

/**
 * Flow-control windows of every receiver on both legs. HTTP/2's default 64 KiB
 * would cap a push at 64 KiB per round trip (1.3 MB/s at 50 ms); a stream
 * window of 8 MiB lets a push fill an LTE link, and the session's 32 MiB lets
 * several do so without one starving a status.
 */
export const RELAY_STREAM_WINDOW = 8 * 1024 * 1024;
export const RELAY_SESSION_WINDOW = 32 * 1024 * 1024;

/** The HTTP/2 settings every end of both legs announces (the session window is set apart). */
export const RELAY_H2_SETTINGS = {
  initialWindowSize: RELAY_STREAM_WINDOW,
  enablePush: false,
} as const;

/** Headers of the relay's streams. */
export const H_NAME = "ros-rollback-name";
export const H_REFUSAL = "ros-rollback-refusal";

/** A robot's or controller's name at the relay: its certificate's CN, printable and short. */
export const RELAY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export interface RobotState {
  readonly name: string;
  readonly connected: boolean;
  /** ISO time the current control connection was established. */
  readonly since?: string;
  /** ISO time the last control connection ended (this relay process's memory only). */
  readonly lastSeen?: string;
}

/**
 * What a stream the relay opens to a robot carries: "grpc", a controller's
 * stream, which the agent serves like a connection to its gRPC port (mutual
 * TLS end to end); "metrics", the relay's own scrape, which the agent answers
 * with GET /metrics and nothing else.
 */
export type RelayStreamKind = "grpc" | "metrics";

export type RelayRefusal = "NOT_CONNECTED" | "NO_STREAM" | "BAD_REQUEST";

/** The body of a refused CONNECT or query (JSON), and the HTTP status that goes with each code. */
export interface RefusalBody {
  readonly code: RelayRefusal;
  readonly message: string;
  readonly lastSeen?: string;
}
export const REFUSAL_STATUS: Readonly<Record<RelayRefusal, number>> = {
  NOT_CONNECTED: 404,
  NO_STREAM: 504,
  BAD_REQUEST: 400,
};

/** `POST /robots` body: which robots (every connected one when absent); answered `{ robots }`. */
export interface QueryBody {
  readonly robots?: readonly string[];
}

/** What keepAlive needs of a session (node:http2's ClientHttp2Session or ServerHttp2Session). */
interface Pingable {
  readonly destroyed: boolean;
  readonly closed: boolean;
  ping(callback: (err: Error | null) => void): boolean;
}

/**
 * Ends a relay connection that went silent: pings every `pingMs` and calls
 * `onSilent` once nothing arrived for `idleMs` (a half-open TCP connection,
 * a dead NAT mapping, sends nothing). Any byte read on `socket` counts as
 * heard: on a slow link a ping's answer can queue behind a push's data, the
 * data itself cannot. Returns stop.
 */
export function keepAlive(
  session: Pingable,
  socket: { readonly bytesRead: number },
  opts: { readonly pingMs: number; readonly idleMs: number },
  onSilent: (why: string) => void,
): () => void {
  let lastHeard = Date.now();
  let lastRead = socket.bytesRead;
  const timer = setInterval(
    () => {
      if (socket.bytesRead !== lastRead) {
        lastRead = socket.bytesRead;
        lastHeard = Date.now();
      }
      if (Date.now() - lastHeard > opts.idleMs) {
        clearInterval(timer);
        onSilent(`nothing heard for ${opts.idleMs} ms`);
        return;
      }
      if (session.destroyed || session.closed) return;
      try {
        session.ping((err) => {
          if (err === null) lastHeard = Date.now();
        });
      } catch {
        // too many pings outstanding: the peer is silent, which the check above ends
      }
    },
    Math.min(opts.pingMs, opts.idleMs / 2),
  );
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * A dedicated connection (the raw push's): plain TCP on each leg, carrying
 * the controller ↔ agent TLS, admitted by a one-time ticket. TLS on the legs
 * too would encrypt every byte three times and cost a push through the relay
 * ~1.4× its direct time on 2 cores (plain legs: ~1.1×, `relay-push` bench).
 * The legs' TLS adds nothing the end-to-end TLS lacks but authentication, and
 * the ticket carries that: the controller gets it with `POST /dedicated`
 * `{robot}` on its mutual-TLS connection (answer `{ticket}`), the robot with a
 * CONNECT carrying H_DEDICATED on its control connection; each then dials the
 * port it uses anyway, sends `{ticket}` as its first line, and the relay joins
 * the two (answering the controller `{ok}` or a refusal first). A ticket is
 * 256 random bits, used once, void after the relay's stream timeout.
 */
export const H_DEDICATED = "ros-rollback-dedicated";
/** A header line at most. */
export const MAX_HEADER_LINE = 4096;
/** A ticket: 64 hex digits. */
export const TICKET = /^[0-9a-f]{64}$/;
/** A relay port's first byte: a TLS record's (a handshake) or a header line's. */
export const TLS_HANDSHAKE_BYTE = 0x16;
export const HEADER_LINE_BYTE = 0x7b; // "{"

/** `POST /dedicated` body; answered `{ ticket }` or a refusal. */
export interface DedicatedBody {
  readonly robot: string;
}

/** The header lines: controller or robot → relay `{ticket}`, relay → controller `{ok}` or a refusal. */
export type StreamHeader = { readonly ticket: string } | { readonly ok: true } | RefusalBody;

export function encodeHeaderLine(h: StreamHeader): Buffer {
  return Buffer.from(`${JSON.stringify(h)}\n`);
}

/**
 * Reads one header line from `socket` and leaves every byte after it unread
 * (unshifted), so the stream can be handed on as it is. Rejects on a line
 * over MAX_HEADER_LINE, bad JSON, the end of the stream or `timeoutMs`.
 */
export function readHeaderLine(socket: Duplex, timeoutMs: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    const done = (err: Error | undefined, value?: Record<string, unknown>, rest?: Buffer) => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("error", onEnd);
      socket.off("close", onEnd);
      socket.off("end", onEnd);
      socket.pause();
      if (err !== undefined) reject(err);
      else {
        if (rest !== undefined && rest.length > 0) socket.unshift(rest);
        resolve(value ?? {});
      }
    };
    const onData = (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const nl = buf.indexOf(10);
      if (nl < 0) {
        if (buf.length > MAX_HEADER_LINE) done(new Error(`a header line over ${MAX_HEADER_LINE} bytes`));
        return;
      }
      try {
        const v: unknown = JSON.parse(buf.subarray(0, nl).toString("utf8"));
        if (typeof v !== "object" || v === null) throw new Error("not an object");
        done(undefined, v as Record<string, unknown>, buf.subarray(nl + 1));
      } catch {
        done(new Error("a header line that is not a JSON object"));
      }
    };
    const onEnd = (e?: unknown) =>
      done(e instanceof Error ? e : new Error("the connection ended before its header line"));
    const timer = setTimeout(() => done(new Error(`no header line within ${timeoutMs} ms`)), timeoutMs);
    socket.on("data", onData);
    socket.on("error", onEnd);
    socket.on("close", onEnd);
    socket.on("end", onEnd);
    socket.resume();
  });
}
