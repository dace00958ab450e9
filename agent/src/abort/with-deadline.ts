export interface Deadline {
  /** Aborts when the parent does, or `ms` after the call. */
  readonly signal: AbortSignal;
  /** True when the deadline (not the parent) aborted `signal`. */
  timedOut(): boolean;
  /** Stops the timer and detaches from the parent; call when the bounded work is over. */
  clear(): void;
}

/**
 * The parent signal bounded by `ms`. Not `AbortSignal.any([parent, AbortSignal.timeout(ms)])`:
 * on Node 20 the composite holds its sources weakly and the timeout signal's timer holds it
 * weakly too, so a garbage collection can take the timeout signal and it never fires
 * (nodejs/node#57736) — a narinfo lookup against a hanging cache then hung for good.
 * Here the timer holds the controller.
 */
export function withDeadline(parent: AbortSignal, ms: number): Deadline {
  const ac = new AbortController();
  let timedOut = false;
  const onParent = () => {
    clearTimeout(timer);
    ac.abort(parent.reason);
  };
  const timer = setTimeout(() => {
    parent.removeEventListener("abort", onParent);
    timedOut = true;
    ac.abort(new DOMException(`The operation timed out after ${ms} ms`, "TimeoutError"));
  }, ms);
  // Like AbortSignal.timeout: a pending deadline alone does not keep the process alive.
  timer.unref();
  if (parent.aborted) onParent();
  else parent.addEventListener("abort", onParent, { once: true });
  return {
    signal: ac.signal,
    timedOut: () => timedOut,
    clear: () => {
      clearTimeout(timer);
      parent.removeEventListener("abort", onParent);
    },
  };
}
