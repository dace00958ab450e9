/** What each check reports in every round. */
export type CheckKind = "unit" | "failedUnits" | "master" | "node" | "topic" | "exec" | "http";

export interface CheckResult {
  /** Stable identity: `unit:talker.service`, `topic:/chatter`, `ros:master`, ... (see `checkIds`). */
  readonly id: string;
  readonly kind: CheckKind;
  readonly healthy: boolean;
  /** Why it is unhealthy, or what was seen when healthy; one line for events and GetStatus. */
  readonly reason: string;
  /** How long the check took, on the evaluator's clock. */
  readonly durationMs: number;
}

export function describeError(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = e.cause instanceof Error ? `: ${e.cause.message}` : "";
  return `${e.message}${cause}`;
}
