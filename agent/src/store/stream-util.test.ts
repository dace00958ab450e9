import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { isAgentError } from "../errors.js";
import { IdleWatch, streamBroke } from "./stream-util.js";

/** An iterator whose next() answers at once `n` times, then never. */
function messages(n: number): AsyncIterator<number> {
  let i = 0;
  return {
    next: () => (i < n ? Promise.resolve({ done: false, value: i++ }) : new Promise(() => undefined)),
  };
}

describe("IdleWatch", () => {
  it("fails a wait for the next message that lasts idleMs with TIMEOUT", async () => {
    const watch = new IdleWatch(new AbortController().signal, 30);
    const it = messages(1);
    expect(await watch.next(it, streamBroke)).toEqual({ done: false, value: 0 });
    const err = await watch.next(it, streamBroke).catch((e: unknown) => e);
    watch.close();
    expect(isAgentError(err) && err.code).toBe("TIMEOUT");
    expect((err as Error).message).toBe("the client sent nothing for 0.03s in the middle of a push");
  });

  it("does not count the time between waits (our own work, backpressure from nix)", async () => {
    const watch = new IdleWatch(new AbortController().signal, 30);
    const it = messages(3);
    for (let i = 0; i < 3; i++) {
      expect(await watch.next(it, streamBroke)).toEqual({ done: false, value: i });
      await sleep(90); // three idle periods long, but not waiting for the client
    }
    watch.close();
  });

  it("an abort of the outer signal ends the wait with its reason", async () => {
    const ac = new AbortController();
    const watch = new IdleWatch(ac.signal, 60_000);
    const waiting = watch.next(messages(0), streamBroke);
    ac.abort(new Error("shutting down"));
    await expect(waiting).rejects.toThrow("shutting down");
    watch.close();
  });
});
