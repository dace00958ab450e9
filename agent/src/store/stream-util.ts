import { AgentError, isAgentError } from "../errors.js";
import { cut, MAX_QUOTED } from "../text/bounded.js";

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
