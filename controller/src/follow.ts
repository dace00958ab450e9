import { status as GrpcStatus } from "@grpc/grpc-js";
import {
  type DeploymentEvent,
  DeploymentState,
  type HealthReport,
  type RollbackReason,
} from "@ros-rollback/proto";
import { type AgentApi, AgentCallError } from "./agent-api.js";
import { isUserError } from "./core/errors.js";
import { isRefusal, type StreamEnd, stateName } from "./outcome.js";
import { clockTime, formatSeconds } from "./views.js";

/**
 * Confirm attempts go on this long past the deadline as we reckon it (the
 * deadline itself is already corrected for a clock that runs ahead, see
 * localDeadline; this covers the network's latency).
 */
export const CONFIRM_SLACK_MS = 1_000;
/** When the agent names no deadline, try to confirm for this long (the agent's default confirm timeout). */
export const DEFAULT_CONFIRM_WINDOW_MS = 30_000;
/**
 * While the agent judges health or waits for Confirm it sends an event every
 * health round (2 s by default). This long without one, the stream is taken
 * as dead (a switch may kill a connection silently; keepalive notices only
 * after ~50 s) and the deployment is followed over a new connection.
 */
export const STALL_MS = 20_000;

export interface FollowOptions {
  readonly target: string;
  /** One line for the operator (stderr). */
  readonly log: (line: string) => void;
  readonly onEvent: (e: DeploymentEvent) => void;
  readonly signal: AbortSignal;
  readonly now: () => number;
  readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  /**
   * Opens a NEW connection to the agent (own TCP connection and TLS
   * handshake), failing fast, within `timeoutMs`; `signal` stops the attempt.
   */
  readonly connect: (timeoutMs: number, signal: AbortSignal) => Promise<AgentApi>;
  /** Upper bound of one connection attempt (--connect-timeout). */
  readonly connectTimeoutMs: number;
  /** After the event stream breaks: follow the deployment at most this long; 0 = don't. */
  readonly followTimeoutMs: number;
  /** Once the confirm deadline is known: stop trying to reach the agent this long after it. */
  readonly reconnectGraceMs: number;
  /** Between attempts to reach the agent, and between GetStatus polls (agents without Watch). */
  readonly pollIntervalMs: number;
  /** Send Confirm when the deployment awaits confirmation (false: --no-confirm, `watch`). */
  readonly confirm: boolean;
  /** See STALL_MS. */
  readonly stallMs?: number;
}

/** What became of our Confirm. */
export interface Confirmation {
  readonly deploymentId: string;
  readonly confirmed: boolean;
  /** Why not, when not. */
  readonly error: string | undefined;
}

export interface Followed {
  readonly end: StreamEnd;
  /** Every event seen: the stream's, then those of Watch streams after re-attaching. */
  readonly events: readonly DeploymentEvent[];
  /** The status error that ended the first stream, if one did. */
  readonly error: AgentCallError | undefined;
  /** How the outcome was learned, when not from the stream itself; or why it was not. */
  readonly note: string | undefined;
  /** The latest health report seen (in events or the agent's status). */
  readonly health: HealthReport | undefined;
  /** The final state's message when it was learned from the agent's status. */
  readonly statusMessage: string | undefined;
  readonly confirmation: Confirmation | undefined;
}

type Read =
  | { readonly kind: "final"; readonly event: DeploymentEvent }
  | { readonly kind: "error"; readonly error: AgentCallError }
  | { readonly kind: "ended" }
  | { readonly kind: "interrupted" }
  /** A Watch stream showed another deployment: ours is over. */
  | { readonly kind: "other" };

type Reattached =
  | {
      readonly kind: "final";
      readonly state: DeploymentState;
      readonly rollbackReason: RollbackReason;
      readonly note: string;
      readonly statusMessage: string | undefined;
    }
  | { readonly kind: "interrupted" }
  | { readonly kind: "gave-up"; readonly why: string };

/** States in which the agent reports every health round, so silence means a dead stream. */
const CHATTY: ReadonlySet<DeploymentState> = new Set([
  DeploymentState.DEPLOYMENT_STATE_CHECKING_HEALTH,
  DeploymentState.DEPLOYMENT_STATE_AWAITING_CONFIRMATION,
]);

