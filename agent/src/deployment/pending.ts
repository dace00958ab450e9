import type { DataPort, DataSnapshot } from "../data/types.js";
import { AgentError } from "../errors.js";
import type { SystemProfile } from "../generations/profile.js";
import type { SwitchAction } from "../system/switcher.js";
import type { Clock, SystemInspector } from "./ports.js";
import type { DeploymentKind, DeploymentRecord, DeploymentSettings, PreviousSystem } from "./record.js";
import type { RecordStore } from "./record-file.js";

// A new deployment's pending record: everything read from the robot, nothing on it changed. An
// input the robot cannot take is refused here, before the record exists.

export interface PendingDeps {
  readonly profile: SystemProfile;
  readonly records: RecordStore;
  readonly system: SystemInspector;
  readonly data: DataPort;
  readonly clock: Clock;
  /** Refuses (NO_SPACE) a system whose kernel and initrd the boot partition cannot take (gc/boot-space.ts). */
  readonly bootSpace?: ((system: string) => Promise<void>) | undefined;
}

/** What an activation reads from the robot before its record. */
export interface ActivationReads {
  readonly system: Promise<void>;
  readonly current: ReturnType<SystemProfile["current"]>;
  readonly running: Promise<string | undefined>;
  readonly entries: ReturnType<DataPort["entriesFor"]> | undefined;
  /** Only for an action that installs a bootloader entry. */
  readonly boot: Promise<void> | undefined;
}

/**
 * Starts an activation's reads. They only read, so they start as soon as it is admitted, beside
 * the lock and hold checks (issue 13); pendingActivate judges them after those, in this order,
 * so the refusal is the same as when they ran one after another.
 */
export function activationReads(deps: PendingDeps, storePath: string, action: SwitchAction): ActivationReads {
  const reads: ActivationReads = {
    system: deps.system.assertSystem(storePath),
    current: deps.profile.current(),
    running: deps.system.runningSystem(),
    entries: action === "dry-activate" ? undefined : deps.data.entriesFor(storePath),
    boot: action === "switch" || action === "boot" ? deps.bootSpace?.(storePath) : undefined,
  };
  // Reported when awaited; a refusal before that leaves them unread.
  for (const p of Object.values(reads)) p?.catch(() => undefined);
  return reads;
}

export async function pendingActivate(
  deps: PendingDeps,
  id: string,
  storePath: string,
  action: SwitchAction,
  settings: DeploymentSettings,
  overriddenHolds: readonly string[] | undefined,
  reads: ActivationReads = activationReads(deps, storePath, action),
): Promise<DeploymentRecord> {
  await reads.system;
  await reads.boot;
  const current = await reads.current;
  const runningSystem = await reads.running;
  // TEST and DRY_ACTIVATE leave the profile alone: what runs is what to return to.
  const profileAction = action === "switch" || action === "boot";
  // Refused here, before the record exists, when the data cannot be captured.
  const snapshots = reads.entries === undefined ? [] : await deps.data.plan(id, await reads.entries);
  return pendingRecord(deps.clock, {
    id,
    kind: "activate",
    action,
    storePath,
    settings,
    previous: {
      generation: current?.number ?? 0,
      storePath: profileAction
        ? (current?.storePath ?? runningSystem)
        : (runningSystem ?? current?.storePath),
      runningSystem,
    },
    generation: undefined,
    snapshots,
    overriddenHolds,
  });
}

/** `generation` undefined: the one the current generation replaced (its recorded lineage). */
export async function pendingRollback(
  deps: PendingDeps,
  id: string,
  generation: number | undefined,
  settings: DeploymentSettings,
  overriddenHolds: readonly string[] | undefined,
): Promise<DeploymentRecord> {
  const gens = await deps.profile.list();
  const current = gens.find((g) => g.current);
  const target = generation ?? (current ? (await deps.records.loadLineage())[current.number] : undefined);
  if (target === undefined) {
    throw new AgentError(
      "FAILED_PRECONDITION",
      "no previous generation is recorded on this robot; name one (rollback --to N)",
    );
  }
  const gen = gens.find((g) => g.number === target);
  if (gen === undefined) {
    throw new AgentError(
      "NOT_FOUND",
      `generation ${target} does not exist (have: ${gens.map((g) => g.number).join(", ") || "none"})`,
    );
  }
  if (current?.number === target) {
    throw new AgentError("FAILED_PRECONDITION", `generation ${target} is already current`);
  }
  await deps.system.assertSystem(gen.storePath);
  // The data of the deployment being undone goes back; what is there now is captured first.
  const undo = current ? await deps.data.confirmedFor(current.number, target) : undefined;
  const data = undo
    ? {
        snapshots: await deps.data.plan(id, undo.snapshots),
        restores: undo.snapshots.map((s) => ({ ...s, state: "captured" as const })),
        restoreFrom: undo.id,
      }
    : {};
  return pendingRecord(deps.clock, {
    id,
    kind: "rollback",
    action: "switch",
    storePath: gen.storePath,
    settings,
    previous: {
      generation: current?.number ?? 0,
      storePath: current?.storePath,
      runningSystem: await deps.system.runningSystem(),
    },
    generation: target,
    overriddenHolds,
    ...data,
  });
}

interface PendingInput {
  readonly id: string;
  readonly kind: DeploymentKind;
  readonly action: SwitchAction;
  readonly storePath: string;
  readonly settings: DeploymentSettings;
  readonly previous: PreviousSystem;
  readonly generation: number | undefined;
  readonly snapshots?: DataSnapshot[] | undefined;
  readonly restores?: DataSnapshot[] | undefined;
  readonly restoreFrom?: string | undefined;
  readonly overriddenHolds: readonly string[] | undefined;
}

function pendingRecord(clock: Clock, p: PendingInput): DeploymentRecord {
  const now = clock.now();
  return {
    version: 1,
    id: p.id,
    kind: p.kind,
    action: p.action,
    storePath: p.storePath,
    previous: p.previous,
    state: "pending",
    generation: p.generation,
    switchUnit: undefined,
    rollbackUnit: undefined,
    exitCode: undefined,
    settings: p.settings,
    confirmDeadline: undefined,
    rollbackReason: p.kind === "rollback" ? "manual" : undefined,
    rollbackCause: undefined,
    bootId: undefined,
    booted: false,
    health: undefined,
    snapshots: p.snapshots ?? [],
    restores: p.restores ?? [],
    restoreFrom: p.restoreFrom,
    overriddenHolds: p.overriddenHolds,
    message:
      p.kind === "activate" ? `${p.action} to ${p.storePath}` : `rollback to generation ${p.generation}`,
    startedAt: now,
    updatedAt: now,
    history: [],
  };
}
