import { describe, expect, it } from "vitest";
import { eachRun } from "./vm.js";

describe("vm suite runs", () => {
  it("a failed run is recorded and the next one still runs", async () => {
    const ran: number[] = [];
    const lines: string[] = [];
    const failures = await eachRun(
      3,
      async (r) => {
        ran.push(r);
        if (r === 2) throw new Error(`deploy kernel-ok exited 3, not 0: ${"x".repeat(2_000)}`);
      },
      (l) => lines.push(l),
    );
    expect(ran).toEqual([1, 2, 3]);
    expect(failures).toHaveLength(1);
    expect(failures[0]?.run).toBe(2);
    expect(failures[0]?.error.length).toBe(500);
    expect(lines).toEqual([expect.stringMatching(/^vm run 2\/3 FAILED: deploy kernel-ok exited 3/)]);
  });

  it("every run failed: an error, not an empty result", async () => {
    await expect(
      eachRun(
        2,
        async () => {
          throw new Error("boot past its bound");
        },
        () => {},
      ),
    ).rejects.toThrow(/every run failed; run 1: boot past its bound/);
  });
});