/**
 * Follows a deployment to its end, starting from its Activate/Rollback
 * stream:
 *
 * - When it AWAITS CONFIRMATION, confirms over a NEW connection (proving
 *   that the network path and the agent survived the switch), retrying until
 *   the deadline; the agent rolls back by itself when nobody confirms.
 * - When the stream breaks after the agent named the deployment (the switch
 *   may cut the network or restart the agent), reconnects — new connections,
 *   until the confirm deadline + reconnect grace (or --follow-timeout while
 *   the deadline is unknown) — reads the agent's status, confirms if it still
 *   waits, and follows it live with Watch (GetStatus polls for agents without
 *   Watch) to its final state. The agent persists its record, so that state
 *   is the truth; without it the outcome stays "uncertain".
 */
export async function followDeployment(
  start: (signal: AbortSignal) => AsyncIterable<DeploymentEvent>,
  o: FollowOptions,
): Promise<Followed> {
  const f = new Follower(o);
  let followed: Followed;
  try {
    followed = await follow(f, start, o);
  } finally {
    await f.stopConfirming("stopped following the deployment");
  }
  return { ...followed, confirmation: f.confirmation };
}

async function follow(
  f: Follower,
  start: (signal: AbortSignal) => AsyncIterable<DeploymentEvent>,
  o: FollowOptions,
): Promise<Followed> {
  const read = await f.read(start);
  const lastState = f.lastState();
  switch (read.kind) {
    case "final":
      return f.result({
        kind: "final",
        state: read.event.state,
        earlier: f.events.slice(0, -1).map((e) => e.state),
        rollbackReason: read.event.rollbackReason,
      });
    case "interrupted":
      return f.result({ kind: "interrupted", lastState });
    case "other":
      return f.result({ kind: "no-final", lastState });
    case "error":
    case "ended":
      break;
  }
  const error = read.kind === "error" ? read.error : undefined;
  const end: StreamEnd =
    error === undefined ? { kind: "no-final", lastState } : { kind: "error", code: error.code, lastState };
  const id = f.deploymentId();
  if (id === undefined || o.followTimeoutMs <= 0) return f.result(end, error);
  o.log(
    `${o.target}: ${error === undefined ? "the event stream ended early" : `lost the event stream (${error.statusName})`}; ` +
      `asking the agent for the outcome of ${id} over a new connection`,
  );
  const found = await f.reattach(id);
  switch (found.kind) {
    case "final":
      return f.result(
        // Events in between were not seen: `earlier` must not vouch for anything.
        { kind: "final", state: found.state, earlier: [], rollbackReason: found.rollbackReason },
        error,
        `${found.note} after ${error === undefined ? "the event stream ended early" : "the event stream broke"}`,
        found.statusMessage,
      );
    case "interrupted":
      return f.result({ kind: "interrupted", lastState: f.lastState() }, error);
    case "gave-up":
      return f.result(end, error, found.why);
  }
}

class Follower {
  readonly events: DeploymentEvent[] = [];
  private health: HealthReport | undefined;
  confirmation: Confirmation | undefined;
  /** Deployments we ran the confirm procedure for (once each). */
  private readonly confirmTried = new Set<string>();
  /** The confirm procedure while it runs (beside reading events). */
  private confirming: ConfirmTask | undefined;
  /** A bug thrown by the confirm procedure, rethrown when it is stopped. */
  private confirmBug: { readonly error: unknown } | undefined;
  /** Latest known confirm deadline, on OUR clock (ms), 0 = unknown. */
  private deadline = 0;
  private noConfirmLogged = false;

  constructor(private readonly o: FollowOptions) {}

  lastState(): DeploymentState | undefined {
    return this.events[this.events.length - 1]?.state;
  }

  deploymentId(): string | undefined {
    return this.events.find((e) => e.deploymentId !== "")?.deploymentId;
  }

  result(end: StreamEnd, error?: AgentCallError, note?: string, statusMessage?: string): Followed {
    return {
      end,
      events: this.events,
      error,
      note,
      health: this.health,
      statusMessage,
      confirmation: this.confirmation,
    };
  }

