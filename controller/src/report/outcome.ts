import {
  ActivationAction,
  DeploymentState,
  GrpcStatus,
  grpcStatusName,
  RollbackReason,
} from "@ros-rollback/proto";
import { ExitCode } from "../core/errors.js";
import { actionName, rollbackReasonText, stateName } from "./enum-names.js";

/** What a deploy or rollback did to the robot, as reported in `outcome` (JSON) and by the exit code. */
export type Outcome =
  /** Did what was asked (switch/test: running; boot: boot default; rollback: back on the old generation). */
  | "succeeded"
  /** dry-activate finished; nothing changed. */
  | "dry-run"
  /** Installed as the boot default; runs after a reboot (switch-to-configuration exit 100). */
  | "reboot-required"
  /** boot: the new generation is the boot default; after the next boot it is judged and must be confirmed. */
  | "awaiting-reboot"
  /** The agent refused or never started: nothing changed on the robot. */
  | "unchanged"
  /** The deployment failed and the robot is back on the previous generation. */
  | "rolled-back"
  /** Nobody knows what the robot runs now: a human must look. */
  | "uncertain";

export type Operation = "activate" | "rollback";

/** How the stream of DeploymentEvents ended, as the controller saw it. */
export type StreamEnd =
  /**
   * The agent sent an event with `final` set (or its status showed the final
   * state); `earlier` are the states of the events before it, [] when events
   * were missed; `rollbackReason` why it was rolled back, when it was.
   */
  | {
      readonly kind: "final";
      readonly state: DeploymentState;
      readonly earlier: readonly DeploymentState[];
      readonly rollbackReason?: RollbackReason;
    }
  /** The call ended with a non-OK status; `lastState` is the last event seen before (if any). */
  | { readonly kind: "error"; readonly code: number; readonly lastState: DeploymentState | undefined }
  /** The call ended OK but without a final event. */
  | { readonly kind: "no-final"; readonly lastState: DeploymentState | undefined }
  /** The user interrupted (SIGINT) while the stream was open. */
  | { readonly kind: "interrupted"; readonly lastState: DeploymentState | undefined };

export interface Verdict {
  readonly outcome: Outcome;
  readonly exitCode: ExitCode;
  /** One sentence about the robot, for humans and the JSON `reason`. */
  readonly reason: string;
}

/**
 * Status codes with which an agent refuses a request BEFORE acting on it.
 * Every other status (UNAVAILABLE, CANCELLED, DEADLINE_EXCEEDED, INTERNAL,
 * UNKNOWN, ABORTED, ...) may arrive after the agent started, so it proves
 * nothing about the robot.
 */
const REFUSALS: ReadonlySet<number> = new Set([
  GrpcStatus.INVALID_ARGUMENT,
  GrpcStatus.FAILED_PRECONDITION,
  GrpcStatus.NOT_FOUND,
  GrpcStatus.ALREADY_EXISTS,
  GrpcStatus.PERMISSION_DENIED,
  GrpcStatus.UNAUTHENTICATED,
  GrpcStatus.OUT_OF_RANGE,
  GrpcStatus.UNIMPLEMENTED,
  GrpcStatus.RESOURCE_EXHAUSTED,
]);

/** States in which the agent has changed nothing yet: a FAILED right after them left the robot as it was. */
const BEFORE_ANY_CHANGE: ReadonlySet<DeploymentState> = new Set([
  DeploymentState.DEPLOYMENT_STATE_PENDING,
  DeploymentState.DEPLOYMENT_STATE_SNAPSHOTTING,
  // The agent ends FAILED from here only when no migration hook ran (else it restores and rolls back).
  DeploymentState.DEPLOYMENT_STATE_MIGRATING,
  DeploymentState.DEPLOYMENT_STATE_PREPARED,
]);

export function isRefusal(code: number): boolean {
  return REFUSALS.has(code);
}

const CHECK = "check with `ros-rollback status`";

const verdict = (outcome: Outcome, exitCode: ExitCode, reason: string): Verdict => ({
  outcome,
  exitCode,
  reason,
});
const uncertain = (reason: string): Verdict =>
  verdict("uncertain", ExitCode.Uncertain, `${reason}; ${CHECK}`);

/**
 * THE mapping from how an Activate/Rollback stream ended to outcome and exit
 * code. Pure; every DeploymentState is handled explicitly (the `never` check
 * breaks the build when the proto grows a state).
 */
