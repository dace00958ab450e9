import type { PushPathsRequest, PushPathsResponse } from "@ros-rollback/proto";

/** The robot's Nix store as the gRPC service sees it. */
export interface StorePort {
  /** Validates every path's syntax (INVALID_ARGUMENT) and returns those not valid in the store. */
  queryMissing(paths: readonly string[], signal: AbortSignal): Promise<string[]>;
  receivePush(requests: AsyncIterable<PushPathsRequest>, signal: AbortSignal): Promise<PushPathsResponse>;
}
