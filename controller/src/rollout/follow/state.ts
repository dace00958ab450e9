import type { DeploymentEvent, DeploymentState, HealthReport } from "@ros-rollback/proto";
import { localDeadline } from "./options.js";

/** What following one deployment has learned so far; shared by reading and re-attaching. */
export class FollowState {
  /** Every event seen: the first stream's, then those of Watch streams after re-attaching. */
  readonly events: DeploymentEvent[] = [];
  /** The latest health report seen (events or the agent's status). */
  health: HealthReport | undefined;
  /** Latest known confirm deadline, on OUR clock (ms), 0 = unknown. */
  deadline = 0;

  constructor(
    private readonly now: () => number,
    private readonly onEvent: (e: DeploymentEvent) => void,
  ) {}

  lastState(): DeploymentState | undefined {
    return this.events[this.events.length - 1]?.state;
  }

  deploymentId(): string | undefined {
    return this.events.find((e) => e.deploymentId !== "")?.deploymentId;
  }

  record(e: DeploymentEvent): void {
    this.events.push(e);
    if (e.health !== undefined) this.health = e.health;
    if (e.confirmDeadlineUnixMs > 0) this.deadline = localDeadline(e.confirmDeadlineUnixMs, e, this.now());
    this.onEvent(e);
  }
}
