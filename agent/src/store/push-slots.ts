import { AgentError } from "../errors.js";

/**
 * A held slot. `signal` aborts when a newer push by the same client replaced
 * this one, or when the caller's signal does.
 */
export interface Slot {
  readonly signal: AbortSignal;
  /** `requests` as read by the push; the time it waits for the next one is what makes it replaceable. */
  watch<T>(requests: AsyncIterable<T>): AsyncIterable<T>;
}

interface Holder {
  readonly replace: AbortController;
  /** Since when the push waits for its client's next message; undefined while it works. */
  waitingSince: number | undefined;
  readonly ended: Promise<void>;
}

/** A push waiting this long for its client may be replaced by a new push from that client. */
export const DEFAULT_REPLACE_AFTER_MS = 10_000;

/**
 * At most `max` pushes at once: each runs two `nix-store --serve` and a
 * decompressor. And at most one per client (its certificate): one holder of a
 * controller certificate cannot take every slot (issue 24). One more is
 * refused at once with RESOURCE_EXHAUSTED (gRPC's code for a quota, per
 * client too: the same push may succeed once the other has ended; nothing is
 * wrong with it or with the robot's state, so not FAILED_PRECONDITION, and no
 * transaction conflicted, so not ABORTED).
 *
 * Except: a push that has waited `replaceAfterMs` for its client's next
 * message is aborted for a new one by the same client. Its connection died
 * without a FIN (a flapping link, a relay stream gone) and the controller gave
 * up; without this the client waits for the idle limit (issue 27). The new
 * push starts once the old one has ended (its nix import closed).
 */
export class PushSlots {
  private running = 0;
  private readonly clients = new Map<string, Holder>();

  constructor(
    readonly max: number,
    private readonly replaceAfterMs = DEFAULT_REPLACE_AFTER_MS,
  ) {}

  /** `client`: who asks (its certificate's fingerprint); undefined (no TLS) counts only towards `max`. */
  async run<T>(
    client: string | undefined,
    push: (slot: Slot) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    for (;;) {
      const old = client === undefined ? undefined : this.clients.get(client);
      if (old === undefined) break;
      this.replace(old);
      await old.ended;
      // Checked again: of several new pushes waiting here, the first to resume takes the slot.
    }
    if (this.running >= this.max) {
      throw new AgentError(
        "RESOURCE_EXHAUSTED",
        `${this.running} pushes are running, the most this agent takes at once; retry when one has finished`,
      );
    }
    this.running++;
    const replace = new AbortController();
    let ended!: () => void;
    const holder: Holder = {
      replace,
      waitingSince: undefined,
      ended: new Promise((resolve) => {
        ended = resolve;
      }),
    };
    if (client !== undefined) this.clients.set(client, holder);
    try {
      const stop = signal === undefined ? replace.signal : AbortSignal.any([signal, replace.signal]);
      return await push({ signal: stop, watch: (requests) => watched(requests, holder) });
    } finally {
      this.running--;
      if (client !== undefined && this.clients.get(client) === holder) this.clients.delete(client);
      ended();
    }
  }

  /** Refuses while `old` is live (or being replaced already); aborts it when it is stale. */
  private replace(old: Holder): void {
    const since = old.waitingSince;
    const waited = since === undefined ? 0 : Date.now() - since;
    if (old.replace.signal.aborted || waited < this.replaceAfterMs) {
      throw new AgentError(
        "RESOURCE_EXHAUSTED",
        "a push or substitution by this client certificate is running already; one at a time per client",
      );
    }
    old.replace.abort(
      new AgentError(
        "ABORTED",
        `replaced by a newer push from the same client certificate after ${Math.round(waited / 1000)}s without a message`,
      ),
    );
  }
}

/**
 * `requests`, marking `holder` as waiting while a next() is pending. An
 * iterator, not a generator: return() must reach the stream at once even while
 * a next() hangs on a dead connection.
 */
function watched<T>(requests: AsyncIterable<T>, holder: Holder): AsyncIterable<T> {
  const it = requests[Symbol.asyncIterator]();
  const iterator: AsyncIterator<T> = {
    next: async () => {
      holder.waitingSince = Date.now();
      try {
        return await it.next();
      } finally {
        holder.waitingSince = undefined;
      }
    },
    return: async () => {
      holder.waitingSince = undefined;
      return (await it.return?.()) ?? { done: true, value: undefined };
    },
  };
  return { [Symbol.asyncIterator]: () => iterator };
}
