import type { Logger } from "pino";
import { type AccessGate, accessGate, type Denial } from "./gate.js";
import { describeIdentity } from "./identity.js";
import type { AccessPolicy } from "./policy.js";

/** What access control reports besides its log lines (metrics/access.ts). */
export interface AccessReports {
  enforced(on: boolean): void;
  denied(rpc: string, role: Denial["role"]): void;
}

/**
 * The gate the server asks, with its log lines and metrics. Without an
 * `access` section every certificate of the CA may do everything: said once
 * at start, and by the metric.
 */
export function startAccess(
  policy: AccessPolicy,
  log: Logger,
  reports: AccessReports,
  onDenied: (d: Denial) => void = () => undefined,
): AccessGate {
  reports.enforced(policy.enforced);
  if (!policy.enforced) {
    log.warn(
      "no access section in the config: every client certificate of the CA may deploy, roll back and hold; add access rules to give roles",
    );
  }
  return accessGate(policy, (d) => {
    reports.denied(d.rpc, d.role);
    log.warn(
      {
        rpc: d.rpc,
        role: d.role,
        identity: describeIdentity(d.identity),
        fingerprint: d.identity?.fingerprint,
      },
      "access denied",
    );
    onDenied(d);
  });
}
