// The raw push channel: PushPaths' messages over a bare mutual-TLS stream on
// the agent's port, chosen by ALPN (gRPC stays on "h2"). HTTP/2 framing and
// grpc-js cost ~half the CPU of a push on a fast link (bench/README.md).
//
// Frames, both ways: type (1 byte), length (4 bytes, big endian), payload.
// Controller → agent: MESSAGE (a PushPathsRequest, options or path), DATA (the
// bytes of a NarChunk, as they would be in a chunk message), END (the push is
// complete; a connection that closes without it is an aborted push).
// Agent → controller: one RESULT (a PushPathsResponse) or ERROR (JSON
// {code, details, agentCode}: the gRPC status PushPaths would have ended with).
// Version 2 adds PROGRESS before it: what the agent has consumed so far, so
// `--compress auto` measures the end-to-end rate instead of guessing past
// buffers. Both ends offer /2 beside /1 (ALPN, ours first): an agent sends
// PROGRESS only on /2, so a /1 controller never sees a frame it does not know.

export const RAW_PUSH_ALPN_V1 = "ros-rollback-push/1";
export const RAW_PUSH_ALPN_V2 = "ros-rollback-push/2";
/** Every version this side speaks, newest first (ALPN: the server's order decides). */
export const RAW_PUSH_ALPNS: readonly string[] = [RAW_PUSH_ALPN_V2, RAW_PUSH_ALPN_V1];

export const FRAME = {
  MESSAGE: 1,
  DATA: 2,
  END: 3,
  RESULT: 16,
  ERROR: 17,
  PROGRESS: 18,
} as const;
export type FrameType = (typeof FRAME)[keyof typeof FRAME];

export const FRAME_HEADER_BYTES = 5;
/** Like the agent's gRPC max_receive_message_length: a PathInfo with many references and signatures. */
export const MAX_MESSAGE_FRAME = 8 * 1024 * 1024;
export const MAX_DATA_FRAME = 16 * 1024 * 1024;
/** An ERROR's details are bounded by the agent (trailer size); RESULT lists the paths imported. */
export const MAX_RESULT_FRAME = 64 * 1024 * 1024;

export function frameHeader(type: FrameType, length: number): Buffer {
  const h = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  h[0] = type;
  h.writeUInt32BE(length, 1);
  return h;
}

/** PROGRESS: three big-endian uint64 (exact up to 2^53, far past any push). */
export const PROGRESS_FRAME_BYTES = 24;

/** What the agent has consumed of a push so far (totals since the push began). */
export interface RawPushProgress {
  /** Bytes of DATA frames consumed (compressed, if the push is). */
  readonly wireBytes: number;
  /** NAR bytes they came to, handed to Nix. */
  readonly narBytes: number;
  /** Microseconds its import waited for bytes from the network (it was not the bottleneck meanwhile). */
  readonly waitedUs: number;
}

export function encodeRawPushProgress(p: RawPushProgress): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER_BYTES + PROGRESS_FRAME_BYTES);
  b[0] = FRAME.PROGRESS;
  b.writeUInt32BE(PROGRESS_FRAME_BYTES, 1);
  b.writeBigUInt64BE(BigInt(p.wireBytes), FRAME_HEADER_BYTES);
  b.writeBigUInt64BE(BigInt(p.narBytes), FRAME_HEADER_BYTES + 8);
  b.writeBigUInt64BE(BigInt(p.waitedUs), FRAME_HEADER_BYTES + 16);
  return b;
}

/** undefined: not a PROGRESS payload this protocol writes (wrong size, or past 2^53). */
export function decodeRawPushProgress(payload: Buffer): RawPushProgress | undefined {
  if (payload.length !== PROGRESS_FRAME_BYTES) return undefined;
  const max = BigInt(Number.MAX_SAFE_INTEGER);
  const v = [0, 8, 16].map((at) => payload.readBigUInt64BE(at));
  if (v.some((x) => x > max)) return undefined;
  const [wireBytes, narBytes, waitedUs] = v.map(Number) as [number, number, number];
  return { wireBytes, narBytes, waitedUs };
}

export interface RawPushError {
  readonly code: number;
  readonly details: string;
  readonly agentCode: string | undefined;
}

export function encodeRawPushError(e: RawPushError): Buffer {
  const body = Buffer.from(JSON.stringify({ code: e.code, details: e.details, agentCode: e.agentCode }));
  return Buffer.concat([frameHeader(FRAME.ERROR, body.length), body]);
}

/** undefined: not an ERROR payload this protocol writes. */
export function decodeRawPushError(payload: Buffer): RawPushError | undefined {
  try {
    const v = JSON.parse(payload.toString("utf8")) as Record<string, unknown>;
    if (typeof v.code !== "number" || typeof v.details !== "string") return undefined;
    return {
      code: v.code,
      details: v.details,
      agentCode: typeof v.agentCode === "string" ? v.agentCode : undefined,
    };
  } catch {
    return undefined;
  }
}

/** What FrameReader hands out: whole frames, except DATA, whose bytes come as they arrive. */
export type FramePart =
  | { readonly kind: "frame"; readonly type: number; readonly payload: Buffer }
  | { readonly kind: "data"; readonly bytes: Buffer };

/** A frame the reader refuses: its type is unknown or its length above the limit. */
export class BadFrame extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BadFrame";
  }
}

/**
 * Splits a byte stream into frames without copying DATA (views of the input).
 * `limits` names the frame types this side accepts and their maximum length.
 */
export class FrameReader {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private header: { type: number; remaining: number } | undefined;
  private readonly headerBuf = Buffer.alloc(FRAME_HEADER_BYTES);
  private headerHave = 0;

  constructor(private readonly limits: ReadonlyMap<number, number>) {}

  *push(input: Buffer): Generator<FramePart> {
    let off = 0;
    while (off < input.length) {
      if (this.header === undefined) {
        const n = Math.min(FRAME_HEADER_BYTES - this.headerHave, input.length - off);
        input.copy(this.headerBuf, this.headerHave, off, off + n);
        this.headerHave += n;
        off += n;
        if (this.headerHave < FRAME_HEADER_BYTES) return;
        this.headerHave = 0;
        const type = this.headerBuf[0] as number;
        const length = this.headerBuf.readUInt32BE(1);
        const max = this.limits.get(type);
        if (max === undefined) throw new BadFrame(`unexpected frame type ${type}`);
        if (length > max) throw new BadFrame(`frame of type ${type} is ${length} bytes, more than ${max}`);
        this.header = { type, remaining: length };
      }
      const h = this.header;
      const n = Math.min(h.remaining, input.length - off);
      const piece = input.subarray(off, off + n);
      off += n;
      h.remaining -= n;
      if (h.type === FRAME.DATA) {
        if (n > 0) yield { kind: "data", bytes: piece };
      } else if (n > 0) {
        this.pending.push(piece);
        this.pendingBytes += n;
      }
      if (h.remaining === 0) {
        this.header = undefined;
        if (h.type !== FRAME.DATA) {
          const payload =
            this.pending.length === 1
              ? (this.pending[0] as Buffer)
              : Buffer.concat(this.pending, this.pendingBytes);
          this.pending = [];
          this.pendingBytes = 0;
          yield { kind: "frame", type: h.type, payload };
        }
      }
    }
  }
}
