// One round of checks: every group in parallel, each under its own timeout; what evaluate.ts repeats.
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

/** What a round compares against to tell "restarted during the window". */
export interface Baseline {
  readonly units: ReadonlyMap<string, UnitState>;
  readonly runId: string | undefined;
}

const EMPTY: Baseline = { units: new Map(), runId: undefined };

export interface Round {
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

export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new AgentError("ABORTED", "health evaluation aborted", { cause: signal.reason });
}
