import type { Duplex } from "node:stream";

/*
 * The relay's header frames: 4-byte big-endian length, then JSON. A control
 * connection (robot ↔ relay) carries only frames; a stream connection carries
 * one header frame each way, then the controller ↔ agent TLS bytes untouched.
 */

/** A header frame never needs more: names and ids are short. */
export const MAX_RELAY_FRAME = 4096;
/**
 * Robots one `query` may name: the answer must fit one frame (a state is at most ~120 bytes).
 * A controller asks about more in several queries.
 */
export const MAX_QUERY_ROBOTS = 32;

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

export type RelayMessage =
  /** robot → relay, first frame of the control connection. */
  | { readonly t: "hello" }
  | { readonly t: "welcome"; readonly name: string }
  /**
   * relay → robot: open a stream connection carrying `id`. `kind` absent: a controller's stream,
   * which the agent serves like a connection to its gRPC port (mutual TLS end to end);
   * "metrics": the relay's own scrape, which the agent answers with GET /metrics and nothing else.
   */
  | { readonly t: "open"; readonly id: string; readonly kind?: RelayStreamKind }
  /** robot → relay, first frame of a stream connection. */
  | { readonly t: "accept"; readonly id: string }
  | { readonly t: "ping" }
  | { readonly t: "pong" }
  /** controller → relay: a stream to this robot's agent. */
  | { readonly t: "dial"; readonly robot: string }
  | { readonly t: "ok" }
  | {
      readonly t: "refused";
      readonly code: RelayRefusal;
      readonly message: string;
      readonly lastSeen?: string;
    }
  /** controller → relay: which of these robots are connected (every one when absent). */
  | { readonly t: "query"; readonly robots?: readonly string[] }
  | { readonly t: "robots"; readonly robots: readonly RobotState[] };

export type RelayStreamKind = "grpc" | "metrics";

export type RelayRefusal = "NOT_CONNECTED" | "NO_STREAM" | "BAD_REQUEST";

export class RelayWireError extends Error {
  override readonly name = "RelayWireError";
}

export function encodeRelayFrame(msg: RelayMessage): Buffer {
  const body = Buffer.from(JSON.stringify(msg));
  if (body.length > MAX_RELAY_FRAME) throw new RelayWireError(`relay frame of ${body.length} bytes`);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

function decodeBody(body: Buffer): RelayMessage {
  let msg: unknown;
  try {
    msg = JSON.parse(body.toString("utf8"));
  } catch (cause) {
    throw new RelayWireError("relay frame is not JSON", { cause });
  }
  if (typeof msg !== "object" || msg === null || typeof (msg as { t?: unknown }).t !== "string") {
    throw new RelayWireError("relay frame has no type");
  }
  return msg as RelayMessage;
}

/** Splits a byte stream into frames; throws RelayWireError on an oversized or malformed one. */
export class RelayFrameReader {
  private buf: Buffer = Buffer.alloc(0);

  append(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
  }

  push(chunk: Buffer): RelayMessage[] {
    this.append(chunk);
    const out: RelayMessage[] = [];
    for (;;) {
      const m = this.take();
      if (m === undefined) return out;
      out.push(m);
    }
  }

  /** One frame if complete; the bytes after it stay in `rest()`. */
  take(): RelayMessage | undefined {
    if (this.buf.length < 4) return undefined;
    const len = this.buf.readUInt32BE(0);
    if (len > MAX_RELAY_FRAME)
      throw new RelayWireError(`relay frame of ${len} bytes (at most ${MAX_RELAY_FRAME})`);
    if (this.buf.length < 4 + len) return undefined;
    const msg = decodeBody(this.buf.subarray(4, 4 + len));
    this.buf = this.buf.subarray(4 + len);
    return msg;
  }

  rest(): Buffer {
    return this.buf;
  }
}

/**
 * Reads exactly one frame from `socket` and leaves every byte after it
 * unread (unshifted), so the stream can be handed on as it is.
 */
export function readRelayHeader(socket: Duplex, timeoutMs: number): Promise<RelayMessage> {
  return new Promise<RelayMessage>((resolve, reject) => {
    const reader = new RelayFrameReader();
    const done = (err: Error | undefined, msg?: RelayMessage) => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("error", onEnd);
      socket.off("close", onEnd);
      socket.off("end", onEnd);
      socket.pause();
      if (err) reject(err);
      else {
        const rest = reader.rest();
        if (rest.length > 0) socket.unshift(rest);
        resolve(msg as RelayMessage);
      }
    };
    const onData = (chunk: Buffer) => {
      try {
        // Only the first frame is taken: what follows it is the caller's.
        reader.append(chunk);
        const got = reader.take();
        if (got !== undefined) done(undefined, got);
      } catch (e) {
        done(e as Error);
      }
    };
    const onEnd = (e?: unknown) =>
      done(e instanceof Error ? e : new RelayWireError("connection closed before its header"));
    const timer = setTimeout(() => done(new RelayWireError(`no header within ${timeoutMs} ms`)), timeoutMs);
    socket.on("data", onData);
    socket.on("error", onEnd);
    socket.on("close", onEnd);
    socket.on("end", onEnd);
    socket.resume();
  });
}
