import type { BootPorts } from "../boot/ports.js";
import type { DataPort } from "../data/types.js";
import type { SystemProfile } from "../generations/profile.js";
import type { SwitchRunner } from "../system/switcher.js";
import type { Clock, HealthPort, SystemInspector } from "./ports.js";
import type { DeploymentRecord, HealthSummary } from "./record.js";
import type { DeploymentEventName } from "./states.js";

// The contract between the deployer and its steps (steps.ts, health-steps.ts): its own file, so
// the step modules depend on it and not on each other.

export type Patch = Partial<
  Pick<
    DeploymentRecord,
    | "generation"
    | "switchUnit"
    | "rollbackUnit"
    | "exitCode"
    | "confirmDeadline"
    | "rollbackReason"
    | "rollbackCause"
    | "bootId"
    | "booted"
    | "health"
    | "snapshots"
    | "restores"
    | "migrationStartedAt"
    | "unitChanges"
    | "rollbackUnitChanges"
    | "unitsBefore"
    | "writersStoppedAt"
  >
> & {
  message: string;
};

export interface StepDeps {
  readonly profile: SystemProfile;
  readonly switcher: SwitchRunner;
  readonly health: HealthPort;
  readonly system: SystemInspector;
  readonly data: DataPort;
  readonly clock: Clock;
  readonly options: {
    readonly activationTimeoutMs: number;
    readonly deleteFailedGenerations: boolean;
  };
  readonly signal: AbortSignal;
  /** Boot counting (config boot.counting); absent: a deployment never reboots the robot. */
  readonly boot?: BootPorts | undefined;
  /** Persists the transition BEFORE the caller goes on to the next side effect. */
  transition(event: DeploymentEventName, patch: Patch): Promise<void>;
  /** Publishes a health round without changing state. */
  report(health: HealthSummary): void;
  /** Whether a Confirm for this deployment has arrived. */
  confirmRequested(id: string): boolean;
  /** Sleeps up to ms, waking early when a Confirm arrives. */
  waitForConfirm(ms: number, signal: AbortSignal): Promise<void>;
  /** The units before a deployment touches any: taken at its admission when still valid, else now. */
  unitsBefore(r: DeploymentRecord): Promise<DeploymentRecord["unitsBefore"]>;
}

/** One state's step: its side effect, then the transition that records the outcome. */
export type Step = (r: DeploymentRecord, d: StepDeps) => Promise<void>;

/**
 * What running a state's step came to. "next": the record moved on (drive on);
 * "park": nothing to do until something outside changes (a reboot); stop driving.
 */
export type StepResult = "next" | "park";
