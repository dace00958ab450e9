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
}
