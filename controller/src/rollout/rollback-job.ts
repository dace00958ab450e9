import { ActivationAction } from "@ros-rollback/proto";
import type { CommandContext } from "../context/command.js";
import type { FollowArgs } from "./follow/follow-options.js";
import type { TargetJob } from "./run-on-target.js";

export interface RollbackSpec {
  /** Generation to return to; undefined = the agent's recorded previous generation. */
  readonly to: number | undefined;
  readonly follow: FollowArgs;
  /** --override-hold: holds to go ahead despite, by exact name. */
  readonly overrideHolds: readonly string[];
}

/** `rollback` on one robot: prepare only reads its status; start = Rollback. */
export function rollbackJob(ctx: CommandContext, spec: RollbackSpec): TargetJob<undefined> {
  const label = spec.to === undefined ? "previous" : `generation ${spec.to}`;
  return {
    operation: "rollback",
    overrideHolds: spec.overrideHolds,
    action: ActivationAction.ACTIVATION_ACTION_UNSPECIFIED,
    actionLabel: null,
    selfConfirm: false,
    follow: spec.follow,
    storePath: null,
    interrupted: (target) => `interrupted before the rollback started; nothing was changed on ${target}`,
    async prepare(api, facts, signal) {
      facts.generationBefore = (await api.getStatus(signal)).currentGeneration;
      ctx.log(`${api.target.name}: on generation ${facts.generationBefore}; rolling back to ${label}`);
      return undefined;
    },
    start(api, _prepared, signal) {
      const overrideHolds = [...spec.overrideHolds];
      return api.rollback(
        spec.to === undefined ? { overrideHolds } : { generation: spec.to, overrideHolds },
        signal,
      );
    },
  };
}
