import { readFile } from "node:fs/promises";
import * as grpc from "@grpc/grpc-js";
import {
  type ActivateRequest,
  AGENT_ERROR_CODE_KEY,
  type AgentClient,
  type ConfirmResponse,
  type DeploymentEvent,
  FastAgentClient,
  type GetStatusResponse,
  type HealthReport,
  type HoldRequest,
  type HoldResponse,
  type ListGenerationsResponse,
  type ListHoldsResponse,
  type PlanResponse,
  type PushPathsRequest,
  type PushPathsResponse,
  type QueryMissingPathsResponse,
  type QuerySubstitutableResponse,
  type ReleaseResponse,
  type RollbackRequest,
  type SubstituteProgress,
} from "@ros-rollback/proto";
import { ExitCode, UserError } from "./core/errors.js";
import { describeFsError, type Target } from "./inventory.js";
import {
  RawPushBroken,
  type RawPushEndpoint,
  RawPushNoAnswer,
  RawPushStatus,
  rawPush,
} from "./raw-push-client.js";

/**
 * The agent's RPCs as promises and async iterables, every one cancellable by
 * an AbortSignal. Failures come out as AgentCallError (a UserError); the
 * commands never see grpc-js callbacks or ServiceError.
 */
export interface AgentApi {
  readonly target: Target;
  getStatus(signal: AbortSignal): Promise<GetStatusResponse>;
  listGenerations(signal: AbortSignal): Promise<ListGenerationsResponse>;
  queryMissingPaths(storePaths: readonly string[], signal: AbortSignal): Promise<string[]>;
  /**
   * Over the agent's raw push channel if it offers one, else gRPC PushPaths;
   * `onTransport` hears which before the first request is read. `onWritten`
   * sees each request once it was sent (for progress on the wire).
   */
  pushPaths(
    requests: AsyncIterable<PushPathsRequest>,
    signal: AbortSignal,
    onWritten?: (request: PushPathsRequest) => void,
    onTransport?: (transport: PushTransport) => void,
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

/** How a push travels: the raw mTLS channel, or gRPC (and why not raw). */
export type PushTransport = { readonly kind: "raw" } | { readonly kind: "grpc"; readonly why: string };

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

/** Characters of an agent's status message the one-line error shows. */
const MAX_DETAILS = 2_000;

/** A gRPC call that ended with a non-OK status, as the one line users see. */
export class AgentCallError extends UserError {
  readonly target: string;
  readonly code: grpc.status;
  readonly statusName: string;
  readonly details: string;
  /** The agent's own error code (metadata `ros-rollback-error-code`), e.g. "UNTRUSTED". */
  readonly agentCode: string | undefined;

  constructor(
    target: string,
    code: grpc.status,
    details: string,
    options?: { cause?: unknown; agentCode?: string | undefined; hint?: string },
  ) {
    const statusName = grpc.status[code] ?? `STATUS_${code}`;
    const hint = options?.hint === undefined ? "" : ` (${options.hint})`;
    // One line for the operator even if an (older) agent echoes a huge input.
    const shown = details.length > MAX_DETAILS ? `${details.slice(0, MAX_DETAILS)}… (cut)` : details;
    super(`${target}: ${statusName}: ${shown || "(no details)"}${hint}`, {
      exitCode: ExitCode.Unchanged,
      cause: options?.cause,
      data: { target, status: statusName, details, agentCode: options?.agentCode ?? null },
    });
    this.name = "AgentCallError";
    this.target = target;
    this.code = code;
    this.statusName = statusName;
    this.details = details;
    this.agentCode = options?.agentCode;
  }

  /** The same error with a hint for the user appended to the message. */
  withHint(hint: string): AgentCallError {
    return new AgentCallError(this.target, this.code, this.details, {
      cause: this.cause,
      agentCode: this.agentCode,
      hint,
    });
  }
}

function isServiceError(e: unknown): e is grpc.ServiceError {
  return (
    e instanceof Error &&
    "code" in e &&
    typeof e.code === "number" &&
    "details" in e &&
    "metadata" in e &&
    e.metadata instanceof grpc.Metadata
  );
}

/** ServiceError → AgentCallError; anything else passes through untouched (a bug, or already a UserError). */
export function toAgentCallError(target: string, e: unknown): unknown {
  if (!isServiceError(e)) return e;
  const agentCode = e.metadata.get(AGENT_ERROR_CODE_KEY)[0];
  return new AgentCallError(target, e.code, e.details, {
    cause: e,
    agentCode: typeof agentCode === "string" ? agentCode : undefined,
  });
}

async function readTlsFile(target: Target, role: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    throw new UserError(`${target.name}: cannot read ${role} ${path}: ${describeFsError(e)}`, { cause: e });
  }
}

interface TlsMaterial {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
}

async function readTlsMaterial(target: Target): Promise<TlsMaterial> {
  const [ca, cert, key] = await Promise.all([
    readTlsFile(target, "caFile", target.caFile),
    readTlsFile(target, "certFile", target.certFile),
    readTlsFile(target, "keyFile", target.keyFile),
  ]);
  return { ca, cert, key };
}

export async function createCredentials(
  target: Target,
  material?: TlsMaterial,
): Promise<grpc.ChannelCredentials> {
  const { ca, cert, key } = material ?? (await readTlsMaterial(target));
  try {
    return grpc.credentials.createSsl(ca, key, cert);
  } catch (e) {
    // createSsl parses the PEM material; a bad file is the user's to fix.
    throw new UserError(`${target.name}: invalid TLS material: ${(e as Error).message}`, { cause: e });
  }
}

const KEEPALIVE_TIME_MS = 30_000;
const KEEPALIVE_TIMEOUT_MS = 20_000;

export const connectAgent: ConnectAgent = async (target, options, signal) => {
  const material = await readTlsMaterial(target);
  const credentials = await createCredentials(target, material);
  const channelOptions: grpc.ClientOptions = {
    // Detect a connection that died mid-activation (the switch may take the
    // network down): a stream whose link went silent ends instead of hanging.
    // The grpc-js agent accepts pings at this rate, idle connections too.
    "grpc.keepalive_time_ms": options.keepaliveTimeMs ?? KEEPALIVE_TIME_MS,
    "grpc.keepalive_timeout_ms": options.keepaliveTimeoutMs ?? KEEPALIVE_TIMEOUT_MS,
    "grpc.keepalive_permit_without_calls": 1,
    // Every AgentApi gets its OWN connection (TCP + TLS handshake): grpc-js
    // otherwise shares one subchannel between clients with equal target,
    // options and credentials, and a Confirm "over a new connection" would
    // ride on the connection that carried the Activate stream.
    "grpc.use_local_subchannel_pool": 1,
  };
  if (options.failFast === true) {
    // One connection attempt, no reconnects: the caller makes a NEW connection
    // instead. (A failed grpc-js subchannel otherwise tries once more after
    // its backoff, even after the client was closed.) The timer is unref'd.
    channelOptions["grpc.initial_reconnect_backoff_ms"] = 3_600_000;
    channelOptions["grpc.max_reconnect_backoff_ms"] = 3_600_000;
  }
  if (target.serverName !== undefined) channelOptions["grpc.ssl_target_name_override"] = target.serverName;
  const client = new FastAgentClient(target.address, credentials, channelOptions);
  const raw = { address: target.address, serverName: target.serverName, ...material };
  const api = new GrpcAgentApi(target, client, options, raw);
  try {
    await waitForReady(client, target, options.connectTimeoutMs, options.failFast === true, signal);
  } catch (e) {
    client.close();
    throw e;
  }
  return api;
};

/**
 * Waits until the channel is READY. A TLS failure (wrong CA, name mismatch,
 * rejected client certificate) shows up as TRANSIENT_FAILURE; to report WHY,
 * we probe with one fail-fast RPC, whose UNAVAILABLE details carry the last
 * connection error.
 */
async function waitForReady(
  client: AgentClient,
  target: Target,
  timeoutMs: number,
  failFast: boolean,
  signal: AbortSignal,
): Promise<void> {
  const seconds = Math.round(timeoutMs / 100) / 10;
  signal.throwIfAborted();
  const deadline = Date.now() + timeoutMs;
  const ready = failFast
    ? readyOrFirstFailure(client, deadline)
    : new Promise<void>((resolve, reject) => {
        client.waitForReady(deadline, (err) => (err ? reject(err) : resolve()));
      });
  try {
    await raceAbort(ready, signal);
  } catch (e) {
    if (signal.aborted) throw e;
    // Not ready in time. Ask once, fail-fast, to learn the reason.
    const reason = await new Promise<string>((resolve) => {
      client.getStatus({}, new grpc.Metadata(), { deadline: Date.now() + 2_000 }, (err) => {
        resolve(err ? tidyConnectError(err.details) : "connected too late");
      });
    });
    throw new AgentCallError(
      target.name,
      grpc.status.UNAVAILABLE,
      `cannot reach the agent at ${target.address} within ${seconds}s: ${reason}`,
      { cause: e },
    );
  }
}

/** READY, or a rejection at the first TRANSIENT_FAILURE (or the deadline). */
async function readyOrFirstFailure(client: AgentClient, deadline: number): Promise<void> {
  const channel = client.getChannel();
  // Ask to connect once only: asking again in TRANSIENT_FAILURE would leave
  // grpc-js to retry after its backoff even once the client is closed.
  let state = channel.getConnectivityState(true);
  for (; ; state = channel.getConnectivityState(false)) {
    if (state === grpc.connectivityState.READY) return;
    if (state === grpc.connectivityState.TRANSIENT_FAILURE || state === grpc.connectivityState.SHUTDOWN) {
      throw new Error(`connection ${grpc.connectivityState[state]}`);
    }
    await new Promise<void>((resolve, reject) => {
      channel.watchConnectivityState(state, deadline, (err) => (err ? reject(err) : resolve()));
    });
  }
}

/** grpc-js wraps the reason in boilerplate; keep the reason. */
function tidyConnectError(details: string): string {
  return details
    .replace(/^No connection established\. Last error: /, "")
    .replace(/\s*Resolution note:\s*$/, "")
    .replace(/^Error( \[\w+\])?: /, "")
    .replace(/\.$/, "");
}

/** Whether `p` settles (either way) within `ms`. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    const done = p.then(
      () => true,
      () => true,
    );
    return await Promise.race([done, late]);
  } finally {
    clearTimeout(timer);
  }
}

function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

class GrpcAgentApi implements AgentApi {
  constructor(
    readonly target: Target,
    private readonly client: AgentClient,
    private readonly options: ConnectOptions,
    private readonly raw: RawPushEndpoint,
  ) {}

  getStatus(signal: AbortSignal): Promise<GetStatusResponse> {
    return this.unary("GetStatus", signal, (md, opts, cb) => this.client.getStatus({}, md, opts, cb));
  }

  plan(storePath: string, signal: AbortSignal): Promise<PlanResponse> {
    return this.unary("Plan", signal, (md, opts, cb) => this.client.plan({ storePath }, md, opts, cb));
  }

  hold(request: HoldRequest, signal: AbortSignal): Promise<HoldResponse> {
    return this.unary("Hold", signal, (md, opts, cb) => this.client.hold(request, md, opts, cb));
  }

  release(name: string | undefined, signal: AbortSignal): Promise<ReleaseResponse> {
    return this.unary("Release", signal, (md, opts, cb) => this.client.release({ name }, md, opts, cb));
  }

  listHolds(signal: AbortSignal): Promise<ListHoldsResponse> {
    return this.unary("ListHolds", signal, (md, opts, cb) => this.client.listHolds({}, md, opts, cb));
  }

  listGenerations(signal: AbortSignal): Promise<ListGenerationsResponse> {
    return this.unary("ListGenerations", signal, (md, opts, cb) =>
      this.client.listGenerations({}, md, opts, cb),
    );
  }

  async queryMissingPaths(storePaths: readonly string[], signal: AbortSignal): Promise<string[]> {
    const res = await this.unary<QueryMissingPathsResponse>("QueryMissingPaths", signal, (md, opts, cb) =>
      this.client.queryMissingPaths({ storePaths: [...storePaths] }, md, opts, cb),
    );
    return res.missing;
  }

  async pushPaths(
    requests: AsyncIterable<PushPathsRequest>,
    signal: AbortSignal,
    onWritten?: (request: PushPathsRequest) => void,
    onTransport?: (transport: PushTransport) => void,
  ): Promise<PushPathsResponse> {
    const timeouts = {
      connectTimeoutMs: this.options.connectTimeoutMs,
      answerTimeoutMs: this.options.unaryTimeoutMs,
    };
    const raw = await rawPush(this.raw, requests, signal, {
      ...timeouts,
      ...(onWritten === undefined ? {} : { onWritten }),
      onOpen: () => onTransport?.({ kind: "raw" }),
    }).catch((e: unknown) => {
      throw signal.aborted ? signal.reason : this.fromRawPush(e);
    });
    if (raw.kind === "pushed") return raw.response;
    onTransport?.({ kind: "grpc", why: raw.why });
    return this.grpcPushPaths(requests, signal, onWritten);
  }

  /** The raw channel's failures as gRPC's would have been. */
  private fromRawPush(e: unknown): unknown {
    const name = this.target.name;
    if (e instanceof RawPushStatus)
      return new AgentCallError(name, e.code, e.details, { cause: e, agentCode: e.agentCode });
    if (e instanceof RawPushNoAnswer) return this.noAnswer(e.what, e);
    if (e instanceof RawPushBroken)
      return new AgentCallError(name, grpc.status.UNAVAILABLE, e.message, { cause: e });
    return e;
  }

