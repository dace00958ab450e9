import type { SwitchRunner } from "../system/switcher.js";
import { parseSwitchOutput, reconcile, type UnitChanges } from "../system/unit-changes.js";
import { dataWriters } from "./data-steps.js";
import type { DeploymentRecord } from "./record.js";

interface Deps {
  readonly switcher: SwitchRunner;
  readonly signal: AbortSignal;
}

/** Before a switch: which services run under which invocation (unknown when systemd cannot say). */
export async function snapshotUnits(d: Deps): Promise<DeploymentRecord["unitsBefore"]> {
  return d.switcher.invocations(d.signal).catch(() => undefined);
}

type Units = DeploymentRecord["unitsBefore"];

/**
 * A units snapshot started as an activation is admitted, so that `systemctl show` of every
 * service runs beside the lock, hold and store checks and the records written before the switch
 * (issue 13) instead of after them. Only the deployment it was taken for uses it, once, before it
 * touches anything (its data step or its switch); a resumed deployment takes a fresh one.
 */
export class EarlyUnits {
  private taken: { readonly id: string; readonly units: Promise<Units> } | undefined;

  take(id: string, d: Deps): void {
    this.taken = { id, units: snapshotUnits(d) };
  }

  /** The snapshot for `r`, or a fresh one. */
  before(r: DeploymentRecord, d: Deps): Promise<Units> {
    const taken = this.taken;
    this.taken = undefined;
    return taken?.id === r.id ? taken.units : snapshotUnits(d);
  }
}

/**
 * After a switch (and after the agent started the data writers again): its own lines, corrected
 * by the InvocationIDs systemd reports now against those from before the deployment touched a unit.
 */
export async function reportUnits(
  r: DeploymentRecord,
  unit: string,
  d: Deps,
): Promise<UnitChanges | undefined> {
  try {
    const said = parseSwitchOutput(await d.switcher.output(unit, 2000));
    if (r.unitsBefore === undefined) return said;
    return reconcile(said, r.unitsBefore, await d.switcher.invocations(d.signal), dataWriters(r));
  } catch {
    // The report is an aid: a journal that cannot be read must not fail the deployment.
    return undefined;
  }
}
