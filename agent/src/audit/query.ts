import type { AuditEntry, GetAuditLogRequest, GetAuditLogResponse } from "@ros-rollback/proto";
import { readAudit } from "./file.js";

/** Entries one answer carries at most. */
export const MAX_AUDIT_ENTRIES = 1_000;

const str = (v: unknown): string => (typeof v === "string" ? v : "");

/** GetAuditLog over the audit files of `dir`: the newest `limit` entries since the time asked. */
export function auditQuery(dir: string): (req: GetAuditLogRequest) => Promise<GetAuditLogResponse> {
  return async (req) => {
    const { entries, skipped } = await readAudit(dir);
    const since = req.sinceUnixMs;
    const limit = req.limit === 0 || req.limit > MAX_AUDIT_ENTRIES ? MAX_AUDIT_ENTRIES : req.limit;
    const matching = since === 0 ? entries : entries.filter((e) => Date.parse(str(e.time)) >= since);
    const kept = matching.slice(-limit);
    return {
      entries: kept.map(
        (e): AuditEntry => ({
          time: str(e.time),
          rpc: str(e.rpc),
          subject: str((e.identity as { subject?: unknown } | undefined)?.subject),
          fingerprint: str((e.identity as { fingerprint?: unknown } | undefined)?.fingerprint),
          peer: str(e.peer),
          admission: str(e.admission),
          role: str(e.role),
          outcome: str(e.outcome),
          detail: str(e.detail),
          argsJson: e.args === undefined ? "" : JSON.stringify(e.args),
        }),
      ),
      skippedLines: skipped,
      truncated: kept.length < matching.length,
    };
  };
}
