import type {
  PushPathsRequest,
  PushPathsResponse,
  QuerySubstitutableResponse,
  SubstituteProgress,
} from "@ros-rollback/proto";

/** The robot's Nix store as the gRPC service sees it. */
export interface StorePort {
  /** Validates every path's syntax (INVALID_ARGUMENT) and returns those not valid in the store. */
  queryMissing(paths: readonly string[], signal: AbortSignal): Promise<string[]>;
  /** A queryMissing is likely soon (a client asked for the status): get ready, in the background. */
  prepareQuery(): void;
  /** Which paths the agent's configured caches hold (narinfo lookups). */
  querySubstitutable(paths: readonly string[], signal: AbortSignal): Promise<QuerySubstitutableResponse>;
  /** Fetches paths from the configured caches, reporting progress; the last report has done = true. */
  substitute(
    paths: readonly string[],
    signal: AbortSignal,
    onProgress: (p: SubstituteProgress) => void,
  ): Promise<SubstituteProgress>;
  receivePush(requests: AsyncIterable<PushPathsRequest>, signal: AbortSignal): Promise<PushPathsResponse>;
}
