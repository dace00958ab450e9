// What following a deployment learned (rollout/follow/): the input of its report.
import type { DeploymentEvent, HealthReport } from "@ros-rollback/proto";
import type { AgentCallError } from "../agent-api/call-error.js";
import type { StreamEnd } from "./outcome.js";

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