  /**
   * Reads one event stream to its end. Confirms (over a new connection) when
   * it reports AWAITING_CONFIRMATION. `only`: stop at events of another
   * deployment (Watch after re-attaching).
   */
  async read(start: (signal: AbortSignal) => AsyncIterable<DeploymentEvent>, only?: string): Promise<Read> {
    const { o } = this;
    const stall = new AbortController();
    const stallMs = o.stallMs ?? STALL_MS;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let state: DeploymentState | undefined;
    const arm = () => {
      clearTimeout(timer);
      if (state !== undefined && CHATTY.has(state)) timer = setTimeout(() => stall.abort(), stallMs);
    };
    try {
      for await (const e of start(AbortSignal.any([o.signal, stall.signal]))) {
        clearTimeout(timer);
        if (only !== undefined && e.deploymentId !== "" && e.deploymentId !== only) return { kind: "other" };
        this.record(e);
        if (e.state === DeploymentState.DEPLOYMENT_STATE_AWAITING_CONFIRMATION && !e.final) {
          this.startConfirming(e.deploymentId, e.confirmDeadlineUnixMs, e.timestampUnixMs);
        } else if (e.state !== DeploymentState.DEPLOYMENT_STATE_CHECKING_HEALTH) {
          // The agent stopped waiting (confirmed, not confirmed, unhealthy, ...): so do we. When
          // it was confirmed, our Confirm's answer is on its way: let it arrive.
          await this.stopConfirming(
            `the agent stopped waiting for it (${stateName(e.state)})`,
            e.state === DeploymentState.DEPLOYMENT_STATE_SUCCEEDED,
          );
        }
        if (e.final) return { kind: "final", event: e };
        state = e.state;
        arm();
      }
      return { kind: "ended" };
    } catch (e) {
      if (o.signal.aborted) return { kind: "interrupted" };
      if (stall.signal.aborted) {
        const details = `no event from the agent for ${formatSeconds(stallMs / 1000)} while ${stateName(state ?? DeploymentState.DEPLOYMENT_STATE_UNSPECIFIED)}`;
        o.log(`${o.target}: ${details}; the connection is taken as dead`);
        return {
          kind: "error",
          error: new AgentCallError(o.target, GrpcStatus.DEADLINE_EXCEEDED, details),
        };
      }
      if (e instanceof AgentCallError) return { kind: "error", error: e };
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  private record(e: DeploymentEvent): void {
    this.events.push(e);
    if (e.health !== undefined) this.health = e.health;
    if (e.confirmDeadlineUnixMs > 0) this.deadline = localDeadline(e.confirmDeadlineUnixMs, e, this.o.now());
    this.o.onEvent(e);
  }

  /**
   * Starts confirming `id` over a NEW connection, beside reading events
   * (once per deployment). Never over the connection that reported the
   * state: a Confirm must prove that a connection can be made after the
   * switch.
   */
  startConfirming(id: string, agentDeadline: number, eventTime: number): void {
    const { o } = this;
    if (!o.confirm) {
      if (!this.noConfirmLogged) o.log(`${o.target}: not confirming ${id} (--no-confirm)`);
      this.noConfirmLogged = true;
      return;
    }
    if (id === "" || this.confirmTried.has(id)) return;
    this.confirmTried.add(id);
    const stop = new AbortController();
    const task: ConfirmTask = { stop, done: Promise.resolve(), rpcInFlight: false };
    task.done = this.confirm(
      task,
      id,
      agentDeadline,
      eventTime,
      AbortSignal.any([o.signal, stop.signal]),
    ).then(
      () => undefined,
      (e: unknown) => {
        this.confirmBug = { error: e };
      },
    );
    this.confirming = task;
  }

  /**
   * Stops the confirm procedure (if it runs) and waits for it; rethrows a bug
   * it hit. `letAnswerArrive`: a Confirm already sent may finish first.
   */
  async stopConfirming(why: string, letAnswerArrive = true): Promise<void> {
    const c = this.confirming;
    if (c !== undefined) {
      if (letAnswerArrive && c.rpcInFlight) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([c.done, new Promise((resolve) => (timer = setTimeout(resolve, ANSWER_WAIT_MS)))]);
        clearTimeout(timer);
      }
      c.stop.abort(new StoppedConfirming(why));
      await c.done;
      this.confirming = undefined;
    }
    if (this.confirmBug !== undefined) throw this.confirmBug.error;
  }

  private async confirm(
    task: ConfirmTask,
    id: string,
    agentDeadline: number,
    eventTime: number,
    signal: AbortSignal,
  ): Promise<void> {
    const { o } = this;
    const now = o.now();
    const deadline =
      agentDeadline > 0
        ? localDeadline(agentDeadline, { timestampUnixMs: eventTime }, now)
        : now + DEFAULT_CONFIRM_WINDOW_MS;
    const until = deadline + CONFIRM_SLACK_MS;
    o.log(`${o.target}: confirming ${id} over a new connection`);
    let lastError = "";
    const notConfirmed = (why: string) => {
      this.confirmation = { deploymentId: id, confirmed: false, error: why };
    };
    while (o.now() < until) {
      let api: AgentApi | undefined;
      try {
        api = await o.connect(attemptTimeout(o, until), signal);
        task.rpcInFlight = true;
        await api.confirm(id, signal).finally(() => {
          task.rpcInFlight = false;
        });
        const left = Math.max(0, deadline - o.now()) / 1000;
        o.log(
          `${o.target}: confirmed ${id} over a new connection, ${formatSeconds(left)} before the deadline`,
        );
        this.confirmation = { deploymentId: id, confirmed: true, error: undefined };
        return;
      } catch (e) {
        if (signal.aborted) {
          const reason: unknown = signal.reason;
          if (reason instanceof StoppedConfirming) {
            notConfirmed(`${reason.message}${lastError === "" ? "" : `; last attempt: ${lastError}`}`);
          }
          return;
        }
        if (!isUserError(e)) throw e;
        if (e instanceof AgentCallError && isRefusal(e.code)) {
          o.log(`${o.target}: the agent refused to confirm ${id}: ${e.message}`);
          notConfirmed(e.message);
          return;
        }
        if (e.message !== lastError) {
          const left = Math.max(0, deadline - o.now()) / 1000;
          o.log(`${o.target}: cannot confirm yet (${e.message}); ${formatSeconds(left)} left, retrying`);
        }
        lastError = e.message;
      } finally {
        api?.close();
      }
      try {
        await o.sleep(Math.max(0, Math.min(o.pollIntervalMs, until - o.now())), signal);
      } catch {
        const reason: unknown = signal.reason;
        if (reason instanceof StoppedConfirming)
          notConfirmed(`${reason.message}; last attempt: ${lastError}`);
        return;
      }
    }
    const why = `no new connection to the agent succeeded before the confirm deadline${lastError === "" ? "" : ` (${lastError})`}`;
    o.log(`${o.target}: could not confirm ${id}: ${why}`);
    notConfirmed(why);
  }

  /** After the first stream broke: new connections, status, confirm, Watch — until final or out of time. */
  async reattach(id: string): Promise<Reattached> {
    const { o } = this;
    const followUntil = o.now() + o.followTimeoutMs;
    const reconnectUntil = () =>
      this.deadline > 0 ? Math.min(followUntil, this.deadline + o.reconnectGraceMs) : followUntil;
    let api: AgentApi | undefined;
    let watch = true;
    let lastError = "";
    let lastState: DeploymentState | undefined;
    const gaveUp = (): Reattached => {
      const error = lastError === "" ? "" : ` (${lastError})`;
      if (api === undefined && this.deadline > 0 && this.deadline + o.reconnectGraceMs < followUntil) {
        return {
          kind: "gave-up",
          why:
            `could not reach the agent again by the confirm deadline (${clockTime(this.deadline)}) + ` +
            `${formatSeconds(o.reconnectGraceMs / 1000)}${error}; unless it was confirmed, the agent rolls back by itself`,
        };
      }
      return {
        kind: "gave-up",
        why: `no final state from the agent within ${Math.round(o.followTimeoutMs / 100) / 10}s${error}`,
      };
    };
    try {
      for (;;) {
        const limit = api === undefined ? reconnectUntil() : followUntil;
        if (o.now() >= limit) return gaveUp();
        try {
          api ??= await o.connect(attemptTimeout(o, limit), o.signal);
          const status = await api.getStatus(o.signal);
          if (status.health !== undefined) this.health = status.health;
          const last = status.lastDeployment;
          if (last?.id === id) {
            o.log(`${o.target}: ${id} ended ${stateName(last.state)} (agent status)`);
            await this.stopConfirming(`the agent stopped waiting for it (${stateName(last.state)})`);
            return {
              kind: "final",
              state: last.state,
              rollbackReason: last.rollbackReason,
              note: "learned from the agent's status",
              statusMessage: last.message === "" ? undefined : last.message,
            };
          }
          const d = status.deployment;
          if (d?.id !== id)
            return { kind: "gave-up", why: `the agent's status no longer shows deployment ${id}` };
          if (d.confirmDeadlineUnixMs > 0) this.deadline = Math.max(this.deadline, d.confirmDeadlineUnixMs);
          if (d.state !== lastState) {
            lastState = d.state;
            o.log(`${o.target}: ${id} is ${stateName(lastState)} (agent status)`);
          }
          if (d.state === DeploymentState.DEPLOYMENT_STATE_AWAITING_CONFIRMATION) {
            this.startConfirming(id, d.confirmDeadlineUnixMs, 0);
          }
          if (watch) {
            const current = api;
            const r = await this.read((signal) => current.watch(signal), id);
            switch (r.kind) {
              case "final":
                return {
                  kind: "final",
                  state: r.event.state,
                  rollbackReason: r.event.rollbackReason,
                  note: "followed on a new connection",
                  statusMessage: undefined,
                };
              case "interrupted":
                return { kind: "interrupted" };
              case "error":
                if (r.error.code === GrpcStatus.UNIMPLEMENTED) {
                  watch = false; // an agent without Watch: poll its status
                } else {
                  throw r.error;
                }
                break;
              case "ended":
              case "other":
                break; // ask the status again
            }
          }
        } catch (e) {
          if (o.signal.aborted) return { kind: "interrupted" };
          if (!isUserError(e)) throw e;
          api?.close();
          api = undefined;
          if (e.message !== lastError) o.log(`${o.target}: still no answer: ${e.message}${this.timeLeft()}`);
          lastError = e.message;
        }
        try {
          await o.sleep(o.pollIntervalMs, o.signal);
        } catch {
          return { kind: "interrupted" };
        }
      }
    } finally {
      api?.close();
    }
  }

  private timeLeft(): string {
    if (this.deadline <= 0) return "";
    const left = (this.deadline - this.o.now()) / 1000;
    return left > 0
      ? ` (${formatSeconds(left)} to the confirm deadline)`
      : " (the confirm deadline has passed)";
  }
}

/** A connection attempt gets at least this long (a TLS handshake), even just before a time limit. */
const MIN_ATTEMPT_MS = 1_000;

function attemptTimeout(o: FollowOptions, limit: number): number {
  return Math.min(o.connectTimeoutMs, Math.max(MIN_ATTEMPT_MS, limit - o.now()));
}

/** How long a stopped confirm procedure may still wait for the answer to a Confirm it sent. */
const ANSWER_WAIT_MS = 5_000;

interface ConfirmTask {
  readonly stop: AbortController;
  done: Promise<void>;
  /** A Confirm RPC was sent and its answer is awaited. */
  rpcInFlight: boolean;
}

/** The abort reason when the confirm procedure is stopped because it is no longer needed. */
class StoppedConfirming extends Error {}

/**
 * The agent's deadline on our clock: the later of the agent's wall-clock
 * value and "now + (deadline - event time)", so a clock that runs ahead of
 * the robot's does not make us give up early.
 */
function localDeadline(
  agentDeadline: number,
  event: { readonly timestampUnixMs: number },
  now: number,
): number {
  const remaining = event.timestampUnixMs > 0 ? agentDeadline - event.timestampUnixMs : 0;
  return Math.max(agentDeadline, now + remaining);
}
