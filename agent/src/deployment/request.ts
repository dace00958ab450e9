import { AgentError } from "../errors.js";
import { type HealthSpec, mergeHealthSpec } from "../health/index.js";
import type { DeploymentSettings } from "./record.js";

// A deploy's raw request (everything optional) and its compiled settings (every default filled).

/** What a deploy may ask for beyond the action (unset = the agent's defaults). */
export interface DeployRequest {
  readonly confirmTimeoutSeconds?: number | undefined;
  readonly magicRollback?: boolean | undefined;
  readonly autoRollback?: boolean | undefined;
  readonly selfConfirm?: boolean | undefined;
  /** Per-deployment health changes (parsed JSON); checked against what the config allows. */
  readonly health?: unknown;
  /** Opaque; stored with the deployment and echoed in GetStatus. */
  readonly label?: string | undefined;
  /** Holds to go ahead despite, by exact name (checked already: see overrideHoldsFromPb). */
  readonly overrideHolds?: readonly string[] | undefined;
  /** Who asked (the client certificate's subject), for the log of an override. */
  readonly client?: string | undefined;
  /** Who asked, as recorded with the deployment (describeIdentity of the client certificate). */
  readonly startedBy?: string | undefined;
  /** Reboot into the new generation (checked already: see checkReboot). */
  readonly reboot?: boolean | undefined;
}

/** What a controller's Rollback may carry besides the generation. */
export type RollbackOptions = Pick<DeployRequest, "overrideHolds" | "client" | "startedBy">;

/** The agent's defaults for every deployment. */
export type DeploymentDefaults = Omit<DeploymentSettings, "selfConfirm">;

/** Compiles a deploy's settings: the agent's defaults with what the request may change. */
export function compileSettings(d: DeploymentDefaults, request: DeployRequest): DeploymentSettings {
  let health: HealthSpec = d.health;
  if (request.health !== undefined) {
    try {
      health = mergeHealthSpec(d.health, request.health);
    } catch (e) {
      if (e instanceof AgentError) throw e;
      const issues = (e as { issues?: { path: PropertyKey[]; message: string }[] }).issues;
      const detail = issues
        ? issues.map((i) => `${i.path.map(String).join(".") || "(top level)"}: ${i.message}`).join("; ")
        : (e as Error).message;
      throw new AgentError("INVALID_ARGUMENT", `invalid per-deployment health: ${detail}`, { cause: e });
    }
  }
  if (request.confirmTimeoutSeconds !== undefined && request.confirmTimeoutSeconds <= 0) {
    throw new AgentError("INVALID_ARGUMENT", "confirm timeout must be at least 1 second");
  }
  return {
    confirmTimeoutSeconds: request.confirmTimeoutSeconds ?? d.confirmTimeoutSeconds,
    magicRollback: request.magicRollback ?? d.magicRollback,
    autoRollback: request.autoRollback ?? d.autoRollback,
    selfConfirm: request.selfConfirm ?? false,
    health,
    label: request.label,
    ...(request.reboot === true ? { reboot: true } : {}),
  };
}
