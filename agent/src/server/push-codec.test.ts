import { randomBytes } from "node:crypto";
import {
  Compression,
  deserializePushPathsRequest,
  FRAME,
  FrameReader,
  MAX_DATA_FRAME,
  narChunkRequest,
  PushPathsRequest,
  serializePushPathsRequest,
  takeDataFrame,
} from "@ros-rollback/proto";
import { describe, expect, it } from "vitest";

const generated = (m: PushPathsRequest) => Buffer.from(PushPathsRequest.encode(m).finish());
const chunkData = (m: PushPathsRequest) => (m.item?.$case === "chunk" ? m.item.value.data : undefined);

describe("the PushPaths codec", () => {
  it.each([
    ["empty", [] as number[]],
    ["one byte", [1]],
    ["127 bytes (1-byte length)", [127]],
    ["128 bytes (2-byte length)", [128]],
    ["pieces of a 128 KiB chunk", [65_536, 1, 65_535]],
    ["3 MiB (4-byte inner length)", [3 * 1024 * 1024]],
  ])("encodes a chunk (%s) byte for byte as the generated code does, from its pieces", (_n, sizes) => {
    const parts = sizes.map((n) => randomBytes(n));
    const m = narChunkRequest(parts);
    const bytes = serializePushPathsRequest(m);
    expect(bytes.equals(generated(m))).toBe(true);
    expect(Buffer.from(chunkData(m) ?? []).equals(Buffer.concat(parts))).toBe(true);
    // Buffer.equals: toEqual walks megabytes element by element.
    const viaGenerated = chunkData(PushPathsRequest.decode(bytes));
    const viaOurs = chunkData(deserializePushPathsRequest(bytes));
    expect(viaGenerated !== undefined && Buffer.from(viaGenerated).equals(Buffer.concat(parts))).toBe(true);
    expect(viaOurs !== undefined && Buffer.from(viaOurs).equals(Buffer.concat(parts))).toBe(true);
  });

  it("decodes a chunk as a view of the received message (no copy)", () => {
    const bytes = serializePushPathsRequest(narChunkRequest([randomBytes(1000)]));
    const data = chunkData(deserializePushPathsRequest(bytes));
    expect(data?.buffer).toBe(bytes.buffer);
  });

  it("a chunk message whose data was replaced is encoded from its new data", () => {
    const m = narChunkRequest([Buffer.from("old")]);
    if (m.item?.$case !== "chunk") throw new Error("not a chunk");
    m.item.value.data = Buffer.from("new bytes");
    expect(PushPathsRequest.decode(serializePushPathsRequest(m))).toEqual({
      item: { $case: "chunk", value: { data: Buffer.from("new bytes") } },
    });
  });

  it.each([
    [
      "options",
      {
        item: {
          $case: "options",
          value: { compression: Compression.COMPRESSION_ZSTD, totalNarSize: 123_456 },
        },
      },
    ],
    [
      "path",
      {
        item: {
          $case: "path",
          value: {
            storePath: "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x",
            narHash: "sha256:x",
            narSize: 3,
            references: ["/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x"],
            deriver: "",
            signatures: ["k:s"],
            ca: "",
          },
        },
      },
    ],
    ["a chunk built by hand", { item: { $case: "chunk", value: { data: Buffer.from("abc") } } }],
  ] as [string, PushPathsRequest][])("other messages (%s) go through the generated codec", (_n, m) => {
    const bytes = serializePushPathsRequest(m);
    expect(bytes.equals(generated(m))).toBe(true);
    expect(deserializePushPathsRequest(bytes)).toEqual(PushPathsRequest.decode(bytes));
  });

  it.each([
    ["a chunk with a trailing unknown field", [0x1a, 0x05, 0x0a, 0x01, 0x41, 0x10, 0x01]],
    ["a chunk then an options field", [0x1a, 0x03, 0x0a, 0x01, 0x41, 0x0a, 0x00]],
    ["a chunk's data length past the end", [0x1a, 0x03, 0x0a, 0x05, 0x41]],
    ["an unterminated length", [0x1a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]],
  ])("anything but exactly one chunk (%s) is decoded (or refused) as the generated code does", (_n, raw) => {
    const bytes = Buffer.from(raw);
    let expected: unknown;
    try {
      expected = PushPathsRequest.decode(bytes);
    } catch (e) {
      expected = e;
    }
    if (expected instanceof Error) expect(() => deserializePushPathsRequest(bytes)).toThrow();
    else expect(deserializePushPathsRequest(bytes)).toEqual(expected);
  });

  it.each([
    ["empty", [] as number[]],
    ["one byte (a 4-byte protobuf prefix)", [1]],
    ["128 bytes", [128]],
    ["pieces of a 128 KiB chunk", [65_536, 1, 65_535]],
  ])("gives a chunk (%s) as one raw DATA frame over the same memory, then encodes it anew", (_n, sizes) => {
    const parts = sizes.map((n) => randomBytes(n));
    const m = narChunkRequest(parts);
    const data = Buffer.concat(parts);
    const frame = takeDataFrame(m);
    if (frame === undefined) throw new Error("no frame");
    expect(frame.buffer).toBe(chunkData(m)?.buffer);
    const read = [...new FrameReader(new Map([[FRAME.DATA, MAX_DATA_FRAME]])).push(frame)];
    expect(frame.length).toBe(5 + data.length);
    expect(frame[0]).toBe(FRAME.DATA);
    expect(frame.readUInt32BE(1)).toBe(data.length);
    expect(Buffer.concat(read.map((p) => (p.kind === "data" ? p.bytes : Buffer.alloc(0)))).equals(data)).toBe(
      true,
    );
    // Its header went over the cached encoding's prefix: that encoding must not be sent any more.
    expect(Buffer.from(chunkData(m) ?? []).equals(data)).toBe(true);
    expect(serializePushPathsRequest(m).equals(generated(m))).toBe(true);
    expect(takeDataFrame(m)).toBeUndefined();
  });

  it("gives no raw frame for a chunk built by hand or whose data was replaced", () => {
    expect(takeDataFrame({ item: { $case: "chunk", value: { data: Buffer.from("abc") } } })).toBeUndefined();
    const m = narChunkRequest([Buffer.from("old")]);
    if (m.item?.$case !== "chunk") throw new Error("not a chunk");
    m.item.value.data = Buffer.from("new bytes");
    expect(takeDataFrame(m)).toBeUndefined();
  });
});
