import type { PushPathsRequest } from "@ros-rollback/proto";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { NixStore } from "./nix-store.js";
import { receivePush } from "./receive-push.js";

// The default opening limit (issue 24), on the clock: push-slots-tls.test.ts shows a short one
// over real connections; this is the receiver with no limit given, on fake timers.

/** Fails the test on any use: a push that never starts must not touch the store. */
const untouchedStore = new Proxy({} as NixStore, {
  get: (_, name) => {
    throw new Error(`the store was used: ${String(name)}`);
  },
});

/** A client that connected and never sends a message. */
const silence = (): AsyncIterable<PushPathsRequest> => ({
  [Symbol.asyncIterator]: () => ({ next: () => new Promise<never>(() => undefined) }),
});

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("a push whose first message does not come", () => {
  it("ends with TIMEOUT after 15 s by default, not the 120 s idle limit", async () => {
    let outcome: unknown;
    const push = receivePush(
      silence(),
      { store: untouchedStore, trustedKeys: [] },
      new AbortController().signal,
    );
    push.then(
      () => {
        outcome = "resolved";
      },
      (e: unknown) => {
        outcome = e;
      },
    );
    await vi.advanceTimersByTimeAsync(14_999);
    expect(outcome).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(outcome).toMatchObject({
      code: "TIMEOUT",
      message: "the client sent nothing for 15s after it connected",
    });
  });
});