export function judge(operation: Operation, action: ActivationAction, end: StreamEnd): Verdict {
  switch (end.kind) {
    case "final":
      return judgeFinal(
        operation,
        action,
        end.state,
        end.earlier,
        end.rollbackReason ?? RollbackReason.ROLLBACK_REASON_UNSPECIFIED,
      );
    case "error":
      if (end.lastState === undefined && isRefusal(end.code)) {
        return verdict("unchanged", ExitCode.Unchanged, "the agent refused the request; nothing changed");
      }
      return uncertain(
        `the event stream failed (${grpcStatusName(end.code) ?? end.code}) ${after(end.lastState)}; the agent may still be working${confirmHint(end.lastState)}`,
      );
    case "no-final":
      return uncertain(
        `the agent ended the event stream without a final event ${after(end.lastState)}${confirmHint(end.lastState)}`,
      );
    case "interrupted":
      return uncertain(
        `interrupted ${after(end.lastState)}; the agent carries on with the ${operation === "rollback" ? "rollback" : "deployment"} without us${confirmHint(end.lastState)}`,
      );
  }
}

/** While the agent judges health or waits for Confirm, leaving means it rolls back unless someone confirms. */
function confirmHint(state: DeploymentState | undefined): string {
  return state === DeploymentState.DEPLOYMENT_STATE_CHECKING_HEALTH ||
    state === DeploymentState.DEPLOYMENT_STATE_AWAITING_CONFIRMATION
    ? " (it rolls back unless the deployment is confirmed before its deadline: `ros-rollback confirm`)"
    : "";
}

function after(state: DeploymentState | undefined): string {
  return state === undefined ? "before any event" : `after ${stateName(state)}`;
}

