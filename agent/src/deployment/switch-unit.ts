// A switch-to-configuration unit: its name, the one way it runs, and how its exit status reads.
import { waitForSwitch } from "../system/switcher.js";
import { hasDataSteps, startWriters } from "./data-steps.js";
import type { DeploymentRecord } from "./record.js";
import type { DeploymentEventName } from "./states.js";
import type { StepDeps } from "./step-contract.js";
import { reportUnits } from "./unit-report.js";

/**
 * The one way a switch-to-configuration unit runs, for activating and rolling
 * back alike: start it unless it exists (a restarted agent finds it running
 * or finished), wait for its exit status, start the data writers it left
 * stopped, read what it did to units, and clean the unit up.
 */
export async function runSwitchUnit(
  r: DeploymentRecord,
  d: StepDeps,
  unit: string,
  start: () => Promise<void>,
): Promise<{ code: number; tail: string; unitChanges: Awaited<ReturnType<typeof reportUnits>> }> {
  // Recorded before the unit starts; absent here means the agent died in between.
  if (!(await d.switcher.status(unit, d.signal)).exists) await start();
  const code = await waitForSwitch(d.switcher, unit, {
    timeoutMs: d.options.activationTimeoutMs,
    signal: d.signal,
  });
  const tail = code === 0 ? "" : await d.switcher.output(unit, 15).catch(() => "");
  // Writers first: the report's "after" picture is of the units as the deployment leaves them.
  if (hasDataSteps(r)) await startWriters(r, d);
  const unitChanges = await reportUnits(r, unit, d);
  await d.switcher.cleanup(unit);
  return { code, tail, unitChanges };
}

export function switchUnitName(id: string, what: "switch" | "rollback"): string {
  return `ros-rollback-${what}-${id}`;
}

export function exitEvent(code: number): DeploymentEventName {
  if (code === 0) return "exited_ok";
  if (code === 4) return "exited_units_failed";
  if (code === 100) return "exited_reboot_required";
  return "exited_failed";
}

export function describeExit(code: number, tail: string): string {
  const out = tail ? `: ${tail.split("\n").slice(-5).join(" | ")}` : "";
  if (code === 0) return "switch-to-configuration finished";
  if (code === 4) return `switch-to-configuration exited 4: some unit failed${out}`;
  if (code === 100) return "switch-to-configuration exited 100: reboot required to finish the change";
  if (code < 0) return `switch-to-configuration was killed by signal ${-code}${out}`;
  return `switch-to-configuration failed with exit ${code}${out}`;
}
