import type { Logger } from "pino";
import { describeIdentity, type PeerIdentity } from "../access/identity.js";
import { cut } from "../text/bounded.js";
import type { AuditFile } from "./file.js";

/** One thing the audit log records: a call admitted, or refused, or how an admitted one ended. */
export interface AuditEvent {
  readonly rpc: string;
  readonly identity: PeerIdentity | undefined;
  readonly peer: string | undefined;
  readonly args?: Readonly<Record<string, unknown>>;
  readonly admission: "allowed" | "denied";
  /** The role a refused call lacked. */
  readonly role?: string;
  /** Undefined: admitted, still running. Else "OK", or the status code's name. */
  readonly outcome?: string;
  /** The status message of a failure (bounded). */
  readonly detail?: string;
}

export interface Auditor {
  /** Resolves once the entry is on disk; never rejects (a failed write is logged). */
  record(e: AuditEvent): Promise<void>;
}

/** Not recording (tests that do not look at the audit log). */
export const NO_AUDIT: Auditor = { record: async () => undefined };

/**
 * The audit log's writer: each entry to the file in the state directory
 * (fsync'd) and to the journal. The identity is named escaped and bounded,
 * with its certificate's full fingerprint.
 */
export function fileAuditor(file: AuditFile, log: Logger, now: () => Date = () => new Date()): Auditor {
  return {
    record: async (e) => {
      const line = {
        time: now().toISOString(),
        identity: { subject: describeIdentity(e.identity), fingerprint: e.identity?.fingerprint },
        peer: e.peer === undefined ? undefined : cut(e.peer, 100),
        rpc: e.rpc,
        args: e.args,
        admission: e.admission,
        role: e.role,
        outcome: e.outcome,
        detail: e.detail === undefined ? undefined : cut(e.detail, 500),
      };
      log.info(
        { audit: line },
        `audit: ${e.rpc} ${e.admission}${e.outcome === undefined ? "" : ` ${e.outcome}`}`,
      );
      try {
        await file.append(line);
      } catch (err) {
        log.error({ err, file: file.path }, "cannot write the audit log");
      }
    },
  };
}
