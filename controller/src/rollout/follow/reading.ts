import { type DeploymentEvent, DeploymentState, GrpcStatus } from "@ros-rollback/proto";
import { AgentCallError } from "../../agent-api/call-error.js";
import { stateName } from "../../report/enum-names.js";
import { formatSeconds } from "../../report/views.js";
import type { Confirmer } from "./confirming.js";
import { type FollowOptions, STALL_MS } from "./options.js";
import type { FollowState } from "./state.js";

export type Read =
  | { readonly kind: "final"; readonly event: DeploymentEvent }
  | { readonly kind: "error"; readonly error: AgentCallError }
  | { readonly kind: "ended" }
  | { readonly kind: "interrupted" }
  /** A Watch stream showed another deployment: ours is over. */
  | { readonly kind: "other" };

/** States in which the agent reports every health round, so silence means a dead stream. */
const CHATTY: ReadonlySet<DeploymentState> = new Set([
  DeploymentState.DEPLOYMENT_STATE_CHECKING_HEALTH,
  DeploymentState.DEPLOYMENT_STATE_AWAITING_CONFIRMATION,
]);

/**
 * Reads one event stream to its end, recording every event. Starts
 * confirming when it reports AWAITING_CONFIRMATION and stops when the agent
 * stopped waiting. `only`: stop at events of another deployment (Watch after
 * re-attaching). A stream silent for STALL_MS in a chatty state is dead.
 */
export async function readEvents(
  o: FollowOptions,
  state: FollowState,
  confirmer: Confirmer,
  start: (signal: AbortSignal) => AsyncIterable<DeploymentEvent>,
  only?: string,
): Promise<Read> {
  const stall = new AbortController();
  const stallMs = o.stallMs ?? STALL_MS;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let current: DeploymentState | undefined;
  const arm = () => {
    clearTimeout(timer);
    if (current !== undefined && CHATTY.has(current)) timer = setTimeout(() => stall.abort(), stallMs);
  };
  try {
    for await (const e of start(AbortSignal.any([o.signal, stall.signal]))) {
      clearTimeout(timer);
      if (only !== undefined && e.deploymentId !== "" && e.deploymentId !== only) return { kind: "other" };
      state.record(e);
      if (e.state === DeploymentState.DEPLOYMENT_STATE_AWAITING_CONFIRMATION && !e.final) {
        confirmer.start(e.deploymentId, e.confirmDeadlineUnixMs, e.timestampUnixMs);
      } else if (e.state !== DeploymentState.DEPLOYMENT_STATE_CHECKING_HEALTH) {
        // The agent stopped waiting (confirmed, not confirmed, unhealthy, ...): so do we. When
        // it was confirmed, our Confirm's answer is on its way: let it arrive.
        await confirmer.stop(
          `the agent stopped waiting for it (${stateName(e.state)})`,
          e.state === DeploymentState.DEPLOYMENT_STATE_SUCCEEDED,
        );
      }
      if (e.final) return { kind: "final", event: e };
      current = e.state;
      arm();
    }
    return { kind: "ended" };
  } catch (e) {
    if (o.signal.aborted) return { kind: "interrupted" };
    if (stall.signal.aborted) {
      const details = `no event from the agent for ${formatSeconds(stallMs / 1000)} while ${stateName(current ?? DeploymentState.DEPLOYMENT_STATE_UNSPECIFIED)}`;
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
