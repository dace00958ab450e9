import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { SinkClosed, writeTo } from "./write-to.js";

describe("writeTo", () => {
  it("waits for the reader when the stream is full, then goes on", async () => {
    const w = new PassThrough({ highWaterMark: 4 });
    let written = false;
    const pending = writeTo(w, Buffer.from("0123456789"), AbortSignal.timeout(10_000)).then(() => {
      written = true;
    });
    await new Promise((r) => setImmediate(r));
    expect(written).toBe(false);
    w.resume();
    await pending;
    expect(written).toBe(true);
  });

  it("fails with SinkClosed when the reader closes the stream, or writes after it", async () => {
    const w = new PassThrough({ highWaterMark: 4 });
    const pending = writeTo(w, Buffer.from("0123456789"), AbortSignal.timeout(10_000));
    w.destroy();
    await expect(pending).rejects.toBeInstanceOf(SinkClosed);
    await expect(writeTo(w, Buffer.from("x"), AbortSignal.timeout(10_000))).rejects.toBeInstanceOf(
      SinkClosed,
    );
  });

  it("fails with the signal's reason when it aborts while waiting", async () => {
    const w = new PassThrough({ highWaterMark: 4 });
    const ac = new AbortController();
    const pending = writeTo(w, Buffer.from("0123456789"), ac.signal);
    ac.abort(new Error("stop"));
    await expect(pending).rejects.toThrow("stop");
  });
});
