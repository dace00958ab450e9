// How the proto's enums read in reports, logs and JSON: one name per state, action and rollback reason.
import { ActivationAction, DeploymentState, RollbackReason } from "@ros-rollback/proto";

/** "ROLLED_BACK" for DEPLOYMENT_STATE_ROLLED_BACK; the number for unknown states. */
export function stateName(state: DeploymentState): string {
  const name = DeploymentState[state] as string | undefined;
  return name === undefined || state === DeploymentState.UNRECOGNIZED
    ? `STATE_${state}`
    : name.replace(/^DEPLOYMENT_STATE_/, "");
}

/** "switch" for ACTIVATION_ACTION_SWITCH. */
export function actionName(action: ActivationAction): string {
  const name = ActivationAction[action] as string | undefined;
  return name === undefined
    ? `action ${action}`
    : name
        .replace(/^ACTIVATION_ACTION_/, "")
        .toLowerCase()
        .replace("_", "-");
}

/** "not confirmed" for ROLLBACK_REASON_NOT_CONFIRMED; undefined when the agent gave no reason. */
export function rollbackReasonText(reason: RollbackReason): string | undefined {
  switch (reason) {
    case RollbackReason.ROLLBACK_REASON_UNHEALTHY:
      return "unhealthy";
    case RollbackReason.ROLLBACK_REASON_NOT_CONFIRMED:
      return "not confirmed";
    case RollbackReason.ROLLBACK_REASON_ACTIVATION_FAILED:
      return "activation failed";
    case RollbackReason.ROLLBACK_REASON_MANUAL:
      return "rolled back by an operator";
    case RollbackReason.ROLLBACK_REASON_BOOT:
      return "judged at boot";
    case RollbackReason.ROLLBACK_REASON_UNSPECIFIED:
      return undefined;
    case RollbackReason.UNRECOGNIZED:
      return "a reason this controller does not know";
    default: {
      const unknown: never = reason;
      return `reason ${String(unknown)}`;
    }
  }
}

/** JSON name: "not-confirmed" for ROLLBACK_REASON_NOT_CONFIRMED; null when unset. */
export function rollbackReasonName(reason: RollbackReason): string | null {
  if (reason === RollbackReason.ROLLBACK_REASON_UNSPECIFIED) return null;
  if (reason === RollbackReason.UNRECOGNIZED) return "unrecognized";
  const name = RollbackReason[reason] as string | undefined;
  return name === undefined
    ? `reason-${reason}`
    : name
        .replace(/^ROLLBACK_REASON_/, "")
        .toLowerCase()
        .replace("_", "-");
}
