/** A directory whose content belongs to a generation, and the units that write it. */
export interface DataEntry {
  readonly path: string;
  /** Stopped while the directory is captured or restored, started again after. */
  readonly units: readonly string[];
}

/** btrfs: read-only subvolume snapshot; reflink: `cp --reflink=always`; copy: a plain full copy. */
export type CaptureMethod = "btrfs" | "reflink" | "copy";

/**
 * One entry's capture and, when undone, its restore. Each state is persisted
 * before the step it names, so an agent killed mid-way redoes that step.
 */
export type SnapshotState =
  /** Chosen and sized; capturing next (a partial location is discarded and redone). */
  | "planned"
  /** The location holds the directory as it was. */
  | "captured"
  /** Restore: copying the snapshot next to the directory (a partial copy is redone). */
  | "staging"
  /** Restore: the staged copy is complete; swapping it in by rename next. */
  | "swapping"
  /** The directory holds the captured content again. */
  | "restored";

export interface DataSnapshot {
  readonly path: string;
  readonly units: readonly string[];
  readonly method: CaptureMethod;
  /** Where the capture lives (under the agent's state directory). */
  readonly location: string;
  readonly sizeBytes: number;
  readonly state: SnapshotState;
  /** The directory did not exist when captured: restoring removes it. */
  readonly absent: boolean;
}

/** Stops and starts the units that write an entry (systemd on a robot). */
export interface UnitControl {
  stop(units: readonly string[], signal: AbortSignal): Promise<void>;
  start(units: readonly string[], signal: AbortSignal): Promise<void>;
}

/** How long each data writer was stopped the last time (an aid for plans). */
export interface StopLog {
  /** Notes that `units` were stopped for `ms` by the deployment that just switched. */
  record(units: readonly string[], ms: number): Promise<void>;
  /** Unit → milliseconds it was stopped the last time; units never stopped are absent. */
  last(): Promise<ReadonlyMap<string, number>>;
}

/** What the deployment steps need from the data module. */
export interface DataPort {
  /** The config's entries merged with those the system declares in `<system>/ros-rollback/data.json`. */
  entriesFor(systemPath: string): Promise<DataEntry[]>;
  /** Chooses a method and location per entry and checks free space (RESOURCE_EXHAUSTED when short). */
  plan(deploymentId: string, entries: readonly DataEntry[]): Promise<DataSnapshot[]>;
  /** Captures one planned entry; safe to run again after a crash (redoes a partial capture). */
  capture(s: DataSnapshot, signal: AbortSignal): Promise<DataSnapshot>;
  /** Copies the snapshot next to the directory (state staging → swapping). Redoes a partial copy. */
  stage(s: DataSnapshot, deploymentId: string, signal: AbortSignal): Promise<void>;
  /** Swaps the staged copy in by rename; idempotent (state swapping → restored). */
  swap(s: DataSnapshot, deploymentId: string): Promise<void>;
  /** `<system>/ros-rollback/migrate` when the system has one (an executable file). */
  migrationHook(systemPath: string): Promise<string | undefined>;
  /** Runs the hook, bounded in time; a non-zero exit or the timeout throws. */
  migrate(hook: string, systemPath: string, signal: AbortSignal): Promise<void>;
  /**
   * Notes how a deployment ended (and which generation it made current, replacing
   * which) and deletes snapshots no longer kept. Returns the deleted ids.
   */
  settle(deploymentId: string, how: Settlement): Promise<string[]>;
  /** Kept snapshots of the confirmed deployment that made `current` current, taken of `target`'s data. */
  confirmedFor(
    current: number,
    target: number,
  ): Promise<{ id: string; snapshots: DataSnapshot[] } | undefined>;
  readonly units: UnitControl;
  readonly stops: StopLog;
}

export interface Settlement {
  readonly outcome: SnapshotOutcome;
  /** succeeded: the generation the deployment made current, and the one it replaced. */
  readonly made?: number | undefined;
  readonly previous?: number | undefined;
  /** The captures as the record has them (states final). */
  readonly snapshots?: readonly DataSnapshot[] | undefined;
}

/** succeeded: kept per retention; restored/discarded: redundant (data is back / nothing changed). Others stay. */
export type SnapshotOutcome = "succeeded" | "restored" | "discarded";
