import { describe, expect, it } from "vitest";
import { type Outcome, planRetention, type RetentionFacts } from "./retention.js";

const path = (n: number) => `/nix/store/${String(n).padStart(32, "a")}-nixos-system-${n}`;

function facts(numbers: readonly number[], over: Partial<RetentionFacts> = {}): RetentionFacts {
  return {
    generations: numbers.map((number) => ({ number, storePath: path(number) })),
    current: numbers.at(-1),
    bootedSystem: undefined,
    runningSystem: undefined,
    previous: undefined,
    held: new Set(),
    snapshotReferenced: new Set(),
    outcomes: new Map(),
    ...over,
  };
}

const kept = (f: RetentionFacts, keepGenerations: number) =>
  planRetention({ keepGenerations }, f).keep.map((k) => k.number);

describe("planRetention", () => {
  const FLAGS = ["current", "booted", "previous", "held", "failed", "snapshot"] as const;
  // Generation 1 is old (beyond keepGenerations = 2 of 2..4); every combination of its flags.
  for (let mask = 0; mask < 1 << FLAGS.length; mask++) {
    const on = new Set(FLAGS.filter((_, i) => (mask & (1 << i)) !== 0));
    const name = on.size === 0 ? "none" : [...on].join("+");
    it(`an old generation that is ${name}`, () => {
      const outcomes = new Map<number, Outcome>([
        [2, "good"],
        [3, "good"],
        [4, "good"],
      ]);
      if (on.has("failed")) outcomes.set(1, "failed");
      const f = facts([1, 2, 3, 4], {
        current: on.has("current") ? 1 : 4,
        bootedSystem: on.has("booted") ? path(1) : path(4),
        runningSystem: path(4),
        previous: on.has("previous") ? 1 : 3,
        held: new Set(on.has("held") ? [1] : []),
        snapshotReferenced: new Set(on.has("snapshot") ? [1] : []),
        outcomes,
      });
      const plan = planRetention({ keepGenerations: 2 }, f);
      const mustStay = on.has("current") || on.has("held");
      const mayStay = !on.has("failed") && (on.has("booted") || on.has("previous") || on.has("snapshot"));
      const one = plan.keep.find((k) => k.number === 1);
      if (mustStay || mayStay) {
        expect(one).toBeDefined();
        expect(plan.remove.map((r) => r.number)).not.toContain(1);
      } else {
        expect(one).toBeUndefined();
        expect(plan.remove).toContainEqual({
          number: 1,
          reason: on.has("failed") ? "failed" : "beyond-policy",
        });
      }
      // The newest two good ones stay in every case; nothing is both kept and removed.
      expect(plan.keep.map((k) => k.number)).toEqual(expect.arrayContaining([3, 4]));
      const removed = new Set(plan.remove.map((r) => r.number));
      expect(plan.keep.filter((k) => removed.has(k.number))).toEqual([]);
      expect(plan.keep.length + plan.remove.length).toBe(4);
    });
  }

  it("keeps the newest N not known to have failed; failed ones do not count toward N", () => {
    const outcomes = new Map<number, Outcome>([
      [9, "failed"],
      [8, "good"],
      [7, "failed"],
      [5, "good"],
    ]);
    const f = facts([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], { outcomes });
    // 10 (current, no outcome yet), 8, 6 (made by hand: unknown counts as not failed).
    expect(kept(f, 3)).toEqual([6, 8, 10]);
    expect(planRetention({ keepGenerations: 3 }, f).remove).toEqual([
      { number: 1, reason: "beyond-policy" },
      { number: 2, reason: "beyond-policy" },
      { number: 3, reason: "beyond-policy" },
      { number: 4, reason: "beyond-policy" },
      { number: 5, reason: "beyond-policy" },
      { number: 7, reason: "failed" },
      { number: 9, reason: "failed" },
    ]);
  });

  it("a rollback's newer failed generations go, unlike --delete-generations +N", () => {
    // Deployed 5 (good), 6 and 7 failed and were rolled back to 5, which is current again.
    const outcomes = new Map<number, Outcome>([
      [5, "good"],
      [6, "failed"],
      [7, "failed"],
    ]);
    const f = facts([3, 4, 5, 6, 7], { current: 5, previous: 5, runningSystem: path(5), outcomes });
    expect(kept(f, 3)).toEqual([3, 4, 5]);
  });

  it("keeps the running system's generation and says why", () => {
    const f = facts([1, 2, 3], { runningSystem: path(1) });
    expect(planRetention({ keepGenerations: 1 }, f).keep).toEqual([
      { number: 1, reasons: ["running"] },
      { number: 3, reasons: ["current", "recent"] },
    ]);
  });

  it("keeps only the newest generation of the booted / running store path", () => {
    // 1 and 3 are the same system (deployed again); the robot booted and runs it.
    const f = facts([1, 2, 3, 4], {
      generations: [1, 2, 3, 4].map((n) => ({ number: n, storePath: path(n === 3 ? 1 : n) })),
      bootedSystem: path(1),
      runningSystem: path(1),
    });
    expect(planRetention({ keepGenerations: 1 }, f).keep).toEqual([
      { number: 3, reasons: ["booted", "running"] },
      { number: 4, reasons: ["current", "recent"] },
    ]);
  });

  it("keepGenerations 0 keeps only what something needs", () => {
    const f = facts([1, 2, 3], { previous: 2 });
    expect(kept(f, 0)).toEqual([2, 3]);
  });

  it("an empty profile plans nothing", () => {
    expect(planRetention({ keepGenerations: 5 }, facts([]))).toEqual({ keep: [], remove: [] });
  });
});