function judgeFinal(
  operation: Operation,
  action: ActivationAction,
  state: DeploymentState,
  earlier: readonly DeploymentState[],
  rollbackReason: RollbackReason,
): Verdict {
  const s = stateName(state);
  const dryRun = operation === "activate" && action === ActivationAction.ACTIVATION_ACTION_DRY_ACTIVATE;
  switch (state) {
    case DeploymentState.DEPLOYMENT_STATE_SUCCEEDED:
      if (operation === "rollback")
        return verdict("succeeded", ExitCode.Ok, "the robot is on the requested generation");
      if (earlier.includes(DeploymentState.DEPLOYMENT_STATE_NOT_CONFIRMED)) {
        return verdict(
          "succeeded",
          ExitCode.Ok,
          `${successReason(action)}; it was NOT confirmed and is kept because magic rollback is off`,
        );
      }
      return verdict("succeeded", ExitCode.Ok, successReason(action));
    case DeploymentState.DEPLOYMENT_STATE_DRY_RUN_DONE:
      if (dryRun) return verdict("dry-run", ExitCode.Ok, "dry activation finished; nothing changed");
      return uncertain(
        `the agent reported ${s}, which does not answer a ${requestName(operation, action)} request`,
      );
    case DeploymentState.DEPLOYMENT_STATE_REBOOT_REQUIRED:
      return verdict(
        "reboot-required",
        ExitCode.RebootRequired,
        "the new generation is the boot default but the running system is unchanged; it takes effect after a " +
          "reboot (a robot that counts boots judges it then, as after --action boot; --reboot reboots it for you)",
      );
    case DeploymentState.DEPLOYMENT_STATE_AWAITING_REBOOT:
      if (operation === "activate" && action === ActivationAction.ACTIVATION_ACTION_BOOT) {
        return verdict(
          "awaiting-reboot",
          ExitCode.Ok,
          "the new generation is the boot default; after the next boot the agent judges its health and " +
            "keeps it only when confirmed before the deadline (`ros-rollback confirm`, or by itself with --no-confirm)",
        );
      }
      if (operation === "rollback" || action === ActivationAction.ACTIVATION_ACTION_SWITCH) {
        return verdict(
          "reboot-required",
          ExitCode.RebootRequired,
          "the new generation is the boot default but the running system is unchanged; it takes effect after a reboot",
        );
      }
      return uncertain(
        `the agent reported ${s}, which does not answer a ${requestName(operation, action)} request`,
      );
    case DeploymentState.DEPLOYMENT_STATE_ROLLED_BACK: {
      if (operation === "rollback") {
        return verdict(
          "rolled-back",
          ExitCode.RolledBack,
          "the rollback failed; the robot is back on the generation it ran before",
        );
      }
      const why = rollbackReasonText(rollbackReason);
      return verdict(
        "rolled-back",
        ExitCode.RolledBack,
        why === undefined
          ? "the deployment failed; the robot is back on the previous generation"
          : `the deployment was rolled back (${why}); the robot is back on the previous generation`,
      );
    }
    case DeploymentState.DEPLOYMENT_STATE_PENDING:
      return verdict("unchanged", ExitCode.Unchanged, "the agent stopped before changing anything");
    case DeploymentState.DEPLOYMENT_STATE_FAILED:
      // The agent ends FAILED straight from a state before any change: its first step (setting
      // the profile, starting the switch), the data snapshot, or setting the profile after it with
      // no migration run failed (writers started again, snapshots discarded). Only trust that
      // when we saw every event.
      if (earlier.length > 0 && earlier.every((e) => BEFORE_ANY_CHANGE.has(e))) {
        return verdict(
          "unchanged",
          ExitCode.Unchanged,
          earlier.includes(DeploymentState.DEPLOYMENT_STATE_PREPARED)
            ? "setting the profile failed after the data snapshot, before anything changed; the robot is as it was"
            : earlier.includes(DeploymentState.DEPLOYMENT_STATE_SNAPSHOTTING)
              ? "the data snapshot failed before anything changed; the robot is as it was"
              : "the agent failed before changing anything",
        );
      }
      if (dryRun)
        return verdict("unchanged", ExitCode.Unchanged, "dry activation failed; it changes nothing");
      return uncertain(
        "the deployment failed and was left in place (no rollback); the robot may be half-switched",
      );
    case DeploymentState.DEPLOYMENT_STATE_UNITS_FAILED:
      return uncertain("the new system is active but units failed to start, and it was left in place");
    case DeploymentState.DEPLOYMENT_STATE_ROLLBACK_FAILED:
      return uncertain("rolling back failed too; the robot needs a human");
    case DeploymentState.DEPLOYMENT_STATE_PROFILE_SET:
    case DeploymentState.DEPLOYMENT_STATE_ACTIVATING:
    case DeploymentState.DEPLOYMENT_STATE_ACTIVATED:
    case DeploymentState.DEPLOYMENT_STATE_ACTIVATION_FAILED:
    case DeploymentState.DEPLOYMENT_STATE_ROLLING_BACK:
    case DeploymentState.DEPLOYMENT_STATE_CHECKING_HEALTH:
    case DeploymentState.DEPLOYMENT_STATE_AWAITING_CONFIRMATION:
    case DeploymentState.DEPLOYMENT_STATE_UNHEALTHY:
    case DeploymentState.DEPLOYMENT_STATE_NOT_CONFIRMED:
    case DeploymentState.DEPLOYMENT_STATE_SNAPSHOTTING:
    case DeploymentState.DEPLOYMENT_STATE_MIGRATING:
    case DeploymentState.DEPLOYMENT_STATE_PREPARED:
    case DeploymentState.DEPLOYMENT_STATE_RESTORING:
      return uncertain(`the agent's final event has the intermediate state ${s}`);
    case DeploymentState.DEPLOYMENT_STATE_UNSPECIFIED:
    case DeploymentState.UNRECOGNIZED:
      return uncertain(`the agent's final event has an unknown state (${state})`);
    default:
      return unreachable(state);
  }
}

function unreachable(state: never): Verdict {
  // A state number this build does not know (newer agent): still not a success.
  return uncertain(`the agent's final event has an unknown state (${String(state)})`);
}

function successReason(action: ActivationAction): string {
  switch (action) {
    case ActivationAction.ACTIVATION_ACTION_BOOT:
      return "the new system is the boot default; it runs after the next reboot";
    case ActivationAction.ACTIVATION_ACTION_TEST:
      return "the new system is active until the next reboot (boot default unchanged)";
    case ActivationAction.ACTIVATION_ACTION_DRY_ACTIVATE:
      return "dry activation finished; nothing changed";
    default:
      return "the new system is active and is the boot default";
  }
}

function requestName(operation: Operation, action: ActivationAction): string {
  return operation === "rollback" ? "rollback" : actionName(action);
}
