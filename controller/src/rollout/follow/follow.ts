import type { DeploymentEvent } from "@ros-rollback/proto";
import type { AgentCallError } from "../../agent-api.js";
import type { Followed } from "../../report/followed.js";
import type { StreamEnd } from "../../report/outcome.js";
import { Confirmer } from "./confirming.js";
import type { FollowOptions } from "./options.js";
import { readEvents } from "./reading.js";
import { reattach } from "./reattach.js";
import { FollowState } from "./state.js";

export { CONFIRM_SLACK_MS, DEFAULT_CONFIRM_WINDOW_MS, type FollowOptions, STALL_MS } from "./options.js";

/**
 * Follows a deployment to its end, starting from its Activate/Rollback
 * stream (reading.ts):
 *
 * - When it AWAITS CONFIRMATION, confirms over a NEW connection (proving
 *   that the network path and the agent survived the switch), retrying until
 *   the deadline; the agent rolls back by itself when nobody confirms
 *   (confirming.ts).
 * - When the stream breaks after the agent named the deployment (the switch
 *   may cut the network or restart the agent), reconnects — new connections,
 *   until the confirm deadline + reconnect grace (or --follow-timeout while
 *   the deadline is unknown) — reads the agent's status, confirms if it still
 *   waits, and follows it live with Watch (GetStatus polls for agents without
 *   Watch) to its final state (reattach.ts). The agent persists its record,
 *   so that state is the truth; without it the outcome stays "uncertain".
 */
export async function followDeployment(
  start: (signal: AbortSignal) => AsyncIterable<DeploymentEvent>,
  o: FollowOptions,
): Promise<Followed> {
  const state = new FollowState(o.now, o.onEvent);
  const confirmer = new Confirmer(o);
  let followed: Omit<Followed, "confirmation">;
  try {
    followed = await follow(o, state, confirmer, start);
  } finally {
    await confirmer.stop("stopped following the deployment");
  }
  return { ...followed, confirmation: confirmer.confirmation };
}

async function follow(
  o: FollowOptions,
  state: FollowState,
  confirmer: Confirmer,
  start: (signal: AbortSignal) => AsyncIterable<DeploymentEvent>,
): Promise<Omit<Followed, "confirmation">> {
  const result = (
    end: StreamEnd,
    error?: AgentCallError,
    note?: string,
    statusMessage?: string,
  ): Omit<Followed, "confirmation"> => ({
    end,
    events: state.events,
    error,
    note,
    health: state.health,
    statusMessage,
  });
  const read = await readEvents(o, state, confirmer, start);
  const lastState = state.lastState();
  switch (read.kind) {
    case "final":
      return result({
        kind: "final",
        state: read.event.state,
        earlier: state.events.slice(0, -1).map((e) => e.state),
        rollbackReason: read.event.rollbackReason,
      });
    case "interrupted":
      return result({ kind: "interrupted", lastState });
    case "other":
      return result({ kind: "no-final", lastState });
    case "error":
    case "ended":
      break;
  }
  const error = read.kind === "error" ? read.error : undefined;
  const end: StreamEnd =
    error === undefined ? { kind: "no-final", lastState } : { kind: "error", code: error.code, lastState };
  const id = state.deploymentId();
  if (id === undefined || o.followTimeoutMs <= 0) return result(end, error);
  o.log(
    `${o.target}: ${error === undefined ? "the event stream ended early" : `lost the event stream (${error.statusName})`}; ` +
      `asking the agent for the outcome of ${id} over a new connection`,
  );
  const found = await reattach(o, state, confirmer, id);
  switch (found.kind) {
    case "final":
      return result(
        // Events in between were not seen: `earlier` must not vouch for anything.
        { kind: "final", state: found.state, earlier: [], rollbackReason: found.rollbackReason },
        // The outcome is known: the broken stream (a reboot, a switch taking the link down) was
        // how we lost sight of it, not an error of the deployment; the note keeps what it was.
        undefined,
        `${found.note} after ${error === undefined ? "the event stream ended early" : `the event stream broke (${error.statusName}: ${error.details.slice(0, 120)})`}`,
        found.statusMessage,
      );
    case "interrupted":
      return result({ kind: "interrupted", lastState: state.lastState() }, error);
    case "gave-up":
      return result(end, error, found.why);
  }
}
