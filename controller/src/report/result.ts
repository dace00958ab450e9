import { ExitCode } from "../core/errors.js";
import { holdsLine } from "./holds.js";
import type { OnlineJson } from "./online.js";
import type { DeploymentReport } from "./report.js";
import { type Strategy, strategyJson } from "./strategy.js";
import { formatSeconds, type HoldJson } from "./views.js";

/** What became of one robot in a rollout. */
export type RobotOutcome =
  /** Deployed (or rolled back) as asked. */
  | "succeeded"
  /** The deployment failed and the agent rolled it back (exit 2). */
  | "failed"
  /** Its state is uncertain (exit 3), or the new generation waits for a reboot (exit 4). */
  | "uncertain"
  /**
   * Unreachable or refusing: nothing changed on it (exit 1); a failure only
   * with --strict. A held robot (`held` set) is never a failure.
   */
  | "skipped"
  /** The rollout was aborted before it got to this robot. */
  | "not-started";

export interface RobotResult {
  readonly target: string;
  /** 1-based wave, or null when the robot had finished before (resume). */
  readonly wave: number | null;
  readonly outcome: RobotOutcome;
  readonly reason: string;
  /** The robot's own report (today's single-robot shape), or null when it was not started. */
  readonly report: DeploymentReport | null;
  /** --rollback-on-abort: the report of moving it back, or null. */
  readonly rollback: DeploymentReport | null;
  /** Skipped because the robot is held (mission, operator): its holds; null otherwise. */
  readonly held: readonly HoldJson[] | null;
  /** --wait-online: it was offline at its wave; how long it waited and when it was reached. Null otherwise. */
  readonly online: OnlineJson | null;
}

export function classify(report: Pick<DeploymentReport, "exitCode">): RobotOutcome {
  switch (report.exitCode) {
    case ExitCode.Ok:
      return "succeeded";
    case ExitCode.RolledBack:
      return "failed";
    case ExitCode.Unchanged:
      return "skipped";
    default:
      return "uncertain";
  }
}

/** A held robot is busy on purpose: it does not count against --max-failures, even with --strict. */
export function isFailure(r: Pick<RobotResult, "outcome" | "held">, strict: boolean): boolean {
  return (
    r.outcome === "failed" ||
    r.outcome === "uncertain" ||
    (strict && r.outcome === "skipped" && r.held === null)
  );
}

/** "skipped (held)" for a held robot, "skipped (offline)" for one never reached, else its outcome. */
export function outcomeLabel(
  r: Pick<RobotResult, "outcome" | "held"> & { online?: OnlineJson | null },
): string {
  if (r.held !== null) return `${r.outcome} (held)`;
  return r.outcome === "skipped" && r.online?.reachedAt === null ? `${r.outcome} (offline)` : r.outcome;
}

export type RolloutOutcome = "succeeded" | "partial" | "failed" | "aborted" | "unchanged";

export interface RolloutResult {
  readonly rolloutId: string;
  readonly operation: "deploy" | "rollback";
  readonly strategy: Strategy;
  readonly outcome: RolloutOutcome;
  readonly exitCode: ExitCode;
  readonly reason: string;
  readonly robots: readonly RobotResult[];
}

/** Moved by the rollout and still on the new generation. */
function keptNew(r: RobotResult): boolean {
  return r.outcome === "succeeded" && r.rollback?.exitCode !== ExitCode.Ok;
}

/**
 * The rollout's outcome and exit code: 0 every robot succeeded; 6 succeeded
 * where it ran, some skipped; 2 failed or aborted and every robot it moved
 * is back on its previous generation; 3 any robot uncertain, or failed with
 * moved robots left on the new generation (a mixed fleet); 1 none ran.
 */
export function judgeRollout(
  robots: readonly RobotResult[],
  strategy: Strategy,
  abortReason: string | undefined,
): Pick<RolloutResult, "outcome" | "exitCode" | "reason"> {
  const count = (o: RobotOutcome) => robots.filter((r) => r.outcome === o).length;
  const held = robots.filter((r) => r.held !== null).length;
  const offline = robots.filter((r) => r.outcome === "skipped" && r.online?.reachedAt === null).length;
  const why = [held === 0 ? "" : `${held} held`, offline === 0 ? "" : `${offline} offline`].filter((x) => x);
  const tally =
    `${count("succeeded")} succeeded, ${count("failed")} failed, ${count("uncertain")} uncertain, ` +
    `${count("skipped")} skipped${why.length === 0 ? "" : ` (${why.join(", ")})`}, ${count("not-started")} not started`;
  const failures = robots.filter((r) => isFailure(r, strategy.strict)).length;
  if (count("uncertain") > 0) {
    return {
      outcome: abortReason === undefined ? "failed" : "aborted",
      exitCode: ExitCode.Uncertain,
      reason: `${abortReason ?? "some robots are uncertain"}: ${tally}`,
    };
  }
  if (abortReason !== undefined || failures > 0) {
    const kept = robots.filter(keptNew).length;
    return {
      outcome: abortReason === undefined ? "failed" : "aborted",
      exitCode: kept === 0 ? ExitCode.RolledBack : ExitCode.Uncertain,
      reason:
        `${abortReason ?? "some robots failed"}: ${tally}` +
        (kept === 0 ? "" : `; ${kept} robots keep the new generation (a mixed fleet)`),
    };
  }
  if (count("skipped") === robots.length) {
    return {
      outcome: "unchanged",
      exitCode: ExitCode.Unchanged,
      reason: `${held === 0 ? "no robot could be reached" : "no robot could be deployed"}: ${tally}`,
    };
  }
  if (count("skipped") > 0) return { outcome: "partial", exitCode: ExitCode.Skipped, reason: tally };
  return { outcome: "succeeded", exitCode: ExitCode.Ok, reason: tally };
}

export function rolloutJson(r: RolloutResult) {
  return { ...r, strategy: strategyJson(r.strategy) };
}

function onlineText(o: OnlineJson | null): string {
  if (o === null || o.reachedAt === null) return "";
  return ` — offline at its wave, came online ${o.reachedAt} (${formatSeconds(o.waitedSeconds)} later)`;
}

/** The human summary on stdout: one line per robot, then the verdict. */
export function rolloutText(r: RolloutResult): string {
  const width = Math.max(6, ...r.robots.map((x) => x.target.length));
  const lines = r.robots.map(
    (x) =>
      `${x.target.padEnd(width)}  ${outcomeLabel(x).padEnd(11)}  ${x.reason}${x.held === null ? "" : ` — holds: ${holdsLine(x.held)}`}${onlineText(x.online)}${x.rollback === null ? "" : ` — rolled back on abort: ${x.rollback.outcome}`}`,
  );
  return [...lines, `rollout ${r.rolloutId}: ${r.outcome}: ${r.reason}`].join("\n");
}
