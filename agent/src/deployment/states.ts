/**
 * The deployment state machine: ONE table of every legal transition.
 * A deployment is a persisted record; its state says which side effect
 * comes next, so an agent that restarts resumes from the record.
 */
export type DeploymentState =
  /** Record written; nothing on the robot changed yet. */
  | "pending"
  /** Declared data is being captured, its writers stopped (each snapshot's progress is in the record). */
  | "snapshotting"
  /** The new system's migration hook runs (bounded); data captured, writers stopped. */
  | "migrating"
  /** Data captured (and migrated, or restored for a rollback); the profile move or switch comes next. */
  | "prepared"
  /** Putting captured data back, writers stopped, before the previous system's switch starts them. */
  | "restoring"
  /** The system profile points at the target system (SWITCH/BOOT, and rollbacks). */
  | "profile_set"
  /** switch-to-configuration runs in its transient unit (unit name recorded first). */
  | "activating"
  /** switch-to-configuration exited 0. */
  | "activated"
  /** Judging health: settle time, then a stable window within a timeout. */
  | "checking_health"
  /** Healthy; waiting for Confirm until the persisted wall-clock deadline, health still watched. */
  | "awaiting_confirmation"
  /** A health check failed before confirmation (or exit 4 with a unit not ignored). */
  | "unhealthy"
  /** The confirm deadline passed without a Confirm ("magic rollback"). */
  | "not_confirmed"
  /** BOOT, or a --reboot SWITCH that exited 100: the new generation is the boot default; judged after the next boot. */
  | "awaiting_reboot"
  /** switch-to-configuration exited 4: some unit failed. */
  | "units_failed"
  /**
   * switch-to-configuration exited 100: a reboot is needed for the change. Final (see isFinal),
   * though a robot that counts boots judges the next boot.
   */
  | "reboot_required"
  /** Activation failed otherwise, or the agent could not carry it out. */
  | "activation_failed"
  /** Going back to the recorded previous system. */
  | "rolling_back"
  /** Back on the previous system. Final. */
  | "rolled_back"
  /** Rolling back failed: a human must look. Final. */
  | "rollback_failed"
  /** Failed and left as it is (no rollback possible or wanted). Final. */
  | "failed"
  /** The target system is active and kept. Final. */
  | "succeeded"
  /** A dry activation finished; nothing changed. Final. */
  | "dry_run_done";

export type DeploymentEventName =
  | "snapshot_started"
  /** A data step finished for one entry (persisted before the next one). */
  | "data_progress"
  | "snapshotted"
  | "migrated"
  | "restore_started"
  /** The profile could not be set and no migration ran: nothing changed; writers started again. */
  | "abandoned"
  /** Data back in place; the previous system's switch comes next. */
  | "restored"
  /** An operator rollback restored the data; its own switch comes next. */
  | "restored_before_switch"
  | "profile_set"
  | "activation_started"
  | "exited_ok"
  | "exited_units_failed"
  | "exited_reboot_required"
  | "exited_failed"
  | "error"
  | "units_ignored"
  | "health_started"
  | "boot_scheduled"
  | "booted"
  /** Boot counting: the robot runs the previous generation although the record expects the new one. */
  | "boot_fell_back"
  | "healthy"
  | "unhealthy"
  | "confirmed"
  | "deadline_passed"
  | "kept"
  | "dry_run_finished"
  | "rollback_started"
  | "rollback_finished"
  | "rollback_error"
  | "give_up";

export const DEPLOYMENT_STATES: readonly DeploymentState[] = [
  "pending",
  "snapshotting",
  "migrating",
  "prepared",
  "restoring",
  "profile_set",
  "activating",
  "activated",
  "checking_health",
  "awaiting_confirmation",
  "unhealthy",
  "not_confirmed",
  "awaiting_reboot",
  "units_failed",
  "reboot_required",
  "activation_failed",
  "rolling_back",
  "rolled_back",
  "rollback_failed",
  "failed",
  "succeeded",
  "dry_run_done",
];

export const DEPLOYMENT_EVENTS: readonly DeploymentEventName[] = [
  "snapshot_started",
  "data_progress",
  "snapshotted",
  "migrated",
  "restore_started",
  "abandoned",
  "restored",
  "restored_before_switch",
  "profile_set",
  "activation_started",
  "exited_ok",
  "exited_units_failed",
  "exited_reboot_required",
  "exited_failed",
  "error",
  "units_ignored",
  "health_started",
  "boot_scheduled",
  "booted",
  "boot_fell_back",
  "healthy",
  "unhealthy",
  "confirmed",
  "deadline_passed",
  "kept",
  "dry_run_finished",
  "rollback_started",
  "rollback_finished",
  "rollback_error",
  "give_up",
];

