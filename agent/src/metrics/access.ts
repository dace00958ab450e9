import { Counter, Gauge, type Registry } from "prom-client";
import type { AccessReports } from "../access/start.js";
import { PREFIX } from "./registry.js";

/** Access control's metrics, on the agent's registry: whether rules are enforced, refusals per method and role. */
export function accessReports(registry: Registry): AccessReports {
  const denied = new Counter({
    name: `${PREFIX}access_denied_total`,
    help: "Calls refused because the client certificate lacks the role (role none: no role grants the method).",
    labelNames: ["rpc", "role"] as const,
    registers: [registry],
  });
  const enforced = new Gauge({
    name: `${PREFIX}access_control_enforced`,
    help: "1 when the config's access section decides who may call what; 0: every certificate of the CA may do everything.",
    registers: [registry],
  });
  return {
    enforced: (on) => enforced.set(on ? 1 : 0),
    denied: (rpc, role) => denied.inc({ rpc, role }),
  };
}
