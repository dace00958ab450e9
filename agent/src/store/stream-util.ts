import type { Writable } from "node:stream";
import { AgentError, isAgentError } from "../errors.js";
import { cut, MAX_QUOTED } from "../text/bounded.js";

/** The stream we were writing into was closed by its reader (it will say why). */
export class SinkClosed extends Error {
  constructor() {
    super("the stream was closed while writing");
    this.name = "SinkClosed";
  }
}

/**
 * it.next(), or the signal's reason as soon as it aborts (a silent client
 * must not pin us). The iterator's own failures go through `wrap`.
 */
export function nextOrAbort<T>(
  it: AsyncIterator<T>,
  signal: AbortSignal,
  wrap: (e: unknown) => unknown = (e) => e,
): Promise<IteratorResult<T>> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    it.next().then(
      (r) => {
        signal.removeEventListener("abort", onAbort);
        resolve(r);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(wrap(e));
      },
    );
  });
}

/** nextOrAbort, failing with TIMEOUT when the iterator yields nothing for `idleMs`. */
export async function nextWithin<T>(
  it: AsyncIterator<T>,
  signal: AbortSignal,
  idleMs: number,
  wrap: (e: unknown) => unknown,
): Promise<IteratorResult<T>> {
  const ac = new AbortController();
  const timer = setTimeout(() => {
    ac.abort(
      new AgentError("TIMEOUT", `the client sent nothing for ${idleMs / 1000}s in the middle of a push`),
    );
  }, idleMs);
  const onAbort = () => ac.abort(signal.reason);
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort, { once: true });
  try {
    return await nextOrAbort(it, ac.signal, wrap);
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", onAbort);
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

/** The client's stream failing (connection reset, cancelled) is the push being aborted. */
export function streamBroke(e: unknown): AgentError {
  if (isAgentError(e)) return e;
  return new AgentError(
    "ABORTED",
    `the push stream broke: ${cut((e as Error | undefined)?.message ?? String(e), MAX_QUOTED)}`,
    {
      cause: e,
    },
  );
}
