import type { SwitchAction } from "../system/switcher.js";
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
  readonly message: string;
  readonly startedAt: number;
  readonly updatedAt: number;
  readonly history: readonly HistoryEntry[];
}
