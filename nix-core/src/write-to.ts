// Writing into a stream with backpressure, shared by the controller's encoder and the agent's
// decoder (both feed compressors and nix processes).
import type { Writable } from "node:stream";

/** The stream we were writing into was closed by its reader (it will say why). */
export class SinkClosed extends Error {
  constructor() {
    super("the stream was closed while writing");
    this.name = "SinkClosed";
  }
}

/** Writes, waiting for 'drain' when the reader is behind: the backpressure that bounds memory. */
export async function writeTo(w: Writable, data: Uint8Array, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  if (w.destroyed || w.writableEnded) throw new SinkClosed();
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
    const onClose = () => done(new SinkClosed());
    const onAbort = () => done(signal.reason);
    w.on("drain", onDrain);
    w.on("close", onClose);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
