import { secs } from "./checks/ros.js";
import type { CheckResult } from "./checks/types.js";
import type { Clock } from "./clock.js";
import { type Baseline, type HealthDeps, runRound, throwIfAborted } from "./round.js";
import type { HealthSpec } from "./spec.js";

export type { HealthDeps } from "./round.js";

/** One round of checks, as given to `onReport` and returned by `snapshot`. */
export interface HealthReport {
  readonly round: number;
  /**
   * - `settling`: inside `settleSeconds`; the round does not count.
   * - `checking`: counts towards (or breaks) the stable period.
   * - `snapshot`: a single on-demand round.
   */
  readonly phase: "settling" | "checking" | "snapshot";
  /** Since the evaluation started (0 for a snapshot). */
  readonly elapsedSeconds: number;
  /** Every check in this round was healthy. */
  readonly healthy: boolean;
  /** Length of the current run of healthy counted rounds. */
  readonly stableForSeconds: number;
  readonly results: readonly CheckResult[];
  /** The unhealthy checks' reasons joined with "; " (empty when healthy). */
  readonly reason: string;
}

export interface HealthOutcome {
  readonly healthy: boolean;
  /** Names the failing check(s), e.g. "unit talker.service failed (Result=exit-code)". */
  readonly reason: string;
  /** The last round. */
  readonly report: HealthReport;
}

/** Successive rounds against one baseline (see HealthChecker.monitor). */
export interface HealthMonitor {
  round(signal: AbortSignal): Promise<HealthReport>;
}

export interface EvaluateOptions {
  /** Called after every round, synchronously; an exception ends the evaluation with it. */
  readonly onReport?: (report: HealthReport) => void;
}

/**
 * Waits `settleSeconds` (rounds run and are reported, but do not count), then
 * requires every check to pass in every round for `stableSeconds`, within
 * `timeoutSeconds`. Gives up early once a stable period can no longer fit.
 * Rejects only when `signal` is aborted (AgentError ABORTED).
 */
export async function evaluateHealth(
  spec: HealthSpec,
  deps: HealthDeps,
  options: EvaluateOptions,
  signal: AbortSignal,
): Promise<HealthOutcome> {
  const { clock } = deps;
  const start = clock.now();
  const settleEnd = start + spec.settleSeconds * 1000;
  const deadline = settleEnd + spec.timeoutSeconds * 1000;
  const stableMs = spec.stableSeconds * 1000;
  let baseline: Baseline | undefined;
  let streakStart: number | undefined;
  let lastFailure = "";
  for (let round = 1; ; round++) {
    throwIfAborted(signal);
    const roundStart = clock.now();
    const settling = roundStart < settleEnd;
    const { results, observed } = await runRound(spec, deps, baseline, signal);
    throwIfAborted(signal);
    const now = clock.now();
    const healthy = results.every((r) => r.healthy);
    const continues = healthy && !settling && streakStart !== undefined;
    if (settling || !healthy) streakStart = undefined;
    else streakStart ??= roundStart;
    // The baseline is held during a streak, so restarts anywhere in it are seen.
    if (!continues) baseline = observed;
    const stableForMs = streakStart === undefined ? 0 : now - streakStart;
    const report = makeReport(round, settling ? "settling" : "checking", now - start, stableForMs, results);
    options.onReport?.(report);
    if (!healthy) lastFailure = report.reason;
    if (streakStart !== undefined && stableForMs >= stableMs)
      return { healthy: true, reason: `healthy for ${spec.stableSeconds} s (${round} rounds)`, report };

    const nextStart = Math.max(now, roundStart + spec.intervalSeconds * 1000);
    const earliestStableEnd = (streakStart ?? Math.max(nextStart, settleEnd)) + stableMs;
    if (now >= deadline || earliestStableEnd > deadline) {
      const so = streakStart === undefined ? "" : ` (healthy for only ${secs(stableForMs)} s)`;
      const why = lastFailure === "" ? "no failure seen" : lastFailure;
      return {
        healthy: false,
        reason: `not healthy for ${spec.stableSeconds} s within ${spec.timeoutSeconds} s${so}: ${why}`,
        report,
      };
    }
    await sleepOrAbort(clock, nextStart - now, signal);
  }
}

/**
 * Evaluates specs and takes on-demand snapshots with the same deps. A
 * snapshot compares unit restarts and the master's run id against the
 * previous snapshot (not against a running evaluation, which it leaves alone).
 */
export class HealthChecker {
  private snapshots = 0;

  constructor(
    private readonly spec: HealthSpec,
    private readonly deps: HealthDeps,
  ) {}

  evaluate(
    options: EvaluateOptions,
    signal: AbortSignal,
    spec: HealthSpec = this.spec,
  ): Promise<HealthOutcome> {
    return evaluateHealth(spec, this.deps, options, signal);
  }

  /**
   * One round now, for a CheckHealth RPC: the current state only. Restarts
   * are not judged (there is no window to judge them in).
   */
  async snapshot(signal: AbortSignal, spec: HealthSpec = this.spec): Promise<HealthReport> {
    const { results } = await runRound(spec, this.deps, undefined, signal);
    this.snapshots += 1;
    return makeReport(this.snapshots, "snapshot", 0, 0, results);
  }

  /**
   * Rounds that keep watching a system already judged healthy (while a
   * deployment waits for Confirm): the first round is the baseline, and a
   * unit restart or a new master run id after it is unhealthy.
   */
  monitor(spec: HealthSpec = this.spec): HealthMonitor {
    let baseline: Baseline | undefined;
    let round = 0;
    const started = this.deps.clock.now();
    return {
      round: async (signal) => {
        const { results, observed } = await runRound(spec, this.deps, baseline, signal);
        baseline ??= observed;
        round += 1;
        return makeReport(round, "checking", this.deps.clock.now() - started, 0, results);
      },
    };
  }

  /** Stops the ROS monitor (if any). Call it on SIGTERM/SIGINT before exiting. */
  async close(): Promise<void> {
    await this.deps.ros?.monitor.close();
  }
}

function makeReport(
  round: number,
  phase: HealthReport["phase"],
  elapsedMs: number,
  stableForMs: number,
  results: readonly CheckResult[],
): HealthReport {
  const failing = results.filter((r) => !r.healthy);
  return {
    round,
    phase,
    elapsedSeconds: elapsedMs / 1000,
    healthy: failing.length === 0,
    stableForSeconds: stableForMs / 1000,
    results,
    reason: failing.map((r) => r.reason).join("; "),
  };
}

async function sleepOrAbort(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  try {
    await clock.sleep(ms, signal);
  } catch (e) {
    throwIfAborted(signal);
    throw e;
  }
}
