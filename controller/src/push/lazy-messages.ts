import type { PushMessages } from "../closure/port.js";

/**
 * Push messages whose producer is loaded on the first read: a push that sends nothing never
 * loads the push code. Reports before the load are dropped: nothing was sent to measure.
 */
export function lazyMessages(load: () => Promise<PushMessages>): PushMessages {
  let inner: PushMessages | undefined;
  return {
    written: (m) => inner?.written(m),
    agentProgress: (p) => inner?.agentProgress?.(p),
    async *[Symbol.asyncIterator]() {
      inner = await load();
      yield* inner;
    },
  };
}
