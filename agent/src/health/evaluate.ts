import { AgentError } from "../errors.js";
import type { CommandRunner } from "../system/command.js";
import { execProbe, type Fetch, httpProbe } from "./checks/probes.js";
import { checkMaster, judgeNode, judgeTopic, secs } from "./checks/ros.js";
import { type CheckKind, type CheckResult, describeError } from "./checks/types.js";
import {
  judgeFailedUnits,
  judgeUnit,
  listFailedUnits,
  readUnits,
  type UnitState,
  type Verdict,
} from "./checks/units.js";
import type { Clock } from "./clock.js";
import type { RosGraph, TopicMonitor } from "./ros/graph.js";
import type { HealthSpec } from "./spec.js";

export interface HealthDeps {
  readonly clock: Clock;
  /** Runs `systemctl` and exec probes. */
  readonly runner: CommandRunner;
  /** For HTTP probes (the global `fetch` in production). */
  readonly fetch: Fetch;
  /** Needed when the spec has a `ros` section; without it every ROS check is unhealthy. */
  readonly ros?: { readonly graph: RosGraph; readonly monitor: TopicMonitor };
}

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

/** What a round compares against to tell "restarted during the window". */
interface Baseline {
  readonly units: ReadonlyMap<string, UnitState>;
  readonly runId: string | undefined;
}

const EMPTY: Baseline = { units: new Map(), runId: undefined };

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

interface Round {
  readonly results: CheckResult[];
  readonly observed: Baseline;
}

interface Planned {
  readonly id: string;
  readonly kind: CheckKind;
}

/** One round: every check group in parallel, each bounded by its own timeout. */
export async function runRound(
  spec: HealthSpec,
  deps: HealthDeps,
  baseline: Baseline | undefined,
  signal: AbortSignal,
): Promise<Round> {
  const base = baseline ?? EMPTY;
  let units: ReadonlyMap<string, UnitState> = base.units;
  let runId = base.runId;
  const groups: Promise<CheckResult[]>[] = [];
  const checkMs = spec.checkTimeoutSeconds * 1000;

  if (spec.systemd.units.length > 0) {
    const planned = spec.systemd.units.map((u) => ({ id: `unit:${u.name}`, kind: "unit" as const }));
    groups.push(
      bounded(deps.clock, planned, checkMs, signal, async (s) => {
        const states = await readUnits(
          deps.runner,
          spec.systemd.units.map((u) => u.name),
          { timeoutMs: checkMs, signal: s },
        );
        units = states;
        return spec.systemd.units.map((u) => {
          const st = states.get(u.name);
          if (st === undefined) return { healthy: false, reason: `unit ${u.name}: no state read` };
          return judgeUnit(u, st, baseline === undefined ? undefined : base.units.get(u.name));
        });
      }),
    );
  }
  if (spec.systemd.otherUnits === "failedIsUnhealthy") {
    groups.push(
      bounded(deps.clock, [{ id: "units:failed", kind: "failedUnits" }], checkMs, signal, async (s) => {
        const failed = await listFailedUnits(deps.runner, { timeoutMs: checkMs, signal: s });
        const listed = spec.systemd.units.map((u) => u.name);
        return [judgeFailedUnits(failed, spec.systemd.ignoreFailed, listed)];
      }),
    );
  }
  const ros = spec.ros;
  if (ros !== undefined) {
    const planned: Planned[] = [
      { id: "ros:master", kind: "master" },
      ...ros.requiredNodes.map((n) => ({ id: `node:${n}`, kind: "node" as const })),
      ...ros.topics.map((t) => ({ id: `topic:${t.name}`, kind: "topic" as const })),
    ];
    groups.push(
      bounded(deps.clock, planned, checkMs, signal, async (s) => {
        const r = deps.ros;
        if (r === undefined) throw new AgentError("FAILED_PRECONDITION", "no ROS monitor configured");
        const master = await checkMaster(ros, r.graph, base.runId, s);
        if (master.state !== undefined) runId = master.state.runId;
        const nodes = ros.requiredNodes.map((n) => judgeNode(n, master.state));
        const topicNames = ros.topics.map((t) => t.name);
        let syncProblem: string | undefined;
        if (topicNames.length > 0) {
          await r.monitor.sync(topicNames, master.state, s).catch((e: unknown) => {
            syncProblem = describeError(e);
          });
        }
        const now = deps.clock.now();
        const windowMs = ros.rateWindowSeconds * 1000;
        const topics = ros.topics.map((t) => {
          const v = judgeTopic(t, r.monitor.sample(t.name, now - windowMs), now, windowMs);
          return syncProblem === undefined || v.healthy ? v : { ...v, reason: `${v.reason}; ${syncProblem}` };
        });
        return [master, ...nodes, ...topics];
      }),
    );
  }
  for (const e of spec.exec) {
    const planned = [{ id: `exec:${e.name}`, kind: "exec" as const }];
    // The runner kills the probe at its timeout; the extra second only guards against a runner that hangs.
    groups.push(
      bounded(deps.clock, planned, e.timeoutSeconds * 1000 + 1000, signal, async (s) => [
        await execProbe(deps.runner, e, s),
      ]),
    );
  }
  for (const h of spec.http) {
    const planned = [{ id: `http:${h.name}`, kind: "http" as const }];
    groups.push(
      bounded(deps.clock, planned, h.timeoutSeconds * 1000 + 1000, signal, async (s) => [
        await httpProbe(deps.fetch, h, s),
      ]),
    );
  }
  const results = (await Promise.all(groups)).flat();
  return { results, observed: { units, runId } };
}

/**
 * Runs a group of checks under a timeout on the evaluator's clock. A group
 * that throws or times out makes each of its checks unhealthy with that
 * reason; a check that ignores its signal is left behind, not awaited.
 */
async function bounded(
  clock: Clock,
  planned: readonly Planned[],
  timeoutMs: number,
  signal: AbortSignal,
  run: (signal: AbortSignal) => Promise<Verdict[]>,
): Promise<CheckResult[]> {
  const started = clock.now();
  const inner = new AbortController();
  const timer = new AbortController();
  const onAbort = (): void => inner.abort(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  let verdicts: Verdict[] = [];
  let groupFailure: string | undefined;
  try {
    const timedOut = clock.sleep(timeoutMs, timer.signal).then(() => {
      groupFailure = `timed out after ${secs(timeoutMs)} s`;
      inner.abort(new AgentError("TIMEOUT", groupFailure));
      return [];
    });
    verdicts = await Promise.race([run(inner.signal), timedOut]);
  } catch (e) {
    throwIfAborted(signal);
    groupFailure = describeError(e);
  } finally {
    timer.abort();
    signal.removeEventListener("abort", onAbort);
  }
  const durationMs = clock.now() - started;
  return planned.map((p, i) => {
    const v: Verdict = (groupFailure === undefined ? verdicts[i] : undefined) ?? {
      healthy: false,
      reason: `${p.id.replace(":", " ")}: ${groupFailure ?? "no result"}`,
    };
    return { id: p.id, kind: p.kind, healthy: v.healthy, reason: v.reason, durationMs };
  });
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new AgentError("ABORTED", "health evaluation aborted", { cause: signal.reason });
}

async function sleepOrAbort(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  try {
    await clock.sleep(ms, signal);
  } catch (e) {
    throwIfAborted(signal);
    throw e;
  }
}
