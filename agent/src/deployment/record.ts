import type { DataSnapshot } from "../data/types.js";
import type { HealthSpec } from "../health/index.js";
import type { SwitchAction } from "../system/switcher.js";
import type { UnitChanges, UnitInvocations } from "../system/unit-changes.js";
import type { DeploymentState } from "./states.js";

export type DeploymentKind = "activate" | "rollback";

/** What the robot ran before the deployment: where a rollback returns to. */
export interface PreviousSystem {
  /** Profile generation that was current (0 when the profile did not exist). */
  readonly generation: number;
  /** Store path of that generation (or of the running system for TEST). */
  readonly storePath: string | undefined;
  /** Target of /run/current-system at the start. */
  readonly runningSystem: string | undefined;
}

/** Why a deployment went back to the previous system. */
export type RollbackReason = "unhealthy" | "not_confirmed" | "activation_failed" | "manual" | "boot";

/** A deployment's own settings: the agent's defaults with what the deploy asked for. */
export interface DeploymentSettings {
  readonly confirmTimeoutSeconds: number;
  /** Roll back when no Confirm arrives by the deadline. */
  readonly magicRollback: boolean;
  /** Roll back when activation or health fails. */
  readonly autoRollback: boolean;
  /** Keep the deployment as soon as it is healthy; no Confirm needed. */
  readonly selfConfirm: boolean;
  readonly health: HealthSpec;
  /** The deploy's opaque label (a fleet rollout's id), echoed in GetStatus; absent in older records. */
  readonly label?: string | undefined;
  /** Reboot into the new generation and judge it there (boot counting); absent in older records. */
  readonly reboot?: boolean | undefined;
}

/** The last health round, as reported in events and GetStatus. */
export interface HealthSummary {
  readonly healthy: boolean;
  readonly reason: string;
  readonly phase: string;
  readonly at: number;
  readonly stableForSeconds: number;
  readonly checks: readonly {
    readonly id: string;
    readonly kind: string;
    readonly healthy: boolean;
    readonly reason: string;
    readonly durationMs: number;
  }[];
}

export interface HistoryEntry {
  readonly state: DeploymentState;
  readonly at: number;
  readonly message: string;
}

/** The persisted deployment; written atomically before every side effect. */
export interface DeploymentRecord {
  readonly version: 1;
  readonly id: string;
  readonly kind: DeploymentKind;
  readonly action: SwitchAction;
  readonly storePath: string;
  readonly previous: PreviousSystem;
  readonly state: DeploymentState;
  /** Generation the deployment made current (SWITCH/BOOT and rollbacks). */
  readonly generation: number | undefined;
  readonly switchUnit: string | undefined;
  readonly rollbackUnit: string | undefined;
  readonly exitCode: number | undefined;
  readonly settings: DeploymentSettings;
  /** Wall-clock deadline for Confirm; persisted so a restarted agent keeps the ORIGINAL one. */
  readonly confirmDeadline: number | undefined;
  readonly rollbackReason: RollbackReason | undefined;
  /** What made the deployment roll back, in words (names the failing check or unit). */
  readonly rollbackCause: string | undefined;
  /** BOOT: the boot during which the new generation was made the boot default. */
  readonly bootId: string | undefined;
  /** BOOT: the robot has since booted the new generation. */
  readonly booted: boolean;
  readonly health: HealthSummary | undefined;
  /** Declared data captured before the switch (absent in records of older agents). */
  readonly snapshots?: readonly DataSnapshot[];
  /** Data put back (or being put back) by this deployment's rollback or by an operator rollback. */
  readonly restores?: readonly DataSnapshot[];
  /** Operator rollback: the deployment whose snapshots `restores` come from. */
  readonly restoreFrom?: string | undefined;
  /** Holds a controller's request went ahead despite (`--override-hold`); absent when none. */
  readonly overriddenHolds?: readonly string[] | undefined;
  /** Who started it (describeIdentity: escaped, bounded); absent without a client certificate and in older records. */
  readonly startedBy?: string | undefined;
  /** When the migration hook was started: seen again after a restart, its outcome is unknown. */
  readonly migrationStartedAt?: number | undefined;
  readonly message: string;
  readonly startedAt: number;
  readonly updatedAt: number;
  readonly history: readonly HistoryEntry[];
  /** What the activation's switch did to units (absent until it ran, and in records of older agents). */
  readonly unitChanges?: UnitChanges | undefined;
  /** What the rollback's switch did to units. */
  readonly rollbackUnitChanges?: UnitChanges | undefined;
  /**
   * Active services' InvocationIDs before the deployment (or its rollback) touched a unit: before
   * its data step stops the writers, else just before its switch. Dropped once the report is made.
   */
  readonly unitsBefore?: UnitInvocations | undefined;
  /** When the data step began stopping the writers; dropped with `unitsBefore`. */
  readonly writersStoppedAt?: number | undefined;
}
