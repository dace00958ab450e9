import type {
  ActivateRequest,
  AgentClient,
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
  QueryMissingPathsResponse,
  QuerySubstitutableResponse,
  RawPushProgress,
  ReleaseResponse,
  RollbackRequest,
  SubstituteProgress,
} from "@ros-rollback/proto";
import { AgentService } from "@ros-rollback/proto";
import type { Target } from "../targets/inventory.js";
import { type CallContext, serverStream, unary } from "./calls.js";
import type { H2Agent } from "./h2-unary.js";
import type { PushVia, RawPushEndpoint } from "./push-via.js";
import type { AgentApi, ConnectOptions, PushTransport } from "./types.js";

/** AgentApi over one grpc-js client (one connection): each RPC through calls.ts or push.ts. */
export class GrpcAgentApi implements AgentApi {
  private readonly ctx: CallContext;
  private made: AgentClient | undefined;

  constructor(
    readonly target: Target,
    /** Called at the first call that needs grpc-js (a relay target's GetStatus does not: h2 below). */
    private readonly makeClient: () => AgentClient,
    private readonly options: ConnectOptions,
    private readonly raw: RawPushEndpoint,
    private readonly pushVia: PushVia,
    /** Also ended by close() (a relay target's local proxy). */
    private readonly alsoClose: () => void = () => undefined,
    /** A relay target's HTTP/2 session on its first stream: GetStatus goes there, not through grpc-js. */
    private readonly h2?: H2Agent,
  ) {
    this.ctx = { target, unaryTimeoutMs: options.unaryTimeoutMs };
  }

  /** grpc-js's client (its channel and DNS resolver: ~1 ms of the CLI's CPU per relay target in status --all). */
  private get client(): AgentClient {
    this.made ??= this.makeClient();
    return this.made;
  }

  getStatus(signal: AbortSignal): Promise<GetStatusResponse> {
    const { getStatus } = AgentService;
    if (this.h2 !== undefined) {
      const method = { path: getStatus.path, name: "GetStatus", decode: getStatus.responseDeserialize };
      return this.h2.call(this.ctx, method, getStatus.requestSerialize({}), signal);
    }
    return unary(this.ctx, "GetStatus", signal, (md, opts, cb) => this.client.getStatus({}, md, opts, cb));
  }

  plan(storePath: string, signal: AbortSignal): Promise<PlanResponse> {
    return unary(this.ctx, "Plan", signal, (md, opts, cb) => this.client.plan({ storePath }, md, opts, cb));
  }

  hold(request: HoldRequest, signal: AbortSignal): Promise<HoldResponse> {
    return unary(this.ctx, "Hold", signal, (md, opts, cb) => this.client.hold(request, md, opts, cb));
  }

  release(name: string | undefined, signal: AbortSignal): Promise<ReleaseResponse> {
    return unary(this.ctx, "Release", signal, (md, opts, cb) => this.client.release({ name }, md, opts, cb));
  }

  listHolds(signal: AbortSignal): Promise<ListHoldsResponse> {
    return unary(this.ctx, "ListHolds", signal, (md, opts, cb) => this.client.listHolds({}, md, opts, cb));
  }

  getAuditLog(request: GetAuditLogRequest, signal: AbortSignal): Promise<GetAuditLogResponse> {
    return unary(this.ctx, "GetAuditLog", signal, (md, opts, cb) =>
      this.client.getAuditLog(request, md, opts, cb),
    );
  }

  listGenerations(signal: AbortSignal): Promise<ListGenerationsResponse> {
    return unary(this.ctx, "ListGenerations", signal, (md, opts, cb) =>
      this.client.listGenerations({}, md, opts, cb),
    );
  }

  collectGarbage(dryRun: boolean, signal: AbortSignal): Promise<CollectGarbageResponse> {
    return unary(this.ctx, "CollectGarbage", signal, (md, opts, cb) =>
      this.client.collectGarbage({ dryRun }, md, opts, cb),
    );
  }

  async queryMissingPaths(storePaths: readonly string[], signal: AbortSignal): Promise<string[]> {
    const res = await unary<QueryMissingPathsResponse>(
      this.ctx,
      "QueryMissingPaths",
      signal,
      (md, opts, cb) => this.client.queryMissingPaths({ storePaths: [...storePaths] }, md, opts, cb),
    );
    return res.missing;
  }

  pushPaths(
    requests: AsyncIterable<PushPathsRequest>,
    signal: AbortSignal,
    onWritten?: (request: PushPathsRequest) => void,
    onTransport?: (transport: PushTransport) => void,
    onAgentProgress?: (progress: RawPushProgress) => void,
  ): Promise<PushPathsResponse> {
    const push = {
      ctx: this.ctx,
      client: this.client,
      raw: this.raw,
      connectTimeoutMs: this.options.connectTimeoutMs,
    };
    return this.pushVia(push, requests, signal, onWritten, onTransport, onAgentProgress);
  }

  querySubstitutable(
    storePaths: readonly string[],
    signal: AbortSignal,
  ): Promise<QuerySubstitutableResponse> {
    return unary(this.ctx, "QuerySubstitutable", signal, (md, opts, cb) =>
      this.client.querySubstitutable({ storePaths: [...storePaths] }, md, opts, cb),
    );
  }

  substitute(storePaths: readonly string[], signal: AbortSignal): AsyncIterable<SubstituteProgress> {
    return serverStream(this.ctx, signal, () => this.client.substitute({ storePaths: [...storePaths] }));
  }

  activate(request: ActivateRequest, signal: AbortSignal): AsyncIterable<DeploymentEvent> {
    return serverStream(this.ctx, signal, () => this.client.activate(request));
  }

  rollback(request: RollbackRequest, signal: AbortSignal): AsyncIterable<DeploymentEvent> {
    return serverStream(this.ctx, signal, () => this.client.rollback(request));
  }

  confirm(deploymentId: string, signal: AbortSignal): Promise<ConfirmResponse> {
    return unary(this.ctx, "Confirm", signal, (md, opts, cb) =>
      this.client.confirm({ deploymentId }, md, opts, cb),
    );
  }

  checkHealth(signal: AbortSignal): Promise<HealthReport> {
    return unary(this.ctx, "CheckHealth", signal, (md, opts, cb) =>
      this.client.checkHealth({}, md, opts, cb),
    );
  }

  watch(signal: AbortSignal): AsyncIterable<DeploymentEvent> {
    return serverStream(this.ctx, signal, () => this.client.watch({}));
  }

  close(): void {
    this.made?.close();
    this.alsoClose();
  }
}
