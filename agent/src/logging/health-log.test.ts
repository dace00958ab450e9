import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { HealthSummary } from "../deployment/record.js";
import { healthTransitionLogger } from "./health-log.js";

const round = (at: number, phase: string, healthy: boolean): HealthSummary => ({
  healthy,
  reason: "",
  phase,
  at,
  stableForSeconds: 0,
  checks: [
    {
      id: "unit:talker.service",
      kind: "unit",
      healthy,
      reason: healthy ? "active" : "failed",
      durationMs: 1,
    },
  ],
});

describe("health check transitions in the log", () => {
  it("logs a check when its verdict changes, with check, deployment and generation", () => {
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: "debug" }, { write: (l: string) => lines.push(JSON.parse(l)) });
    const logHealth = healthTransitionLogger(log);
    const ctx = { deploymentId: "d-1", generation: 4 };
    logHealth(round(1, "checking", true), ctx); // first verdict healthy: quiet
    logHealth(round(2, "checking", true), ctx);
    logHealth(round(3, "checking", false), ctx);
    logHealth(round(3, "checking", false), ctx); // the same round again (a state change re-emits it)
    logHealth(round(4, "checking", false), ctx);
    logHealth(round(5, "checking", true), ctx);
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      [40, "check unit:talker.service failed: failed"],
      [30, "check unit:talker.service passes again: active"],
    ]);
    expect(lines[0]).toMatchObject({
      check: "unit:talker.service",
      kind: "unit",
      deploymentId: "d-1",
      generation: 4,
    });
  });

  it("failing while settling is debug; still failing once settled is a warning", () => {
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: "debug" }, { write: (l: string) => lines.push(JSON.parse(l)) });
    const logHealth = healthTransitionLogger(log);
    logHealth(round(1, "settling", false), {});
    logHealth(round(2, "settling", false), {});
    logHealth(round(3, "checking", false), {});
    expect(lines.map((l) => l.level)).toEqual([20, 40]);
  });
});
