import type { Writable } from "node:stream";

/** Writes, waiting for 'drain' when the reader is behind: the backpressure that bounds memory. */
export async function writeTo(w: Writable, data: Uint8Array, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  if (w.destroyed || w.writableEnded) throw new Error("the compressor stopped");
  if (w.write(data)) return;
  await new Promise<void>((resolve, reject) => {
    const done = (e?: unknown) => {
      w.off("drain", onDrain);
      w.off("close", onClose);
      signal.removeEventListener("abort", onAbort);
      if (e === undefined) resolve();
      else reject(e);
    };
    const onDrain = () => done();
    const onClose = () => done(new Error("the compressor stopped"));
    const onAbort = () => done(signal.reason);
    w.on("drain", onDrain);
    w.on("close", onClose);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
