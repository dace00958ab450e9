import type { PathInfo } from "@ros-rollback/proto";
import type { AgentApi } from "../agent-api.js";
import type { PushProgress } from "../report/progress.js";
import type { PushSummary } from "../report/report.js";

/** Where a transfer reports its progress (a bar on stderr for one robot; a table cell in a rollout). */
export interface TransferProgress {
  update(p: PushProgress): void;
  /** The transfer finished: draw the final state. */
  finish(): void;
  /** The transfer failed: end the display without redrawing. */
  interrupt(): void;
}

/**
 * Gets a closure onto one robot's store; changes no generation. Today's
 * implementation pushes NARs over the agent's PushPaths stream
 * (push-transfer.ts); a binary cache the robot pulls from is the next one.
 */
export interface Transfer {
  /**
   * Makes sure the robot holds every path of `closure`, sending only the
   * paths it lacks. `report` receives the summary as it grows, so a failure
   * halfway still says what was sent. `asked`: the agent's answer to
   * QueryMissingPaths for exactly `closure`'s paths, when the caller asked
   * already (beside GetStatus); it is not asked again (but after an upload
   * that may take minutes: upload-first.ts).
   */
  ensurePaths(
    api: AgentApi,
    closure: readonly PathInfo[],
    signal: AbortSignal,
    report: (summary: PushSummary) => void,
    asked?: Promise<string[]>,
  ): Promise<PushSummary>;
}
