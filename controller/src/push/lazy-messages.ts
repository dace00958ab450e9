import type { PushMessages } from "../closure/port.js";

/**
 * Push messages whose producer is loaded on the first read: a push that sends nothing never
 * loads the push code. Calls made before the load are replayed on the loaded stream.
 */
export function lazyMessages(load: () => Promise<PushMessages>): PushMessages {
  let inner: PushMessages | undefined;
  let expected = false;
  return {
    written: (m) => inner?.written(m),
    expectAgentProgress: () => {
      expected = true;
      inner?.expectAgentProgress?.();
    },
    agentProgress: (p) => inner?.agentProgress?.(p),
    async *[Symbol.asyncIterator]() {
      inner = await load();
      if (expected) inner.expectAgentProgress?.();
      yield* inner;
    },
  };
}
