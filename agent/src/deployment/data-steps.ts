import type { DataPort, DataSnapshot } from "../data/types.js";
import type { DeploymentRecord } from "./record.js";
import type { StepDeps } from "./step-contract.js";

/** The data steps' view of the deployment steps' dependencies. */
export type DataStepDeps = StepDeps & { readonly data: DataPort };

const errText = (e: unknown) => (e instanceof Error ? e.message : String(e));

function writers(list: readonly DataSnapshot[] | undefined): string[] {
  return [...new Set((list ?? []).flatMap((s) => s.units))];
}

/** The units the data steps of `r` stop (and start again after its switch). */
export function dataWriters(r: DeploymentRecord): string[] {
  return writers([...(r.snapshots ?? []), ...(r.restores ?? [])]);
}

function names(list: readonly DataSnapshot[]): string {
  return list.map((s) => `${s.path} (${s.method})`).join(", ");
}

/** Whether a deployment captures data before its switch (planned at admission). */
export function hasDataSteps(r: DeploymentRecord): boolean {
  return (r.snapshots?.length ?? 0) > 0 || (r.restores?.length ?? 0) > 0;
}

/**
 * Stops the writers and captures every planned entry, persisting each
 * capture before the next. A failure starts the writers again and ends the
 * deployment `failed`: nothing the robot runs has changed.
 */
export async function snapshotting(r: DeploymentRecord, d: DataStepDeps): Promise<void> {
  let snaps = [...(r.snapshots ?? [])];
  try {
    await d.data.units.stop(writers(snaps), d.signal);
    for (const [i, s] of snaps.entries()) {
      if (s.state !== "planned") continue;
      const done = await d.data.capture(s, d.signal);
      snaps = snaps.map((x, j) => (j === i ? done : x));
      await d.transition("data_progress", {
        message: `captured ${s.path} by ${s.method} at ${s.location}`,
        snapshots: snaps,
      });
    }
  } catch (e) {
    if (d.signal.aborted) throw e;
    await d.data.units.start(writers(snaps), d.signal).catch(() => undefined);
    await d.data.settle(r.id, { outcome: "discarded" }).catch(() => undefined);
    await d.transition("error", {
      message: `snapshot of the declared data failed: ${errText(e)}; nothing was changed`,
    });
    return;
  }
  if (r.kind === "rollback") {
    await d.transition("restore_started", {
      message: `data captured: ${names(snaps)}; restoring the data of ${r.restoreFrom}`,
    });
  } else {
    await d.transition("snapshotted", { message: `data captured: ${names(snaps)}` });
  }
}

/**
 * Sets the profile of an activation whose data is captured. When that fails
 * and no migration hook ran, the data is as it was: starting the writers again
 * undoes all the deployment did, so it ends `failed` (nothing changed) rather
 * than restoring and running the previous system's switch.
 */
export async function setProfileAfterCapture(r: DeploymentRecord, d: DataStepDeps): Promise<void> {
  let generation: number;
  try {
    generation = await d.profile.set(r.storePath, d.signal);
  } catch (e) {
    if (d.signal.aborted || r.migrationStartedAt !== undefined) throw e;
    await d.data.units.start(writers(r.snapshots), d.signal).catch(() => undefined);
    await d.data.settle(r.id, { outcome: "discarded" }).catch(() => undefined);
    await d.transition("abandoned", {
      message: `${errText(e)}; no migration ran, the writers are started again: nothing was changed`,
    });
    return;
  }
  await d.transition("profile_set", { message: `profile set: generation ${generation}`, generation });
}

/** Runs the new system's migration hook once; seen again after a restart its outcome is unknown. */
export async function migrating(r: DeploymentRecord, d: DataStepDeps): Promise<void> {
  // BOOT: the new software runs only after the reboot; migrating now would hand the old one new data.
  const hook = r.action === "boot" ? undefined : await d.data.migrationHook(r.storePath);
  if (hook === undefined) {
    await d.transition("migrated", { message: "no migration hook" });
    return;
  }
  if (r.migrationStartedAt !== undefined) {
    await d.transition("error", {
      message: "the agent stopped while the migration hook ran; its outcome is unknown: restoring the data",
    });
    return;
  }
  await d.transition("data_progress", {
    message: `running the migration hook ${hook}`,
    migrationStartedAt: d.clock.now(),
  });
  try {
    await d.data.migrate(hook, r.storePath, d.signal);
  } catch (e) {
    if (d.signal.aborted) throw e;
    await d.transition("error", { message: `migration failed: ${errText(e)}` });
    return;
  }
  await d.transition("migrated", { message: `migration hook ${hook} succeeded` });
}

/**
 * Puts captured data back with its writers stopped: stage a copy next to the
 * directory, then swap it in by rename. Each step is persisted first, so a
 * killed agent redoes exactly the unfinished one.
 */
export async function restoring(r: DeploymentRecord, d: DataStepDeps): Promise<void> {
  let list = [...(r.restores ?? [])];
  const set = async (i: number, s: DataSnapshot, message: string) => {
    list = list.map((x, j) => (j === i ? s : x));
    await d.transition("data_progress", { message, restores: list });
  };
  try {
    await d.data.units.stop(writers(list), d.signal);
    for (const [i, first] of list.entries()) {
      let s = first;
      if (s.state === "captured") {
        s = { ...s, state: "staging" };
        await set(i, s, `restoring ${s.path}: staging a copy of ${s.location}`);
      }
      if (s.state === "staging") {
        await d.data.stage(s, r.id, d.signal);
        s = { ...s, state: "swapping" };
        await set(i, s, `restoring ${s.path}: swapping the copy in`);
      }
      if (s.state === "swapping") {
        await d.data.swap(s, r.id);
        await set(i, { ...s, state: "restored" }, `restored ${s.path}`);
      }
    }
  } catch (e) {
    if (d.signal.aborted) throw e;
    await d.transition("error", {
      message: `restoring the data failed: ${errText(e)}; the record lists what was restored, the snapshots are kept`,
    });
    return;
  }
  const restored = `data restored: ${list.map((s) => s.path).join(", ")}`;
  if (r.kind === "rollback") {
    if (r.restoreFrom !== undefined)
      await d.data.settle(r.restoreFrom, { outcome: "restored" }).catch(() => undefined);
    await d.transition("restored_before_switch", { message: `${restored}; switching` });
  } else {
    await d.transition("restored", { message: `${restored}; switching back` });
  }
}

/** "; data restored: PATH, …" for a rollback's message, or nothing. */
export function restoredData(r: DeploymentRecord): string {
  const done = (r.restores ?? []).filter((s) => s.state === "restored").map((s) => s.path);
  return done.length > 0 ? `; data restored: ${done.join(", ")}` : "";
}

/**
 * After a switch: start the writers the data steps stopped (the switch may not, for unchanged
 * units), each on its own (one the new system dropped must not keep the others stopped), and note
 * how long those that ran before were stopped, for the next plan.
 */
export async function startWriters(r: DeploymentRecord, d: DataStepDeps): Promise<void> {
  const units = dataWriters(r);
  for (const u of units) await d.data.units.start([u], d.signal).catch(() => undefined);
  const since = r.writersStoppedAt;
  if (since === undefined) return;
  const before = r.unitsBefore;
  const interrupted = before === undefined ? units : units.filter((u) => (before[u] ?? "") !== "");
  await d.data.stops.record(interrupted, Math.max(0, d.clock.now() - since)).catch(() => undefined);
}
