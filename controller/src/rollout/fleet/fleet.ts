import type { CommandContext } from "../../core/command.js";
import { UserError } from "../../core/errors.js";
import type { DeploymentReport } from "../../report/report.js";
import {
  classify,
  isFailure,
  judgeRollout,
  outcomeLabel,
  type RobotOutcome,
  type RobotResult,
  type RolloutResult,
} from "../../report/result.js";
import type { Strategy } from "../../report/strategy.js";
import { formatSeconds } from "../../report/views.js";
import type { Target } from "../../targets/inventory.js";
import { runOnTarget, type TargetJob } from "../run-on-target.js";
import type { ReleaseWindow } from "../wait-release.js";
import { Semaphore } from "./limit.js";
import { planWaves, resolveAmount } from "./strategy.js";

/** Thrown by a rollout's gate: the robot was not started because the rollout was aborted. */
export class NotStarted extends UserError {
  constructor(why: string) {
    super(`not started: ${why}`);
    this.name = "NotStarted";
  }
}

export interface Rollout {
  readonly id: string;
  readonly operation: "deploy" | "rollback";
  readonly strategy: Strategy;
  /** Every robot of the rollout, in its order (waves are cut from it). */
  readonly targets: readonly Target[];
  /** Robots that finished before (resume): their result stands, they are not run again. */
  readonly finished?: ReadonlyMap<string, RobotResult>;
  /**
   * The job for one robot; it must call `gate()` before it changes the robot
   * (after waiting for a slot). `release`: a held robot's retry waits this long.
   */
  readonly job: (target: Target, gate: () => void, release?: ReleaseWindow) => TargetJob<unknown>;
  /** --wait-for-release: robots skipped because held are retried after the last wave, within this. */
  readonly releaseSeconds?: number | undefined;
  /** --rollback-on-abort: the job that moves a robot back to its recorded previous generation. */
  readonly rollbackJob: () => TargetJob<unknown>;
}

/**
 * Runs a rollout: waves one after the other (the canary alone first), the
 * robots of a wave at once (their transfers limited by the job), a pause
 * between waves. A robot's failure is counted as it ends; past the limit —
 * or any failure among the canary — the rollout aborts: running robots are
 * followed to their end, no further robot is started, and with
 * --rollback-on-abort the robots it moved go back.
 */
