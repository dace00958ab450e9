// How many robots a read-only fleet command asks at once: connects that really overlap, counted.
import { describe, expect, it } from "vitest";
import type { AgentApi } from "../agent-api.js";
import type { CommandContext } from "../context/command.js";
import type { Target } from "../targets/inventory.js";
import { captureIo } from "../testing/capture-io.js";
import { askEachTarget, READ_PARALLEL, readParallel } from "./each-target.js";

const target = (i: number): Target => ({
  name: `r${i}`,
  address: `127.0.0.1:${i + 1}`,
  caFile: "ca.pem",
  certFile: "c.pem",
  keyFile: "c.key",
  serverName: undefined,
});

/**
 * A context whose connects to `n` robots each wait until `want` are open at once (or 2 s
 * pass: fewer at once then), so the most ever in flight is what the pool allowed.
 */
function overlapping(n: number, want: number, env: Record<string, string> = {}) {
  let inFlight = 0;
  let most = 0;
  const waiting: (() => void)[] = [];
  const connect = async (o?: { target?: string | undefined }): Promise<AgentApi> => {
    inFlight++;
    most = Math.max(most, inFlight);
    await new Promise<void>((resolve) => {
      waiting.push(resolve);
      if (inFlight >= want) for (const w of waiting.splice(0)) w();
      setTimeout(resolve, 2_000).unref();
    });
    inFlight--;
    return { target: { name: o?.target ?? "?" }, close: () => undefined } as unknown as AgentApi;
  };
  const targets = Array.from({ length: n }, (_, i) => target(i));
  const ctx = {
    io: captureIo({ cwd: "/", env }).io,
    connect,
    selectTargets: async () => targets,
  } as unknown as CommandContext;
  return { ctx, most: () => most };
}

describe("askEachTarget", () => {
  it("asks READ_PARALLEL robots at once, no more, and answers in the inventory's order", async () => {
    const o = overlapping(READ_PARALLEL * 3, READ_PARALLEL);
    const answers = await askEachTarget(o.ctx, async (api) => api.target.name);
    expect(answers.map((a) => a.ok && a.value)).toEqual(
      Array.from({ length: READ_PARALLEL * 3 }, (_, i) => `r${i}`),
    );
    expect(o.most()).toBe(READ_PARALLEL);
  });

  it("takes $ROS_ROLLBACK_READ_PARALLEL (1–64); anything else is the default", async () => {
    const o = overlapping(9, 3, { ROS_ROLLBACK_READ_PARALLEL: "3" });
    await askEachTarget(o.ctx, async () => 1);
    expect(o.most()).toBe(3);
    for (const bad of ["0", "65", "-1", "2.5", "x", ""]) {
      expect(readParallel({ ROS_ROLLBACK_READ_PARALLEL: bad })).toBe(READ_PARALLEL);
    }
    expect(readParallel({})).toBe(READ_PARALLEL);
    expect(readParallel({ ROS_ROLLBACK_READ_PARALLEL: "64" })).toBe(64);
  });
});
