import type { SwitchRunner } from "../system/switcher.js";
import { parseSwitchOutput, reconcile, type UnitChanges } from "../system/unit-changes.js";
import type { DeploymentRecord } from "./record.js";

interface Deps {
  readonly switcher: SwitchRunner;
  readonly signal: AbortSignal;
}

/** Before a switch: which services run under which invocation (unknown when systemd cannot say). */
export async function snapshotUnits(d: Deps): Promise<DeploymentRecord["unitsBefore"]> {
  return d.switcher.invocations(d.signal).catch(() => undefined);
}

/** After a switch: its own lines, corrected by the InvocationIDs systemd reports now. */
export async function reportUnits(
  r: DeploymentRecord,
  unit: string,
  d: Deps,
): Promise<UnitChanges | undefined> {
  try {
    const said = parseSwitchOutput(await d.switcher.output(unit, 2000));
    if (r.unitsBefore === undefined) return said;
    return reconcile(said, r.unitsBefore, await d.switcher.invocations(d.signal));
  } catch {
    // The report is an aid: a journal that cannot be read must not fail the deployment.
    return undefined;
  }
}
