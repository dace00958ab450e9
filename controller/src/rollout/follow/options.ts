import type { DeploymentEvent } from "@ros-rollback/proto";
import type { AgentApi } from "../../agent-api.js";

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

/** A connection attempt gets at least this long (a TLS handshake), even just before a time limit. */
const MIN_ATTEMPT_MS = 1_000;

export function attemptTimeout(o: FollowOptions, limit: number): number {
  return Math.min(o.connectTimeoutMs, Math.max(MIN_ATTEMPT_MS, limit - o.now()));
}

/**
 * The agent's deadline on our clock: the later of the agent's wall-clock
 * value and "now + (deadline - event time)", so a clock that runs ahead of
 * the robot's does not make us give up early.
 */
export function localDeadline(
  agentDeadline: number,
  event: { readonly timestampUnixMs: number },
  now: number,
): number {
  const remaining = event.timestampUnixMs > 0 ? agentDeadline - event.timestampUnixMs : 0;
  return Math.max(agentDeadline, now + remaining);
}
