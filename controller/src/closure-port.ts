import type { Compression, PathInfo, PushPathsRequest } from "@ros-rollback/proto";
import type { PushProgress } from "./progress.js";

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
  /** The PushPaths message stream for `infos`: options, then per path its info and NAR chunks. */
  pushRequests(
    infos: PathInfo[],
    opts: { compression: Compression; onProgress?: (p: PushProgress) => void },
    signal: AbortSignal,
  ): AsyncIterable<PushPathsRequest>;
}
