import type { DataEntry } from "../data/types.js";
import type { UnitChanges, UnitInvocations } from "../system/unit-changes.js";

/** A running data writer the data step stops for the snapshot, and what the deployment then leaves of it. */
export interface DataInterruption {
  readonly unit: string;
  readonly paths: readonly string[];
  /** How long it was stopped the last time; undefined when the agent does not know. */
  readonly lastStoppedMs: number | undefined;
  readonly after: "restarted" | "stopped";
}

export interface DataUnitsInput {
  /** The data entries a deployment of the new system would capture. */
  readonly entries: readonly DataEntry[];
  /** Active services now, with their InvocationIDs. */
  readonly running: UnitInvocations;
  /** What dry-activate says, run while the writers still run. */
  readonly dry: UnitChanges;
  /** The services the new system defines. */
  readonly services: readonly string[];
  readonly lastStopped: ReadonlyMap<string, number>;
}

/**
 * Adds to dry-activate's word what the data step does to the writers, so that the plan lists
 * each unit as the deployment's report will (unit-changes.ts `reconcile`): a writer running now
 * is stopped for the snapshot and started again (restarted), unless the new system drops it
 * (stopped); one not running is started when the new system has it.
 */
export function planDataUnits(input: DataUnitsInput): {
  units: UnitChanges;
  interrupted: DataInterruption[];
} {
  const paths = new Map<string, string[]>();
  for (const e of input.entries) for (const u of e.units) paths.set(u, [...(paths.get(u) ?? []), e.path]);
  const lists = {
    stopped: new Set(input.dry.stopped),
    started: new Set(input.dry.started),
    restarted: new Set(input.dry.restarted),
    reloaded: new Set(input.dry.reloaded),
  };
  const interrupted: DataInterruption[] = [];
  const move = (u: string, to: keyof typeof lists) => {
    for (const set of Object.values(lists)) set.delete(u);
    lists[to].add(u);
  };
  for (const [unit, ps] of [...paths].sort(([a], [b]) => a.localeCompare(b))) {
    if ((input.running[unit] ?? "") !== "") {
      const after = input.dry.stopped.includes(unit) ? "stopped" : "restarted";
      move(unit, after);
      interrupted.push({ unit, paths: ps, lastStoppedMs: input.lastStopped.get(unit), after });
    } else if (input.services.includes(unit) || lists.started.has(unit) || lists.restarted.has(unit)) {
      move(unit, "started");
    }
  }
  const sorted = (s: Set<string>) => [...s].sort();
  return {
    units: {
      stopped: sorted(lists.stopped),
      started: sorted(lists.started),
      restarted: sorted(lists.restarted),
      reloaded: sorted(lists.reloaded),
    },
    interrupted,
  };
}