type Table = {
  readonly [S in DeploymentState]: Partial<Readonly<Record<DeploymentEventName, DeploymentState>>>;
};

export const TRANSITIONS: Table = {
  pending: {
    snapshot_started: "snapshotting",
    profile_set: "profile_set",
    activation_started: "activating",
    error: "failed",
  },
  // A failed capture changed nothing the robot runs (writers are started again first).
  snapshotting: {
    data_progress: "snapshotting",
    snapshotted: "migrating",
    restore_started: "restoring",
    error: "failed",
  },
  // A failed (or interrupted) migration leaves migrated data: restore it with the rollback.
  migrating: { data_progress: "migrating", migrated: "prepared", error: "activation_failed" },
  prepared: {
    profile_set: "profile_set",
    activation_started: "activating",
    error: "activation_failed",
    abandoned: "failed",
  },
  restoring: {
    data_progress: "restoring",
    restored: "rolling_back",
    restored_before_switch: "prepared",
    error: "rollback_failed",
  },
  // Once the profile moved, an error leaves the robot changed: treat it as a failed activation.
  profile_set: { activation_started: "activating", error: "activation_failed" },
  activating: {
    exited_ok: "activated",
    exited_units_failed: "units_failed",
    exited_reboot_required: "reboot_required",
    // Exit 100 with --reboot: the agent reboots and judges the new generation as a BOOT's.
    boot_scheduled: "awaiting_reboot",
    exited_failed: "activation_failed",
    error: "activation_failed",
  },
  activated: {
    health_started: "checking_health",
    boot_scheduled: "awaiting_reboot",
    dry_run_finished: "dry_run_done",
  },
  // Only a reboot moves a BOOT deployment on; the new agent then judges the booted system.
  // boot_fell_back: the loader went back to the previous generation (restore_started: with data
  // captured before the switch, which goes back first).
  awaiting_reboot: {
    booted: "checking_health",
    boot_fell_back: "rolling_back",
    restore_started: "restoring",
    error: "failed",
  },
  // boot_fell_back, restore_started: a reset during the judging of a counted boot, and the loader went back.
  checking_health: {
    boot_fell_back: "rolling_back",
    restore_started: "restoring",
    healthy: "awaiting_confirmation",
    // Self-confirmation (--no-confirm): healthy is enough.
    confirmed: "succeeded",
    unhealthy: "unhealthy",
  },
  awaiting_confirmation: {
    boot_fell_back: "rolling_back",
    restore_started: "restoring",
    confirmed: "succeeded",
    unhealthy: "unhealthy",
    deadline_passed: "not_confirmed",
    // The deadline passed but magic rollback is off: the new generation stays.
    kept: "succeeded",
  },
  unhealthy: { rollback_started: "rolling_back", restore_started: "restoring", give_up: "failed" },
  not_confirmed: { rollback_started: "rolling_back", restore_started: "restoring", give_up: "failed" },
  // Exit 4, but every failed unit is on the ignore list: judge health as usual.
  units_failed: {
    units_ignored: "checking_health",
    rollback_started: "rolling_back",
    restore_started: "restoring",
    give_up: "failed",
  },
  activation_failed: { rollback_started: "rolling_back", restore_started: "restoring", give_up: "failed" },
  rolling_back: { rollback_finished: "rolled_back", rollback_error: "rollback_failed" },
  // Counting robot, a later boot (an operator's reboot): the loader counts the new entry's tries,
  // so the boot is judged as a BOOT deployment's would be (left unjudged, the loader drops it).
  reboot_required: {
    booted: "checking_health",
    boot_fell_back: "rolling_back",
    restore_started: "restoring",
    error: "failed",
  },
  rolled_back: {},
  rollback_failed: {},
  failed: {},
  succeeded: {},
  dry_run_done: {},
};

export function nextState(state: DeploymentState, event: DeploymentEventName): DeploymentState | undefined {
  return TRANSITIONS[state][event];
}

/**
 * Final for admission, GetStatus and the controller's exit code although the table lets a later
 * boot move them on (the deployer takes such a record up only in that boot).
 */
const FINAL_UNTIL_A_BOOT: ReadonlySet<DeploymentState> = new Set(["reboot_required"]);

export function isFinal(state: DeploymentState): boolean {
  return FINAL_UNTIL_A_BOOT.has(state) || Object.keys(TRANSITIONS[state]).length === 0;
}
