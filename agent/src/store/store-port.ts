import type {
  PushPathsRequest,
  PushPathsResponse,
  QuerySubstitutableResponse,
  SubstituteProgress,
} from "@ros-rollback/proto";

/** A push's consumed bytes, as they go (PushObserver's two counts; must not throw). */
export interface PushByteCounts {
  wireBytes(count: number): void;
  narBytes(count: number): void;
}

/**
 * Who pushes or substitutes: the SHA-256 fingerprint of the client's certificate (pushClient()),
 * which holds at most one push slot at a time; undefined without TLS.
 */
export type PushClient = string | undefined;

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
    client?: PushClient,
  ): Promise<SubstituteProgress>;
  /** `progress`: this push's byte counts as they are consumed (beside the agent-wide metrics). */
  receivePush(
    requests: AsyncIterable<PushPathsRequest>,
    signal: AbortSignal,
    progress?: PushByteCounts,
    client?: PushClient,
  ): Promise<PushPathsResponse>;
}
