import type { Compression, PathInfo, PushPathsRequest, RawPushProgress } from "@ros-rollback/proto";
import type { PushProgress } from "../transfer/transfer.js";

/**
 * What `deploy` needs from the local Nix store. The composition root (cli.ts)
 * wires the real implementation from ./closure/; tests pass fakes.
 */
export interface ClosureOps {
  /** The closure of `storePath`, references first. */
  computeClosure(storePath: string, signal: AbortSignal): Promise<PathInfo[]>;
  /** The same paths with a signature by the key in `secretKeyFile` (Nix secret-key format) added. */
  signPaths(infos: PathInfo[], secretKeyFile: string, signal: AbortSignal): Promise<PathInfo[]>;
  /** Copies the closure of `storePath` to the binary cache `storeUri`, signing with `secretKeyFile` if given. */
  uploadClosure(
    storePath: string,
    storeUri: string,
    secretKeyFile: string | undefined,
    signal: AbortSignal,
  ): Promise<void>;
  /**
   * The PushPaths message stream for `infos`: options, then per path its info
   * and NAR chunks. `onProgress` follows `written`, which the transport calls
   * once a message has been sent (so progress is what left, not what was queued).
   */
  pushRequests(
    infos: PathInfo[],
    opts: {
      compression: Compression | "auto";
      onProgress?: (p: PushProgress) => void;
      onCompression?: (choice: CompressionChoice) => void;
    },
    signal: AbortSignal,
  ): PushMessages;
}

/** What `--compress auto` picked (push/compress-choice.ts decides). */
export interface CompressionChoice {
  readonly compression: Compression.COMPRESSION_NONE | Compression.COMPRESSION_ZSTD;
  /** One line for the log: why. */
  readonly why: string;
}

export interface PushMessages extends AsyncIterable<PushPathsRequest> {
  written(message: PushPathsRequest): void;
  /** What the agent has consumed so far (`--compress auto` measures with it). */
  agentProgress?(progress: RawPushProgress): void;
}
