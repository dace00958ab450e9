import type { CommandContext } from "../../context/command.js";
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
import { type Attempt, attemptOn, type OnlineJson, untilOnline } from "./online.js";
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
  /**
   * --wait-online: a robot not reached when its wave comes waits (neither run nor
   * failed); after the last wave it is deployed if it comes online within this.
   */
  readonly onlineSeconds?: number | undefined;
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

  /** Robots offline at their wave (--wait-online): their wave, and since when they wait. */
  const waiting = new Map<string, { wave: number; since: number }>();
  const attempt = (t: Target, release?: ReleaseWindow, reached?: (at: number) => void): Promise<Attempt> =>
    attemptOn(
      ctx,
      (c) => runOnTarget(c, t.name, r.job(t, gate, release)),
      r.onlineSeconds !== undefined,
      reached,
    );
  const settle = (name: string, result: RobotResult, judged = true) => {
    results.set(name, result);
    ctx.log(`${name}: ${outcomeLabel(result)}: ${result.reason}`);
    if (judged) judgeProgress(result);
  };

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
        const a = await attempt(t);
        if (a.offline && r.onlineSeconds !== undefined) {
          // Not run: it counts neither as failed nor as finished until it is reached.
          waiting.set(t.name, { wave: w + 1, since: ctx.io.now() });
          ctx.log(`${t.name}: offline, waiting to come online: ${a.report.reason}`);
          return;
        }
        settle(t.name, robotResult(t.name, w + 1, a.report));
      }),
    );
    if (ctx.signal.aborted) break;
  }
  const held = targets.filter((t) => results.get(t.name)?.held != null);
  const seconds = r.releaseSeconds;
  const going = () => abortReason === undefined && !ctx.signal.aborted;
  const releaseUntil = ctx.io.now() + (seconds ?? 0) * 1000;
  const release: ReleaseWindow | undefined =
    seconds === undefined ? undefined : { seconds, until: () => releaseUntil, proceed: gate };
  const heldPhase = async () => {
    if (held.length === 0 || release === undefined || !going()) return;
    // After every wave: the held robots, together within one window.
    ctx.log(
      `rollout ${r.id}: waiting up to ${formatSeconds(release.seconds)} for held robots to be released: ${held.map((t) => t.name).join(", ")}`,
    );
    await Promise.all(
      held.map(async (t) => {
        const report = await runOnTarget(ctx, t.name, r.job(t, gate, release));
        settle(t.name, robotResult(t.name, results.get(t.name)?.wave ?? null, report));
      }),
    );
  };
  const onlinePhase = async () => {
    const window = r.onlineSeconds;
    if (waiting.size === 0 || window === undefined || !going()) return;
    // After every wave: a wave never stalls for a robot that may not come back today.
    const until = ctx.io.now() + window * 1000;
    ctx.log(
      `rollout ${r.id}: waiting up to ${formatSeconds(window)} for offline robots to come online: ${[...waiting.keys()].join(", ")}`,
    );
    await Promise.all(
      targets
        .filter((t) => waiting.has(t.name))
        .map(async (t) => {
          const w = waiting.get(t.name) as { wave: number; since: number };
          const a = await untilOnline(
            ctx.io,
            ctx.signal,
            until,
            () =>
              attempt(t, release, (at) =>
                ctx.log(`${t.name}: came online after ${formatSeconds((at - w.since) / 1000)}`),
              ),
            () => !going(),
          );
          if (a === undefined) return;
          const online: OnlineJson = {
            waitedSeconds: Math.round(((a.reachedAt ?? ctx.io.now()) - w.since) / 100) / 10,
            reachedAt: a.reachedAt === undefined ? null : new Date(a.reachedAt).toISOString(),
          };
          const result = { ...robotResult(t.name, w.wave, a.report), online };
          if (!a.offline) {
            settle(t.name, result);
            return;
          }
          // Missing: nothing ran on it, so it judges nothing (`--strict` counts it at the end).
          const reason = `offline: not reached within --wait-online ${window}: ${a.report.reason}`;
          settle(t.name, { ...result, reason }, false);
        }),
    );
  };
  await Promise.all([heldPhase(), onlinePhase()]);
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
        online: null,
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
    online: null,
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