export async function runRollout(ctx: CommandContext, r: Rollout): Promise<RolloutResult> {
  const { strategy: s, targets } = r;
  const total = targets.length;
  const results = new Map<string, RobotResult>(r.finished ?? []);
  const allowed = resolveAmount(s.maxFailures, total);
  let abortReason: string | undefined;
  const failures = () => [...results.values()].filter((x) => isFailure(x, s.strict)).length;
  const abort = (why: string) => {
    if (abortReason !== undefined) return;
    abortReason = why;
    ctx.log(`rollout ${r.id}: ABORTED: ${why}; no further robot is started`);
  };
  const gate = () => {
    if (abortReason !== undefined) throw new NotStarted(`the rollout was aborted (${abortReason})`);
  };
  const waves = planWaves(total, s);
  const inCanary = new Set(s.canary > 0 ? (waves[0] ?? []).map((i) => (targets[i] as Target).name) : []);
  /** After each robot's end: a failed canary, or too many failures, aborts. */
  const judgeProgress = (result: RobotResult) => {
    const failed = failures();
    const finished = [...results.values()].filter((x) => x.outcome !== "not-started").length;
    if (inCanary.has(result.target) && isFailure(result, s.strict)) {
      abort(`canary ${result.target} ${result.outcome}`);
    } else if (failed > allowed && finished >= s.minSample) {
      abort(`${failed} robots failed, more than --max-failures allows (${allowed})`);
    }
  };
  // Resumed: what the robots already went through may have ended the rollout.
  for (const result of r.finished?.values() ?? []) judgeProgress(result);

  for (const [w, wave] of waves.entries()) {
    const todo = wave.map((i) => targets[i] as Target).filter((t) => !results.has(t.name));
    if (todo.length === 0) continue;
    if (abortReason !== undefined) break;
    if (w > 0 && s.pauseSeconds > 0 && results.size > (r.finished?.size ?? 0)) {
      ctx.log(`rollout ${r.id}: pausing ${s.pauseSeconds}s before wave ${w + 1}`);
      await ctx.io.sleep(s.pauseSeconds * 1000, ctx.signal).catch(() => undefined);
      if (ctx.signal.aborted) break;
    }
    const canary = w === 0 && s.canary > 0;
    ctx.log(
      `rollout ${r.id}: wave ${w + 1}/${waves.length}${canary ? " (canary)" : ""}: ${todo.map((t) => t.name).join(", ")}`,
    );
    await Promise.all(
      todo.map(async (t) => {
        const report = await runOnTarget(ctx, t.name, r.job(t, gate));
        const result = robotResult(t.name, w + 1, report);
        results.set(t.name, result);
        ctx.log(`${t.name}: ${outcomeLabel(result)}: ${result.reason}`);
        judgeProgress(result);
      }),
    );
    if (ctx.signal.aborted) break;
  }
  const held = targets.filter((t) => results.get(t.name)?.held != null);
  const seconds = r.releaseSeconds;
  if (held.length > 0 && seconds !== undefined && abortReason === undefined && !ctx.signal.aborted) {
    // After every wave: the held robots, together within one window.
    const until = ctx.io.now() + seconds * 1000;
    ctx.log(
      `rollout ${r.id}: waiting up to ${formatSeconds(seconds)} for held robots to be released: ${held.map((t) => t.name).join(", ")}`,
    );
    const release: ReleaseWindow = { seconds, until: () => until, proceed: gate };
    await Promise.all(
      held.map(async (t) => {
        const report = await runOnTarget(ctx, t.name, r.job(t, gate, release));
        const result = robotResult(t.name, results.get(t.name)?.wave ?? null, report);
        results.set(t.name, result);
        ctx.log(`${t.name}: ${outcomeLabel(result)}: ${result.reason}`);
        judgeProgress(result);
      }),
    );
  }
  for (const t of targets) {
    if (!results.has(t.name)) {
      const why = abortReason === undefined ? "interrupted" : `the rollout was aborted (${abortReason})`;
      results.set(t.name, {
        target: t.name,
        wave: null,
        outcome: "not-started",
        reason: why,
        report: null,
        rollback: null,
        held: null,
      });
    }
  }
  if (abortReason !== undefined && s.rollbackOnAbort && !ctx.signal.aborted)
    await rollBackMoved(ctx, r, results);
  const robots = targets.map((t) => results.get(t.name) as RobotResult);
  return {
    rolloutId: r.id,
    operation: r.operation,
    strategy: s,
    robots,
    ...judgeRollout(robots, s, abortReason),
  };
}

function robotResult(target: string, wave: number | null, report: DeploymentReport): RobotResult {
  const notStarted = report.outcome === "unchanged" && report.reason.startsWith("not started: ");
  const outcome: RobotOutcome = notStarted ? "not-started" : classify(report);
  const held =
    outcome === "skipped" && report.held !== null && !report.held.released ? report.held.holds : null;
  return {
    target,
    wave,
    outcome,
    reason: report.reason,
    report: notStarted ? null : report,
    rollback: null,
    held,
  };
}

/** --rollback-on-abort: every robot this rollout moved goes back to its own recorded previous generation. */
async function rollBackMoved(
  ctx: CommandContext,
  r: Rollout,
  results: Map<string, RobotResult>,
): Promise<void> {
  const moved = [...results.values()].filter((x) => x.outcome === "succeeded");
  if (moved.length === 0) return;
  ctx.log(`rollout ${r.id}: rolling back ${moved.map((x) => x.target).join(", ")} (--rollback-on-abort)`);
  const slots = new Semaphore(Math.max(1, r.strategy.maxParallel));
  await Promise.all(
    moved.map((x) =>
      slots.run(async () => {
        const rollback = await runOnTarget(ctx, x.target, r.rollbackJob());
        ctx.log(`${x.target}: rolled back on abort: ${rollback.outcome}`);
        results.set(x.target, { ...x, rollback });
      }),
    ),
  );
}
