import type { Logger } from "pino";
import type { DataPort } from "../data/types.js";
import type { DeploymentRecord } from "./record.js";
import type { RecordStore } from "./record-file.js";
import { isFinal } from "./states.js";

// What a persisted transition leaves behind besides the record: the lineage a later `rollback`
// without a number reads, and the data snapshots a final deployment keeps or drops.

/** Runs after the record is saved and before it is published (see CurrentDeployment.setState). */
export async function settleTransition(
  deps: { readonly records: RecordStore; readonly data: DataPort; readonly log: Logger },
  r: DeploymentRecord,
): Promise<void> {
  if (r.kind === "activate" && (r.state === "succeeded" || r.state === "reboot_required")) {
    await recordLineage(deps.records, r);
  }
  if (isFinal(r.state) && (r.snapshots?.length ?? 0) > 0) await settleData(deps.data, deps.log, r);
}

/** Remembers which generation the new one replaced, for `rollback` without a number. */
async function recordLineage(records: RecordStore, r: DeploymentRecord): Promise<void> {
  if (r.generation === undefined || r.previous.generation <= 0 || r.generation === r.previous.generation)
    return;
  const lineage = await records.loadLineage();
  await records.saveLineage({ ...lineage, [r.generation]: r.previous.generation });
}

/** Keeps a confirmed deployment's snapshots (per retention), drops restored ones. Never throws. */
async function settleData(data: DataPort, log: Logger, r: DeploymentRecord): Promise<void> {
  const outcome = r.state === "succeeded" ? "succeeded" : r.state === "rolled_back" ? "restored" : undefined;
  if (outcome === undefined) return;
  try {
    const dropped = await data.settle(r.id, {
      outcome,
      made: r.generation,
      previous: r.previous.generation,
      snapshots: r.snapshots,
    });
    if (dropped.length > 0) log.info({ deploymentId: r.id, dropped }, "data snapshots deleted");
  } catch (e) {
    log.error({ err: e, deploymentId: r.id }, "could not settle the data snapshots");
  }
}
