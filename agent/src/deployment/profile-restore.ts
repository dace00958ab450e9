import type { DeploymentRecord } from "./record.js";
import type { StepDeps } from "./step-contract.js";

/** Returns the profile to the recorded previous generation and drops the failed one. */
export async function restoreProfile(r: DeploymentRecord, d: StepDeps): Promise<void> {
  const prev = r.previous.generation;
  const gens = await d.profile.list();
  if (prev > 0 && gens.some((g) => g.number === prev)) {
    const current = gens.find((g) => g.current);
    if (current?.number !== prev) await d.profile.switchTo(prev, d.signal);
  }
  const failed = r.generation;
  if (
    d.options.deleteFailedGenerations &&
    failed !== undefined &&
    failed !== prev &&
    gens.some((g) => g.number === failed)
  ) {
    await d.profile.delete(failed, d.signal);
  }
}
