import type { PathInfo } from "@ros-rollback/proto";
import type { AgentApi } from "../agent-api.js";

/** Push progress as the closure module reports it, once the transport has sent the bytes. */
export interface PushProgress {
  /** NAR bytes sent (compressed: those the sent compressed bytes carry, estimated). */
  readonly bytesSent: number;
  readonly bytesTotal: number;
  readonly pathsSent: number;
  readonly pathsTotal: number;
  /** NarChunk bytes on the wire so far (compressed when the push is); absent = same as bytesSent. */
  readonly wireBytesSent?: number;
}

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

/** What a push did, as it grows: the transfer's answer to the deploy and its report. */
export interface PushSummary {
  readonly compression: string;
  /** Paths in the closure. */
  readonly pathsTotal: number;
  /** Paths the agent did not have. */
  readonly pathsMissing: number;
  /** NAR bytes of the missing paths (uncompressed). */
  readonly bytesMissing: number;
  /** What the agent reported for the push (0 when nothing was pushed). */
  readonly pathsImported: number;
  readonly pathsSkipped: number;
  readonly narBytes: number;
  /** NarChunk bytes sent (compressed size when compressing); null when the closure code did not say. */
  readonly wireBytes: number | null;
  readonly signed: boolean;
  readonly seconds: number;
  /** How the bytes went: the agent's raw push channel, or gRPC PushPaths (an agent without it); null: nothing pushed. */
  readonly transport: "raw" | "grpc" | null;
  /** What the robot fetched from its own caches first (--transfer auto|substitute), or null (push only). */
  readonly substituted: SubstituteSummary | null;
}

export interface SubstituteSummary {
  /** Missing paths the robot's caches said they hold. */
  readonly pathsSubstitutable: number;
  /** Paths the robot fetched (not counting those it had meanwhile). */
  readonly pathsSubstituted: number;
  readonly narBytesSubstituted: number;
  readonly seconds: number;
  /** auto: why substitution failed and the paths were pushed instead; null if it did not fail. */
  readonly fallback: string | null;
  /** Caches that could not be asked, with why. */
  readonly unreachable: readonly string[];
}
