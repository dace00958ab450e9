import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { exitWhenFlushed } from "./exit.js";

/** A real stream that hands each chunk on only when `release` is called. */
function heldStream(): { stream: Writable; written: string[]; release: () => void } {
  const written: string[] = [];
  const held: (() => void)[] = [];
  const stream = new Writable({
    decodeStrings: false,
    write(chunk: string, _enc, done) {
      held.push(() => {
        written.push(chunk);
        done();
      });
    },
  });
  const release = () => {
    for (let next = held.shift(); next !== undefined; next = held.shift()) next();
  };
  return { stream, written, release };
}

const ticks = () => new Promise((resolve) => setImmediate(resolve));

describe("exitWhenFlushed", () => {
  it("exits only after every stream has handed on what was written before", async () => {
    const out = heldStream();
    const err = heldStream();
    out.stream.write("result\n");
    err.stream.write("log line\n");
    const exits: number[] = [];
    exitWhenFlushed(3, [out.stream, err.stream], (code) => exits.push(code));
    await ticks();
    expect(exits).toEqual([]);
    out.release();
    await ticks();
    expect(exits).toEqual([]); // stderr still holds its line
    err.release();
    await ticks();
    err.release(); // the empty write queued behind the line
    out.release();
    await ticks();
    expect(exits).toEqual([3]);
    expect(out.written.join("")).toBe("result\n");
    expect(err.written.join("")).toBe("log line\n");
  });

  it("exits when a stream failed (a closed pipe) instead of waiting for it", async () => {
    const out = heldStream();
    out.stream.destroy();
    const exits: number[] = [];
    exitWhenFlushed(0, [out.stream], (code) => exits.push(code));
    await ticks();
    expect(exits).toEqual([0]);
  });

  it("exits at once without streams", () => {
    const exits: number[] = [];
    exitWhenFlushed(6, [], (code) => exits.push(code));
    expect(exits).toEqual([6]);
  });
});
