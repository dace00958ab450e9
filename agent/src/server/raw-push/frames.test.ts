import { randomBytes } from "node:crypto";
import {
  BadFrame,
  FRAME,
  type FramePart,
  FrameReader,
  frameHeader,
  MAX_MESSAGE_FRAME,
} from "@ros-rollback/proto";
import { describe, expect, it } from "vitest";

// The frame splitter both ends use (proto/src/raw-push.ts): TLS hands it bytes cut anywhere.

const LIMITS = new Map<number, number>([
  [FRAME.MESSAGE, MAX_MESSAGE_FRAME],
  [FRAME.DATA, 1 << 20],
  [FRAME.END, 0],
]);

const frame = (type: 1 | 2 | 3, payload: Buffer) =>
  Buffer.concat([frameHeader(type, payload.length), payload]);

/** What the reader makes of `stream` cut into pieces of `size` bytes: frames, and DATA bytes joined per frame. */
function read(stream: Buffer, size: number): { type: number; bytes: string }[] {
  const reader = new FrameReader(LIMITS);
  const out: { type: number; bytes: string }[] = [];
  let data: Buffer[] = [];
  const flushData = () => {
    if (data.length > 0) out.push({ type: FRAME.DATA, bytes: Buffer.concat(data).toString("hex") });
    data = [];
  };
  for (let off = 0; off < stream.length; off += size) {
    for (const part of reader.push(stream.subarray(off, off + size)) as Iterable<FramePart>) {
      if (part.kind === "data") data.push(part.bytes);
      else {
        flushData();
        out.push({ type: part.type, bytes: part.payload.toString("hex") });
      }
    }
  }
  flushData();
  return out;
}

describe("FrameReader", () => {
  const message = randomBytes(300);
  const data = randomBytes(70_000);
  const stream = Buffer.concat([
    frame(1, message),
    frame(2, data),
    frame(1, Buffer.alloc(0)),
    frame(3, Buffer.alloc(0)),
  ]);
  const expected = [
    { type: FRAME.MESSAGE, bytes: message.toString("hex") },
    { type: FRAME.DATA, bytes: data.toString("hex") },
    { type: FRAME.MESSAGE, bytes: "" },
    { type: FRAME.END, bytes: "" },
  ];

  it.each([1, 2, 5, 7, 4096, 16_384, stream.length])(
    "reads the same frames from pieces of %i bytes",
    (size) => {
      expect(read(stream, size)).toEqual(expected);
    },
  );

  it("hands DATA out as views of its input, not copies", () => {
    const reader = new FrameReader(LIMITS);
    const input = frame(2, Buffer.from("abcdef"));
    const [part] = [...reader.push(input)];
    expect(part?.kind).toBe("data");
    if (part?.kind !== "data") return;
    expect(part.bytes.buffer).toBe(input.buffer);
  });

  it("refuses an unknown type and a length above the limit at the header, before any payload", () => {
    expect(() => [...new FrameReader(LIMITS).push(frameHeader(FRAME.RESULT, 1))]).toThrow(
      new BadFrame("unexpected frame type 16"),
    );
    expect(() => [...new FrameReader(LIMITS).push(frameHeader(FRAME.END, 1))]).toThrow(
      "frame of type 3 is 1 bytes, more than 0",
    );
  });
});
