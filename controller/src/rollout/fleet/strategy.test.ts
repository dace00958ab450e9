import { describe, expect, it } from "vitest";
import { UsageError } from "../../core/errors.js";
import { judgeRollout, type RobotOutcome, type RobotResult } from "../../report/result.js";
import type { Strategy } from "../../report/strategy.js";
import {
  DEFAULT_STRATEGY,
  decodeLabel,
  encodeLabel,
  newRolloutId,
  parseAmount,
  planWaves,
  ROLLOUT_ID,
} from "./strategy.js";

const s = (o: Partial<Strategy>): Strategy => ({ ...DEFAULT_STRATEGY, ...o });

describe("planWaves", () => {
  it.each([
    [5, s({}), [[0, 1, 2, 3, 4]]],
    [5, s({ canary: 1, batch: { kind: "count", n: 2 } }), [[0], [1, 2], [3, 4]]],
    [5, s({ canary: 9 }), [[0, 1, 2, 3, 4]]],
    [10, s({ batch: { kind: "percent", p: 25 } }), [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]],
    [3, s({ batch: { kind: "percent", p: 1 } }), [[0], [1], [2]]],
    [0, s({ canary: 2 }), []],
  ])("%i robots, %j", (total, strategy, waves) => {
    expect(planWaves(total, strategy)).toEqual(waves);
  });
});

describe("the rollout label", () => {
  it("carries the id and the whole strategy, and reads back", () => {
    const strategy = s({
      canary: 2,
      batch: { kind: "percent", p: 25 },
      maxParallel: 3,
      maxFailures: { kind: "percent", p: 10 },
      minSample: 4,
      pauseSeconds: 30,
      rollbackOnAbort: true,
      strict: true,
    });
    const id = newRolloutId(Date.UTC(2026, 10, 29, 16, 1, 2), () => 0.5);
    expect(id).toBe("r-20261129160102-800000");
    expect(id).toMatch(ROLLOUT_ID);
    const label = encodeLabel(id, strategy);
    expect(label).toMatch(/^[\x20-\x7e]{1,512}$/);
    expect(decodeLabel(label)).toEqual({ id, strategy });
  });

  it.each([[""], ["health=x"], ["rollout=nope;canary=1"], [`rollout=r-20261129160102-800000;canary=x`]])(
    "is not a rollout's: %j",
    (label) => {
      expect(decodeLabel(label)).toBeUndefined();
    },
  );
});

describe("parseAmount", () => {
  it("takes counts and percentages, refuses the rest with a bounded message", () => {
    expect(parseAmount("3", "batch", "deploy", false)).toEqual({ kind: "count", n: 3 });
    expect(parseAmount("25%", "batch", "deploy", false)).toEqual({ kind: "percent", p: 25 });
    expect(parseAmount("0", "max-failures", "deploy", true)).toEqual({ kind: "count", n: 0 });
    for (const bad of ["0", "0%", "101%", "-1", "1.5", "x".repeat(1000)]) {
      expect(() => parseAmount(bad, "batch", "deploy", false)).toThrow(UsageError);
    }
    expect(() => parseAmount("x".repeat(1000), "batch", "deploy", false)).toThrow(/^.{0,200}$/);
  });
});

describe("judgeRollout", () => {
  const robot = (outcome: RobotOutcome, rolledBack = false): RobotResult => ({
    target: "r",
    wave: 1,
    outcome,
    reason: "",
    report: null,
    rollback: rolledBack ? ({ exitCode: 0 } as RobotResult["rollback"]) : null,
    held: null,
    online: null,
  });
  it.each([
    [["succeeded", "succeeded"], undefined, "succeeded", 0],
    [["succeeded", "skipped"], undefined, "partial", 6],
    [["skipped", "skipped"], undefined, "unchanged", 1],
    [["failed", "not-started"], "canary", "aborted", 2],
    [["succeeded", "failed"], "too many", "aborted", 3],
    [["succeeded", "failed"], undefined, "failed", 3],
    [["succeeded", "uncertain"], undefined, "failed", 3],
  ] as const)("%j (abort: %s) → %s, exit %i", (outcomes, abort, outcome, exitCode) => {
    const verdict = judgeRollout(
      outcomes.map((o) => robot(o)),
      DEFAULT_STRATEGY,
      abort,
    );
    expect(verdict).toMatchObject({ outcome, exitCode });
  });

  it("exit 2 once every robot it moved was rolled back on abort; --strict makes skipped a failure", () => {
    expect(judgeRollout([robot("succeeded", true), robot("failed")], DEFAULT_STRATEGY, "x").exitCode).toBe(2);
    expect(
      judgeRollout([robot("succeeded"), robot("skipped")], s({ strict: true }), undefined),
    ).toMatchObject({
      outcome: "failed",
      exitCode: 3,
    });
  });

  it("a held robot is skipped but never a failure, even with --strict", () => {
    const held: RobotResult = { ...robot("skipped"), held: [] };
    expect(judgeRollout([robot("succeeded"), held], s({ strict: true }), undefined)).toMatchObject({
      outcome: "partial",
      exitCode: 6,
      reason: "1 succeeded, 0 failed, 0 uncertain, 1 skipped (1 held), 0 not started",
    });
    expect(judgeRollout([held, held], DEFAULT_STRATEGY, undefined)).toMatchObject({
      outcome: "unchanged",
      exitCode: 1,
    });
  });
});
