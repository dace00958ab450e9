import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { FrameSplitter } from "./tcpros-frames.js";

const require = createRequire(import.meta.url);

/** rosnodejs' own DeserializeStream: the frames ours must match. */
function rosnodejsFrames(chunks: readonly Buffer[]): Promise<string[]> {
  process.env.CMAKE_PREFIX_PATH ??= "/nonexistent/ros-rollback";
  const { DeserializeStream } = require("rosnodejs/dist/utils/serialization_utils.js") as {
    DeserializeStream: new () => NodeJS.WritableStream & NodeJS.EventEmitter;
  };
  const d = new DeserializeStream();
  const out: string[] = [];
  d.on("message", (m: Buffer) => out.push(m.toString("hex")));
  return new Promise((resolve) => {
    for (const c of chunks) d.write(c);
    d.end(() => resolve(out));
  });
}

function ours(chunks: readonly Buffer[]): string[] {
  const out: string[] = [];
  const s = new FrameSplitter((f) => out.push(f.toString("hex")));
  for (const c of chunks) s.push(c);
  return out;
}

const frame = (body: Buffer) => {
  const len = Buffer.alloc(4);
  len.writeUInt32LE(body.length);
  return Buffer.concat([len, body]);
};

describe("FrameSplitter", () => {
  // A header-like frame, an empty message, short ones, and one larger than a socket read.
  const bodies = [
    Buffer.from("callerid=/talker\ntype=std_msgs/String"),
    Buffer.alloc(0),
    Buffer.from("hello 1"),
    Buffer.from("hello 22"),
    Buffer.alloc(70_000, 7),
  ];
  const stream = Buffer.concat(bodies.map(frame));

  it("emits the frames rosnodejs' DeserializeStream emits, however the bytes are cut", async () => {
    const expected = bodies.map((b) => b.toString("hex"));
    expect(await rosnodejsFrames([stream])).toEqual(expected);
    const cuts: Buffer[][] = [[stream]];
    // Every single cut in the small frames (length fields split too), and reads of 1, 3 and 4096 bytes.
    for (let i = 1; i < 80; i++) cuts.push([stream.subarray(0, i), stream.subarray(i)]);
    for (const size of [1, 3, 4096]) {
      const parts: Buffer[] = [];
      for (let i = 0; i < stream.length; i += size) parts.push(stream.subarray(i, i + size));
      cuts.push(parts);
    }
    for (const chunks of cuts) expect(ours(chunks)).toEqual(expected);
    expect(await rosnodejsFrames(cuts.at(-1) ?? [])).toEqual(expected);
  });

  it("keeps an unfinished frame until its last byte arrives", () => {
    const out: number[] = [];
    const s = new FrameSplitter((f) => out.push(f.length));
    const f = frame(Buffer.alloc(10, 1));
    s.push(f.subarray(0, 2));
    s.push(f.subarray(2, 13));
    expect(out).toEqual([]);
    s.push(Buffer.concat([f.subarray(13), f.subarray(0, 5)]));
    expect(out).toEqual([10]);
    s.push(f.subarray(5));
    expect(out).toEqual([10, 10]);
  });
});
