import type { Logger } from "pino";
import type { HealthSummary } from "../deployment/record.js";

export interface HealthLogContext {
  readonly deploymentId?: string | undefined;
  readonly generation?: number | undefined;
}

/**
 * Logs a check when its verdict changes (a failing check at once), with
 * `check` (journald: CHECK) and the deployment's id and generation. Failures
 * while settling are expected (a topic not seen yet) and logged at debug.
 */
export function healthTransitionLogger(log: Logger): (h: HealthSummary, context: HealthLogContext) => void {
  const verdicts = new Map<string, boolean>();
  /** Failing while settling, logged at debug once; judged when settling is over. */
  const settling = new Set<string>();
  let lastAt = Number.NEGATIVE_INFINITY;
  return (h, context) => {
    if (h.at <= lastAt) return;
    lastAt = h.at;
    for (const c of h.checks) {
      const fields = { ...context, check: c.id, kind: c.kind, phase: h.phase, reason: c.reason };
      const before = verdicts.get(c.id);
      if (!c.healthy && h.phase === "settling") {
        if (before !== false && !settling.has(c.id))
          log.debug(fields, `check ${c.id} not passing yet: ${c.reason}`);
        settling.add(c.id);
        continue;
      }
      settling.delete(c.id);
      verdicts.set(c.id, c.healthy);
      if (before === c.healthy || (before === undefined && c.healthy)) continue;
      if (c.healthy) log.info(fields, `check ${c.id} passes again: ${c.reason}`);
      else log.warn(fields, `check ${c.id} failed: ${c.reason}`);
    }
  };
}
