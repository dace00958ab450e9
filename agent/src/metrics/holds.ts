import type { DeploymentRecord } from "../deployment/record.js";
import type { Hold } from "../holds/types.js";
import type { AgentMetrics } from "./registry.js";

/** Sets holds_active{source} from one reading of every hold source. */
export function showHolds(m: AgentMetrics, holds: readonly Hold[]): void {
  for (const source of ["command", "file", "condition"] as const) {
    m.holdsActive.set({ source }, holds.filter((h) => h.source === source).length);
  }
}

/**
 * Counts unit restarts once per switch report: a record's unit changes are
 * counted the first time they appear (health rounds and later transitions repeat them).
 */
export function unitRestartCounter(
  m: AgentMetrics,
  /** The record an earlier agent left: its restarts were counted by that agent. */
  initial: DeploymentRecord | undefined,
): (r: DeploymentRecord) => void {
  const counted = new Set<string>();
  if (initial?.unitChanges !== undefined) counted.add(`${initial.id}/switch`);
  if (initial?.rollbackUnitChanges !== undefined) counted.add(`${initial.id}/rollback`);
  return (r) => {
    for (const [key, changes] of [
      [`${r.id}/switch`, r.unitChanges],
      [`${r.id}/rollback`, r.rollbackUnitChanges],
    ] as const) {
      if (changes === undefined || counted.has(key)) continue;
      counted.add(key);
      if (counted.size > 100) counted.delete(counted.values().next().value as string);
      for (const unit of changes.restarted) m.switchUnitRestarts.inc({ unit });
    }
  };
}
