import {
  ActivationAction,
  type Deployment,
  type DeploymentEvent,
  DeploymentKind,
  type DeploymentOptions,
  type HealthReport as PbHealth,
  RollbackReason as PbReason,
  type DataSnapshot as PbSnapshot,
  DeploymentState as PbState,
} from "@ros-rollback/proto";
import type { DataSnapshot } from "../data/types.js";
import type { DeploymentRecord, HealthSummary, RollbackReason } from "../deployment/record.js";
import type { DeployRequest } from "../deployment/request.js";
import { type DeploymentState, isFinal } from "../deployment/states.js";
import { AgentError } from "../errors.js";
import type { SwitchAction } from "../system/switcher.js";
import { cut, MAX_QUOTED, quote } from "../text/bounded.js";
import { unitChangesToPb } from "./convert-changes.js";

const STATE_TO_PB: Readonly<Record<DeploymentState, PbState>> = {
  pending: PbState.DEPLOYMENT_STATE_PENDING,
  profile_set: PbState.DEPLOYMENT_STATE_PROFILE_SET,
  activating: PbState.DEPLOYMENT_STATE_ACTIVATING,
  activated: PbState.DEPLOYMENT_STATE_ACTIVATED,
  checking_health: PbState.DEPLOYMENT_STATE_CHECKING_HEALTH,
  awaiting_confirmation: PbState.DEPLOYMENT_STATE_AWAITING_CONFIRMATION,
  unhealthy: PbState.DEPLOYMENT_STATE_UNHEALTHY,
  not_confirmed: PbState.DEPLOYMENT_STATE_NOT_CONFIRMED,
  awaiting_reboot: PbState.DEPLOYMENT_STATE_AWAITING_REBOOT,
  units_failed: PbState.DEPLOYMENT_STATE_UNITS_FAILED,
  reboot_required: PbState.DEPLOYMENT_STATE_REBOOT_REQUIRED,
  activation_failed: PbState.DEPLOYMENT_STATE_ACTIVATION_FAILED,
  rolling_back: PbState.DEPLOYMENT_STATE_ROLLING_BACK,
  rolled_back: PbState.DEPLOYMENT_STATE_ROLLED_BACK,
  rollback_failed: PbState.DEPLOYMENT_STATE_ROLLBACK_FAILED,
  failed: PbState.DEPLOYMENT_STATE_FAILED,
  succeeded: PbState.DEPLOYMENT_STATE_SUCCEEDED,
  dry_run_done: PbState.DEPLOYMENT_STATE_DRY_RUN_DONE,
  snapshotting: PbState.DEPLOYMENT_STATE_SNAPSHOTTING,
  migrating: PbState.DEPLOYMENT_STATE_MIGRATING,
  prepared: PbState.DEPLOYMENT_STATE_PREPARED,
  restoring: PbState.DEPLOYMENT_STATE_RESTORING,
};

const snapshotToPb = (s: DataSnapshot): PbSnapshot => ({
  path: s.path,
  method: s.method,
  location: s.location,
  sizeBytes: s.sizeBytes,
  state: s.state,
  units: [...s.units],
  absent: s.absent,
});

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

const REASON_TO_PB: Readonly<Record<RollbackReason, PbReason>> = {
  unhealthy: PbReason.ROLLBACK_REASON_UNHEALTHY,
  not_confirmed: PbReason.ROLLBACK_REASON_NOT_CONFIRMED,
  activation_failed: PbReason.ROLLBACK_REASON_ACTIVATION_FAILED,
  manual: PbReason.ROLLBACK_REASON_MANUAL,
  boot: PbReason.ROLLBACK_REASON_BOOT,
};

const reasonToPb = (r: RollbackReason | undefined): PbReason =>
  r === undefined ? PbReason.ROLLBACK_REASON_UNSPECIFIED : REASON_TO_PB[r];

/**
 * The Activate stream ends here: a BOOT deployment goes on only after the next boot. One that
 * reboots by itself is not done: the controller follows it across the reboot.
 */
