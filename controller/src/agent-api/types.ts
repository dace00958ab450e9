import type {
  ActivateRequest,
  CollectGarbageResponse,
  ConfirmResponse,
  DeploymentEvent,
  GetAuditLogRequest,
  GetAuditLogResponse,
  GetStatusResponse,
  HealthReport,
  HoldRequest,
  HoldResponse,
  ListGenerationsResponse,
  ListHoldsResponse,
  PlanResponse,
  PushPathsRequest,
  PushPathsResponse,
  QuerySubstitutableResponse,
  RawPushProgress,
  ReleaseResponse,
  RollbackRequest,
  SubstituteProgress,
} from "@ros-rollback/proto";
import type { Target } from "../targets/inventory.js";

/**
 * The agent's RPCs as promises and async iterables, every one cancellable by
 * an AbortSignal. Failures come out as AgentCallError (a UserError); the
 * commands never see grpc-js callbacks or ServiceError.
 */
export interface AgentApi {
  readonly target: Target;
  getStatus(signal: AbortSignal): Promise<GetStatusResponse>;
  listGenerations(signal: AbortSignal): Promise<ListGenerationsResponse>;
  collectGarbage(dryRun: boolean, signal: AbortSignal): Promise<CollectGarbageResponse>;
  /** The robot's audit log (role read on the robot). */
  getAuditLog(request: GetAuditLogRequest, signal: AbortSignal): Promise<GetAuditLogResponse>;
  queryMissingPaths(storePaths: readonly string[], signal: AbortSignal): Promise<string[]>;
  /**
   * Over the agent's raw push channel if it offers one, else gRPC PushPaths;
   * `onTransport` hears which before the first request is read. `onWritten`
   * sees each request once it was sent (for progress on the wire);
   * `onAgentProgress` what the agent has consumed (raw channel version 2 only).
   */
  pushPaths(
    requests: AsyncIterable<PushPathsRequest>,
    signal: AbortSignal,
    onWritten?: (request: PushPathsRequest) => void,
    onTransport?: (transport: PushTransport) => void,
    onAgentProgress?: (progress: RawPushProgress) => void,
  ): Promise<PushPathsResponse>;
  /** Which paths the robot's own caches hold (it asks them; we never name a cache). */
  querySubstitutable(storePaths: readonly string[], signal: AbortSignal): Promise<QuerySubstitutableResponse>;
  /** The robot fetches the paths from its caches; progress until `done`. */
  substitute(storePaths: readonly string[], signal: AbortSignal): AsyncIterable<SubstituteProgress>;
  activate(request: ActivateRequest, signal: AbortSignal): AsyncIterable<DeploymentEvent>;
  rollback(request: RollbackRequest, signal: AbortSignal): AsyncIterable<DeploymentEvent>;
  /** Keeps a deployment that awaits confirmation (call it over a NEW connection). */
  confirm(deploymentId: string, signal: AbortSignal): Promise<ConfirmResponse>;
  /** One round of the agent's health checks, now. */
  checkHealth(signal: AbortSignal): Promise<HealthReport>;
  /** The current deployment's events from its latest state on, until final. */
  watch(signal: AbortSignal): AsyncIterable<DeploymentEvent>;
  /** What activating a pushed system would do (dry-activate + closure diff); changes nothing. */
  plan(storePath: string, signal: AbortSignal): Promise<PlanResponse>;
  hold(request: HoldRequest, signal: AbortSignal): Promise<HoldResponse>;
  /** name undefined: every hold set with `hold`. */
  release(name: string | undefined, signal: AbortSignal): Promise<ReleaseResponse>;
  listHolds(signal: AbortSignal): Promise<ListHoldsResponse>;
  close(): void;
}

export interface ConnectOptions {
  /** How long to wait for the TLS connection (and the first RPC) before giving up. */
  readonly connectTimeoutMs: number;
  /**
   * Deadline of a unary RPC once connected; also how long a push may wait
   * for the agent to read more, or to answer once all is sent.
   */
  readonly unaryTimeoutMs: number;
  /** Ping the agent after this long without traffic (default 30 s)... */
  readonly keepaliveTimeMs?: number;
  /** ...and drop the connection when the ping is not answered within this (default 20 s). */
  readonly keepaliveTimeoutMs?: number;
  /**
   * Give up at the first failed connection attempt instead of waiting out
   * `connectTimeoutMs` (grpc-js would keep retrying with backoff): for callers
   * that retry with a NEW connection themselves (re-attaching after a switch).
   */
  readonly failFast?: boolean;
}

export type ConnectAgent = (
  target: Target,
  options: ConnectOptions,
  signal: AbortSignal,
) => Promise<AgentApi>;

/** How a push travels: the raw mTLS channel, or gRPC (and why not raw). */
export type PushTransport =
  /** `progress`: the agent reports what it consumed (onAgentProgress). */
  { readonly kind: "raw"; readonly progress: boolean } | { readonly kind: "grpc"; readonly why: string };
