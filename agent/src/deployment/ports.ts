import type { HealthMonitor, HealthOutcome, HealthReport, HealthSpec } from "../health/index.js";
import type { HoldSplit } from "../holds/override.js";

/** Wall-clock time; a fake in tests. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** What the deployer needs to know about the robot's running system. */
export interface SystemInspector {
  /** Target of /run/current-system, if it exists. */
  runningSystem(): Promise<string | undefined>;
  /** Throws INVALID_ARGUMENT / NOT_FOUND unless the path is a valid store path holding a NixOS-like system. */
  assertSystem(storePath: string): Promise<void>;
  /** Whether NixOS's switch lock is held by someone. */
  switchLockHeld(): Promise<boolean>;
  /** Changes whenever the robot (or the lab container) boots. */
  bootId(): Promise<string>;
}

/** Health checks as the deployer uses them (the health/ module behind it). */
export interface HealthPort {
  /** Settle, then a stable window within the timeout; reports every round. */
  evaluate(
    spec: HealthSpec,
    onReport: (r: HealthReport) => void,
    signal: AbortSignal,
  ): Promise<HealthOutcome>;
  /** Rounds against one baseline, for watching a system already judged healthy. */
  monitor(spec: HealthSpec): HealthMonitor;
  /** Units systemd reports as failed now. */
  failedUnits(signal: AbortSignal): Promise<string[]>;
}

/**
 * Holds (mission running, operator's hold): consulted for a controller's
 * Activate and Rollback only, never for the agent's own rollbacks.
 */
export interface HoldsPort {
  /** Throws (naming every hold) unless each hold is free or overridden by exact name. */
  assertFree(signal: AbortSignal, override: readonly string[]): Promise<HoldSplit>;
}