export function endsStream(r: DeploymentRecord): boolean {
  return isFinal(r.state) || (r.state === "awaiting_reboot" && r.settings.reboot !== true);
}

export function healthToPb(h: HealthSummary): PbHealth {
  return {
    healthy: h.healthy,
    reason: h.reason,
    checks: h.checks.map((c) => ({
      id: c.id,
      kind: c.kind,
      healthy: c.healthy,
      reason: c.reason,
      durationMs: c.durationMs,
    })),
    atUnixMs: h.at,
    phase: h.phase,
    stableForSeconds: h.stableForSeconds,
  };
}

/** Bounds of DeploymentOptions.label: it is echoed back and logged. */
export const MAX_LABEL_BYTES = 512;

export function deployRequestFromPb(o: DeploymentOptions | undefined): DeployRequest {
  if (o === undefined) return {};
  if (o.label.length > MAX_LABEL_BYTES || !/^[\x20-\x7e]*$/.test(o.label)) {
    throw new AgentError(
      "INVALID_ARGUMENT",
      `options.label must be printable ASCII of at most ${MAX_LABEL_BYTES} bytes (got ${o.label.length} characters)`,
    );
  }
  let health: unknown;
  if (o.healthJson !== "") {
    try {
      health = JSON.parse(o.healthJson);
    } catch (cause) {
      throw new AgentError(
        "INVALID_ARGUMENT",
        `options.health_json is not JSON: ${cut((cause as Error).message, MAX_QUOTED)}`,
        {
          cause,
        },
      );
    }
  }
  return {
    confirmTimeoutSeconds: o.confirmTimeoutSeconds,
    magicRollback: o.magicRollback,
    autoRollback: o.autoRollback,
    selfConfirm: o.selfConfirm,
    health,
    label: o.label === "" ? undefined : o.label,
  };
}

/** Deployment ids are ours (`d-<time>-<hex>`): short printable ASCII. */
const DEPLOYMENT_ID = /^[\x21-\x7e]{1,128}$/;

/** A deployment id from a request: INVALID_ARGUMENT (quoting it, cut) unless it can be one of ours. */
export function deploymentIdFromPb(id: string): string {
  if (id === "") throw new AgentError("INVALID_ARGUMENT", "deployment_id is required");
  if (!DEPLOYMENT_ID.test(id)) {
    throw new AgentError(
      "INVALID_ARGUMENT",
      `deployment_id ${quote(id, 64)} (${id.length} characters) is not a deployment id: ` +
        "at most 128 printable ASCII characters",
    );
  }
  return id;
}

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
    confirmDeadlineUnixMs: r.confirmDeadline ?? 0,
    rollbackReason: reasonToPb(r.rollbackReason),
    unitChanges: unitChangesToPb(r.unitChanges),
    rollbackUnitChanges: unitChangesToPb(r.rollbackUnitChanges),
    options: {
      confirmTimeoutSeconds: r.settings.confirmTimeoutSeconds,
      magicRollback: r.settings.magicRollback,
      autoRollback: r.settings.autoRollback,
      selfConfirm: r.settings.selfConfirm,
      healthJson: "",
      label: r.settings.label ?? "",
    },
    snapshots: (r.snapshots ?? []).map(snapshotToPb),
    restores: (r.restores ?? []).map(snapshotToPb),
    overriddenHolds: [...(r.overriddenHolds ?? [])],
    startedBy: r.startedBy ?? "",
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
    final: endsStream(r),
    health: r.health ? healthToPb(r.health) : undefined,
    confirmDeadlineUnixMs: r.state === "awaiting_confirmation" ? (r.confirmDeadline ?? 0) : 0,
    rollbackReason: reasonToPb(r.rollbackReason),
    unitChanges: unitChangesToPb(r.unitChanges),
    rollbackUnitChanges: unitChangesToPb(r.rollbackUnitChanges),
  };
}
