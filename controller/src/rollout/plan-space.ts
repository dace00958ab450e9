import type { StoreSpace } from "@ros-rollback/proto";
import { formatBytes } from "../report/progress.js";
import type { PushSummary } from "../transfer/transfer.js";

/** The plan's space line: what the deploy needed against what the robot had, before the transfer. */
export interface PlanSpace {
  /** NAR bytes of the paths the robot did not have. */
  readonly bytesMissing: number;
  /** Free on the store's filesystem when the plan started (GetStatus). */
  readonly storeFreeBytes: number;
  /** What the agent keeps free (gc.reserve); 0 from an agent that does not say. */
  readonly reserveBytes: number;
  readonly verdict: "fits" | "does not fit";
}

/** null: the agent did not report its space, or nothing was asked of the store. */
export function planSpace(push: PushSummary | null, space: StoreSpace | undefined): PlanSpace | null {
  if (push === null || space === undefined) return null;
  const fits = space.storeFreeBytes - push.bytesMissing >= space.storeReserveBytes;
  return {
    bytesMissing: push.bytesMissing,
    storeFreeBytes: space.storeFreeBytes,
    reserveBytes: space.storeReserveBytes,
    verdict: fits ? "fits" : "does not fit",
  };
}

/** "needs 180 MiB, 1.20 GiB free on the store, reserve 512 MiB: fits" */
export function planSpaceText(s: PlanSpace): string {
  return (
    `needs ${formatBytes(s.bytesMissing)}, ${formatBytes(s.storeFreeBytes)} free on the store,` +
    ` reserve ${formatBytes(s.reserveBytes)}: ${s.verdict}`
  );
}
