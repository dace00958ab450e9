import type { PushPathsRequest, RawPushProgress } from "@ros-rollback/proto";
import { describe, expect, it } from "vitest";
import type { PushMessages } from "../closure/port.js";
import { lazyMessages } from "./lazy-messages.js";

/** A loaded stream that records what it was told. */
function recording(messages: PushPathsRequest[]) {
  const told: string[] = [];
  const stream: PushMessages = {
    written: () => told.push("written"),
    agentProgress: (p) => told.push(`progress ${p.wireBytes}`),
    async *[Symbol.asyncIterator]() {
      yield* messages;
    },
  };
  return { stream, told };
}

const message = { paths: [] } as unknown as PushPathsRequest;
const report: RawPushProgress = { wireBytes: 7, narBytes: 9, waitedUs: 0 };

describe("lazyMessages", () => {
  it("loads on the first read; reports and confirmations reach the loaded stream", async () => {
    const { stream, told } = recording([message]);
    let loads = 0;
    const lazy = lazyMessages(async () => {
      loads++;
      return stream;
    });
    lazy.agentProgress?.(report); // before the load: nothing to measure yet
    expect(loads).toBe(0);
    const got: PushPathsRequest[] = [];
    for await (const m of lazy) {
      got.push(m);
      lazy.written(m);
      lazy.agentProgress?.(report);
    }
    expect(loads).toBe(1);
    expect(got).toEqual([message]);
    expect(told).toEqual(["written", "progress 7"]);
  });
});
