import {
  ActivationAction,
  type Deployment,
  type DeploymentEvent,
  DeploymentKind,
  DeploymentState as PbState,
} from "@ros-rollback/proto";
import type { DeploymentRecord } from "../deployment/record.js";
import { type DeploymentState, isFinal } from "../deployment/states.js";
import { AgentError } from "../errors.js";
import type { SwitchAction } from "../system/switcher.js";

const STATE_TO_PB: Readonly<Record<DeploymentState, PbState>> = {
  pending: PbState.DEPLOYMENT_STATE_PENDING,
  profile_set: PbState.DEPLOYMENT_STATE_PROFILE_SET,
  activating: PbState.DEPLOYMENT_STATE_ACTIVATING,
  activated: PbState.DEPLOYMENT_STATE_ACTIVATED,
  units_failed: PbState.DEPLOYMENT_STATE_UNITS_FAILED,
  reboot_required: PbState.DEPLOYMENT_STATE_REBOOT_REQUIRED,
  activation_failed: PbState.DEPLOYMENT_STATE_ACTIVATION_FAILED,
  rolling_back: PbState.DEPLOYMENT_STATE_ROLLING_BACK,
  rolled_back: PbState.DEPLOYMENT_STATE_ROLLED_BACK,
  rollback_failed: PbState.DEPLOYMENT_STATE_ROLLBACK_FAILED,
  failed: PbState.DEPLOYMENT_STATE_FAILED,
  succeeded: PbState.DEPLOYMENT_STATE_SUCCEEDED,
  dry_run_done: PbState.DEPLOYMENT_STATE_DRY_RUN_DONE,
};

const ACTION_FROM_PB: Partial<Readonly<Record<ActivationAction, SwitchAction>>> = {
  [ActivationAction.ACTIVATION_ACTION_SWITCH]: "switch",
  [ActivationAction.ACTIVATION_ACTION_BOOT]: "boot",
  [ActivationAction.ACTIVATION_ACTION_TEST]: "test",
  [ActivationAction.ACTIVATION_ACTION_DRY_ACTIVATE]: "dry-activate",
};

const ACTION_TO_PB: Readonly<Record<SwitchAction, ActivationAction>> = {
  switch: ActivationAction.ACTIVATION_ACTION_SWITCH,
  boot: ActivationAction.ACTIVATION_ACTION_BOOT,
  test: ActivationAction.ACTIVATION_ACTION_TEST,
  "dry-activate": ActivationAction.ACTIVATION_ACTION_DRY_ACTIVATE,
};

export function actionFromPb(action: ActivationAction): SwitchAction {
  const a = ACTION_FROM_PB[action];
  if (a === undefined) {
    throw new AgentError(
      "INVALID_ARGUMENT",
      `unknown activation action ${String(action)}; expected SWITCH, BOOT, TEST or DRY_ACTIVATE`,
    );
  }
  return a;
}

export function deploymentToPb(r: DeploymentRecord): Deployment {
  return {
    id: r.id,
    state: STATE_TO_PB[r.state],
    action: ACTION_TO_PB[r.action],
    storePath: r.storePath,
    generation: r.generation ?? 0,
    previousGeneration: r.previous.generation,
    previousStorePath: r.previous.storePath ?? "",
    startedAtUnixMs: r.startedAt,
    updatedAtUnixMs: r.updatedAt,
    message: r.message,
    kind:
      r.kind === "activate"
        ? DeploymentKind.DEPLOYMENT_KIND_ACTIVATE
        : DeploymentKind.DEPLOYMENT_KIND_ROLLBACK,
  };
}

const EXIT_STATES: ReadonlySet<DeploymentState> = new Set([
  "activated",
  "units_failed",
  "reboot_required",
  "activation_failed",
]);

export function eventFromRecord(r: DeploymentRecord): DeploymentEvent {
  return {
    deploymentId: r.id,
    state: STATE_TO_PB[r.state],
    timestampUnixMs: r.updatedAt,
    message: r.message,
    exitCode: EXIT_STATES.has(r.state) ? r.exitCode : undefined,
    generation: r.generation ?? 0,
    previousGeneration: r.previous.generation,
    final: isFinal(r.state),
  };
}