  private async grpcPushPaths(
    requests: AsyncIterable<PushPathsRequest>,
    signal: AbortSignal,
    onWritten?: (request: PushPathsRequest) => void,
  ): Promise<PushPathsResponse> {
    signal.throwIfAborted();
    let settle!: { resolve: (r: PushPathsResponse) => void; reject: (e: unknown) => void };
    const response = new Promise<PushPathsResponse>((resolve, reject) => {
      settle = { resolve, reject };
    });
    const call = this.client.pushPaths((err, res) => (err ? settle.reject(err) : settle.resolve(res)));
    const onAbort = () => call.cancel();
    signal.addEventListener("abort", onAbort, { once: true });
    // The call may end early (the agent refuses a path): stop producing then.
    let ended = false;
    response.then(
      () => {
        ended = true;
      },
      () => {
        ended = true;
      },
    );
    try {
      try {
        for await (const request of requests) {
          if (ended) break;
          if (!call.write(request, () => onWritten?.(request))) {
            const drained = new Promise<void>((resolve) => call.once("drain", () => resolve()));
            if (!(await settlesWithin(Promise.race([drained, response]), this.options.unaryTimeoutMs))) {
              throw this.noAnswer("PushPaths (it stopped reading the push)", undefined);
            }
          }
        }
      } catch (e) {
        // Our producer failed (local read error, abort): the agent must not
        // register a half-sent path, so cancel instead of half-closing.
        call.cancel();
        response.catch(() => undefined);
        throw signal.aborted ? signal.reason : e;
      }
      if (!ended) call.end();
      if (!(await settlesWithin(response, this.options.unaryTimeoutMs))) {
        call.cancel();
        throw this.noAnswer("PushPaths (after the last byte)", undefined);
      }
      return await response;
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      throw toAgentCallError(this.target.name, e);
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  querySubstitutable(
    storePaths: readonly string[],
    signal: AbortSignal,
  ): Promise<QuerySubstitutableResponse> {
    return this.unary("QuerySubstitutable", signal, (md, opts, cb) =>
      this.client.querySubstitutable({ storePaths: [...storePaths] }, md, opts, cb),
    );
  }

  substitute(storePaths: readonly string[], signal: AbortSignal): AsyncIterable<SubstituteProgress> {
    return this.serverStream(signal, () => this.client.substitute({ storePaths: [...storePaths] }));
  }

  activate(request: ActivateRequest, signal: AbortSignal): AsyncIterable<DeploymentEvent> {
    return this.serverStream(signal, () => this.client.activate(request));
  }

  rollback(request: RollbackRequest, signal: AbortSignal): AsyncIterable<DeploymentEvent> {
    return this.serverStream(signal, () => this.client.rollback(request));
  }

  confirm(deploymentId: string, signal: AbortSignal): Promise<ConfirmResponse> {
    return this.unary("Confirm", signal, (md, opts, cb) =>
      this.client.confirm({ deploymentId }, md, opts, cb),
    );
  }

  checkHealth(signal: AbortSignal): Promise<HealthReport> {
    return this.unary("CheckHealth", signal, (md, opts, cb) => this.client.checkHealth({}, md, opts, cb));
  }

  watch(signal: AbortSignal): AsyncIterable<DeploymentEvent> {
    return this.serverStream(signal, () => this.client.watch({}));
  }

  close(): void {
    this.client.close();
  }

  private async unary<T>(
    method: string,
    signal: AbortSignal,
    start: (
      md: grpc.Metadata,
      opts: Partial<grpc.CallOptions>,
      cb: (err: grpc.ServiceError | null, res: T) => void,
    ) => grpc.ClientUnaryCall,
  ): Promise<T> {
    signal.throwIfAborted();
    let call: grpc.ClientUnaryCall | undefined;
    const onAbort = () => call?.cancel();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      return await new Promise<T>((resolve, reject) => {
        call = start(
          new grpc.Metadata(),
          { deadline: Date.now() + this.options.unaryTimeoutMs },
          (err, res) => (err ? reject(err) : resolve(res)),
        );
      });
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      if (isServiceError(e) && e.code === grpc.status.DEADLINE_EXCEEDED) throw this.noAnswer(method, e);
      throw toAgentCallError(this.target.name, e);
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  /** The agent kept a call waiting past our deadline: say so in words, not grpc-js's. */
  private noAnswer(what: string, cause: unknown): AgentCallError {
    const seconds = Math.round(this.options.unaryTimeoutMs / 100) / 10;
    return new AgentCallError(
      this.target.name,
      grpc.status.DEADLINE_EXCEEDED,
      `the agent did not answer ${what} within ${seconds}s (--rpc-timeout)`,
      { cause },
    );
  }

  private async *serverStream<T>(
    signal: AbortSignal,
    start: () => grpc.ClientReadableStream<T>,
  ): AsyncGenerator<T> {
    signal.throwIfAborted();
    const call = start();
    const onAbort = () => call.cancel();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      for await (const event of call as AsyncIterable<T>) {
        yield event;
      }
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      throw toAgentCallError(this.target.name, e);
    } finally {
      signal.removeEventListener("abort", onAbort);
      // Leaving the loop early (consumer stopped) must not leave the call open.
      call.cancel();
    }
  }
}
