import type { HealthReport } from "@ros-rollback/proto";

/** A health report; `failing` are [id, reason] pairs (every other check passes). */
export function healthReport(
  failing: readonly (readonly [string, string])[] = [],
  extra: Partial<HealthReport> = {},
): HealthReport {
  const ids = ["unit:talker.service", "topic:/chatter", "ros:master"];
  for (const [id] of failing) if (!ids.includes(id)) ids.push(id);
  const checks = ids.map((id) => {
    const f = failing.find(([fid]) => fid === id);
    return {
      id,
      kind: id.split(":")[0] ?? "",
      healthy: f === undefined,
      reason: f?.[1] ?? "ok",
      durationMs: 3,
    };
  });
  return {
    healthy: failing.length === 0,
    reason: failing[0]?.[1] ?? `${checks.length} checks healthy`,
    checks,
    atUnixMs: Date.now(),
    phase: "checking",
    stableForSeconds: 0,
    ...extra,
  };
}
