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
 * it.next(), failing with TIMEOUT ("the client sent nothing for <s>s <when>")
 * when a wait lasts `idleMs`, or with the outer signal's reason as soon as it
 * aborts (a silent client must not pin us). One timer, re-armed when a wait
 * starts, and one abort listener for a loop over one stream (a raw push has a
 * message per 16 KiB TLS record). Only time spent waiting in next() counts as
 * idle. Once it failed, every wait fails with that reason.
 */
export class IdleWatch {
  private readonly timer: NodeJS.Timeout;
  /** Rejects the wait in progress. */
  private waiting: ((e: unknown) => void) | undefined;
  private failure: { readonly reason: unknown } | undefined;

  constructor(
    private readonly outer: AbortSignal,
    idleMs: number,
    when = "in the middle of a push",
  ) {
    this.timer = setTimeout(() => {
      // Fired idleMs after the current wait began (refresh() at its start); between waits: nothing.
      if (this.waiting !== undefined) {
        this.fail(new AgentError("TIMEOUT", `the client sent nothing for ${idleMs / 1000}s ${when}`));
      }
    }, idleMs);
    if (outer.aborted) this.onAbort();
    else outer.addEventListener("abort", this.onAbort, { once: true });
  }

  private readonly onAbort = () => this.fail(this.outer.reason);

  private fail(reason: unknown): void {
    this.failure ??= { reason };
    this.waiting?.(this.failure.reason);
  }

  next<T>(it: AsyncIterator<T>, wrap: (e: unknown) => unknown): Promise<IteratorResult<T>> {
    if (this.failure !== undefined) return Promise.reject(this.failure.reason);
    this.timer.refresh();
    return new Promise((resolve, reject) => {
      this.waiting = reject;
      it.next().then(
        (r) => {
          this.waiting = undefined;
          resolve(r);
        },
        (e: unknown) => {
          this.waiting = undefined;
          reject(wrap(e));
        },
      );
    });
  }

  close(): void {
    clearTimeout(this.timer);
    this.outer.removeEventListener("abort", this.onAbort);
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
