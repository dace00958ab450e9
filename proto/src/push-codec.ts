// PushPaths' NAR chunks are nearly all the bytes a deploy moves. The generated
// codec copies each chunk four times on the way out (fork/join, finish,
// Buffer.from) and once on the way in (Buffer.from); this one encodes a chunk
// with one copy (gathering its pieces) and decodes it as a view. Same wire format.
import { AgentService, PushPathsRequest } from "./gen/ros_rollback/v1/agent.js";
import { FRAME, FRAME_HEADER_BYTES } from "./raw-push.js";

/** PushPathsRequest.chunk (field 3, length-delimited) and NarChunk.data (field 1, length-delimited). */
const CHUNK_TAG = 0x1a;
const DATA_TAG = 0x0a;

interface Encoded {
  readonly bytes: Buffer;
  readonly data: Buffer;
  /** The data with FRAME_HEADER_BYTES in front of it (over the protobuf prefix, or spare): a raw DATA frame. */
  readonly frame: Buffer;
}

const encoded = new WeakMap<PushPathsRequest, Encoded>();

function varintLength(n: number): number {
  let len = 1;
  for (let v = n; v >= 0x80; v = Math.floor(v / 128)) len++;
  return len;
}

function writeVarint(buf: Buffer, at: number, n: number): number {
  let pos = at;
  let v = n;
  while (v >= 0x80) {
    buf[pos++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[pos++] = v;
  return pos;
}

/**
 * A chunk message carrying `parts` joined, encoded once here; its `data` is a view of that encoding.
 * At least FRAME_HEADER_BYTES lie in front of the data in the same buffer, so the raw channel can
 * send it as one DATA frame without another copy (takeDataFrame).
 */
export function narChunkRequest(parts: readonly Uint8Array[]): PushPathsRequest {
  let size = 0;
  for (const p of parts) size += p.length;
  const inner = size === 0 ? 0 : 1 + varintLength(size) + size;
  const length = 1 + varintLength(inner) + inner;
  const lead = Math.max(0, FRAME_HEADER_BYTES - (length - size));
  const bytes = Buffer.allocUnsafe(lead + length).subarray(lead);
  bytes[0] = CHUNK_TAG;
  let pos = writeVarint(bytes, 1, inner);
  if (size > 0) {
    bytes[pos++] = DATA_TAG;
    pos = writeVarint(bytes, pos, size);
  }
  const data = bytes.subarray(pos);
  const frame = Buffer.from(
    bytes.buffer,
    bytes.byteOffset + pos - FRAME_HEADER_BYTES,
    FRAME_HEADER_BYTES + size,
  );
  for (const p of parts) {
    bytes.set(p, pos);
    pos += p.length;
  }
  const message: PushPathsRequest = { item: { $case: "chunk", value: { data } } };
  encoded.set(message, { bytes, data, frame });
  return message;
}

/**
 * A chunk message from narChunkRequest as one raw DATA frame (proto/src/raw-push.ts): its header
 * written in front of the data, over the protobuf prefix, so TLS gets one buffer (two buffers in
 * one write are joined by a copy of the whole chunk). The message keeps its data but no longer
 * its cached encoding (serializePushPathsRequest encodes it anew). undefined for any other message.
 */
export function takeDataFrame(message: PushPathsRequest): Buffer | undefined {
  const e = encoded.get(message);
  if (e === undefined || message.item?.$case !== "chunk" || message.item.value.data !== e.data)
    return undefined;
  encoded.delete(message);
  e.frame[0] = FRAME.DATA;
  e.frame.writeUInt32BE(e.data.length, 1);
  return e.frame;
}

const asBuffer = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

export function serializePushPathsRequest(message: PushPathsRequest): Buffer {
  const e = encoded.get(message);
  // Only while the message still carries the bytes it was encoded with.
  if (e !== undefined && message.item?.$case === "chunk" && message.item.value.data === e.data)
    return e.bytes;
  return asBuffer(PushPathsRequest.encode(message).finish());
}

function readVarint(buf: Uint8Array, at: number): { value: number; next: number } | undefined {
  let value = 0;
  let scale = 1;
  for (let pos = at; pos < buf.length && pos < at + 5; pos++) {
    const b = buf[pos] as number;
    value += (b & 0x7f) * scale;
    if (b < 0x80) return { value, next: pos + 1 };
    scale *= 128;
  }
  return undefined;
}

/** A message that is exactly one chunk with its data and nothing else: decoded as a view; anything else as generated. */
export function deserializePushPathsRequest(buf: Buffer): PushPathsRequest {
  if (buf[0] === CHUNK_TAG) {
    const inner = readVarint(buf, 1);
    if (inner !== undefined && inner.next + inner.value === buf.length) {
      if (inner.value === 0) return { item: { $case: "chunk", value: { data: Buffer.alloc(0) } } };
      if (buf[inner.next] === DATA_TAG) {
        const len = readVarint(buf, inner.next + 1);
        if (len !== undefined && len.next + len.value === buf.length) {
          return { item: { $case: "chunk", value: { data: buf.subarray(len.next) } } };
        }
      }
    }
  }
  return PushPathsRequest.decode(buf);
}

/** AgentService with the PushPaths codec above (both directions: controller and agent use it). */
export const FastAgentService: typeof AgentService = {
  ...AgentService,
  pushPaths: {
    ...AgentService.pushPaths,
    requestSerialize: serializePushPathsRequest,
    requestDeserialize: deserializePushPathsRequest,
  },
};
