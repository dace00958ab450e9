import { describe, expect, it } from "vitest";
import { PushSlots } from "./push-slots.js";

/** A push that runs until `end()`. */
function held() {
  let end!: () => void;
  const done = new Promise<void>((resolve) => {
    end = resolve;
  });
  return { run: () => done, end };
}

describe("push slots", () => {
  it("one per client, `max` in all: the per-client refusal says so, the full one says how many run", async () => {
    const slots = new PushSlots(2);
    const a = held();
    const running = slots.run("client-a", a.run);
    await expect(slots.run("client-a", async () => "no")).rejects.toMatchObject({
      code: "RESOURCE_EXHAUSTED",
      message:
        "a push or substitution by this client certificate is running already; one at a time per client",
    });
    const b = held();
    const other = slots.run("client-b", b.run);
    await expect(slots.run("client-c", async () => "no")).rejects.toMatchObject({
      code: "RESOURCE_EXHAUSTED",
      message: "2 pushes are running, the most this agent takes at once; retry when one has finished",
    });
    a.end();
    await running;
    await expect(slots.run("client-a", async () => "again")).resolves.toBe("again");
    b.end();
    await other;
  });

  it("a failed push frees its client's slot", async () => {
    const slots = new PushSlots(2);
    await expect(slots.run("client-a", () => Promise.reject(new Error("broke")))).rejects.toThrow("broke");
    await expect(slots.run("client-a", async () => "ok")).resolves.toBe("ok");
  });

  it("without a client (no TLS) only the total counts", async () => {
    const slots = new PushSlots(2);
    const [a, b] = [held(), held()];
    const both = [slots.run(undefined, a.run), slots.run(undefined, b.run)];
    await expect(slots.run(undefined, async () => "no")).rejects.toMatchObject({
      code: "RESOURCE_EXHAUSTED",
    });
    a.end();
    b.end();
    await Promise.all(both);
  });
});

describe("a stale push gives way to its client's next one", () => {
  /** A push reading `requests` that never yield (a link gone without a FIN); ends when aborted. */
  const waitingPush = (slots: PushSlots, client: string) =>
    slots.run(client, async (slot) => {
      const never: AsyncIterable<number> = {
        [Symbol.asyncIterator]: () => ({ next: () => new Promise<IteratorResult<number>>(() => undefined) }),
      };
      const it = slot.watch(never)[Symbol.asyncIterator]();
      await new Promise((_, reject) => {
        slot.signal.addEventListener("abort", () => reject(slot.signal.reason), { once: true });
        void it.next();
      });
    });

  it("replaced once it waited replaceAfterMs; refused before", async () => {
    const slots = new PushSlots(2, 50);
    const old = waitingPush(slots, "client-a");
    old.catch(() => undefined);
    await expect(slots.run("client-a", async () => "no")).rejects.toMatchObject({
      code: "RESOURCE_EXHAUSTED",
    });
    await new Promise((r) => setTimeout(r, 80));
    await expect(slots.run("client-a", async () => "new")).resolves.toBe("new");
    await expect(old).rejects.toMatchObject({
      code: "ABORTED",
      message: expect.stringMatching(/^replaced by a newer push from the same client certificate/),
    });
  });

  it("a substitution (no client stream to wait on) is never replaced", async () => {
    const slots = new PushSlots(2, 10);
    const a = held();
    const running = slots.run("client-a", a.run);
    await new Promise((r) => setTimeout(r, 40));
    await expect(slots.run("client-a", async () => "no")).rejects.toMatchObject({
      code: "RESOURCE_EXHAUSTED",
    });
    a.end();
    await running;
  });
});
