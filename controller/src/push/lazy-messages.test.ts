import type { PushPathsRequest, RawPushProgress } from "@ros-rollback/proto";
import { describe, expect, it } from "vitest";
import type { PushMessages } from "../closure/port.js";
import { lazyMessages } from "./lazy-messages.js";

/** A loaded stream that records what it was told. */
function recording(messages: PushPathsRequest[]) {
  const told: string[] = [];
  const stream: PushMessages = {
    written: () => told.push("written"),
    expectAgentProgress: () => told.push("expect"),
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
  it("loads on the first read, and replays the progress announcement made before it", async () => {
    const { stream, told } = recording([message]);
    let loads = 0;
    const lazy = lazyMessages(async () => {
      loads++;
      return stream;
    });
    lazy.expectAgentProgress?.();
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
    expect(told).toEqual(["expect", "written", "progress 7"]);
  });

  it("passes an announcement made after the load straight on", async () => {
    const { stream, told } = recording([message, message]);
    const lazy = lazyMessages(async () => stream);
    const it = lazy[Symbol.asyncIterator]();
    await it.next();
    lazy.expectAgentProgress?.();
    await it.next();
    expect(told).toEqual(["expect"]);
  });

  it("without an announcement the loaded stream is never told to expect progress", async () => {
    const { stream, told } = recording([message]);
    const lazy = lazyMessages(async () => stream);
    for await (const _ of lazy) lazy.agentProgress?.(report);
    expect(told).toEqual(["progress 7"]);
  });
});
