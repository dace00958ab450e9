import { type ActivationAction, type Deployment, DeploymentState } from "@ros-rollback/proto";
import type { AgentApi } from "../../agent-api.js";
import type { CommandContext } from "../../context/command.js";
import { isUserError, UserError } from "../../core/errors.js";
import { stateName } from "../../report/enum-names.js";
import { judge } from "../../report/outcome.js";
import { classify, type RobotResult } from "../../report/result.js";
import type { Strategy } from "../../report/strategy.js";
import { type HoldJson, holdJson } from "../../report/views.js";
import type { Target } from "../../targets/inventory.js";
import { decodeLabel, planWaves } from "./strategy.js";

/** One robot of a rollout as the robot itself tells it. */
export type RobotState =
  /** Not reached yet, or skipped because held (`holds`: the robot's holds now). */
  | { readonly kind: "pending"; readonly holds: readonly HoldJson[] }
  | { readonly kind: "running"; readonly deployment: Deployment }
  | { readonly kind: "finished"; readonly deployment: Deployment; readonly result: RobotResult }
  | { readonly kind: "unreachable"; readonly reason: string };

export interface RebuiltRollout {
  readonly id: string;
  readonly strategy: Strategy;
  /** The system the rollout deploys, and how (from a robot's record of it). */
  readonly storePath: string;
  readonly action: ActivationAction;
  readonly template: Deployment;
  readonly targets: readonly Target[];
  readonly robots: ReadonlyMap<string, RobotState>;
  /** 1-based wave of each robot, from the strategy over the same selection. */
  readonly waves: ReadonlyMap<string, number>;
}

/**
 * Rebuilds rollout `id` by asking every selected robot (GetStatus): a robot
 * whose current or last deployment carries the rollout's label ran (or runs)
 * it; the others have not been reached yet. No controller-side state.
 */
export async function rebuildRollout(ctx: CommandContext, id: string): Promise<RebuiltRollout> {
  const targets = await ctx.selectTargets({ defaultAll: true });
  const robots = new Map<string, RobotState>();
  let found: { strategy: Strategy; deployment: Deployment } | undefined;
  await Promise.all(
    targets.map(async (t) => {
      let api: AgentApi | undefined;
      try {
        api = await ctx.connect({ target: t.name });
        const status = await api.getStatus(ctx.signal);
        const mine = (d: Deployment | undefined) => {
          const label = d?.options === undefined ? undefined : decodeLabel(d.options.label);
          if (d === undefined || label?.id !== id) return false;
          found ??= { strategy: label.strategy, deployment: d };
          return true;
        };
        if (status.deployment !== undefined && mine(status.deployment)) {
          robots.set(t.name, { kind: "running", deployment: status.deployment });
        } else if (status.lastDeployment !== undefined && mine(status.lastDeployment)) {
          robots.set(t.name, finished(t.name, status.lastDeployment));
        } else {
          robots.set(t.name, { kind: "pending", holds: status.holds.map(holdJson) });
        }
      } catch (e) {
        if (!isUserError(e)) throw e;
        robots.set(t.name, { kind: "unreachable", reason: e.message });
      } finally {
        api?.close();
      }
    }),
  );
  ctx.signal.throwIfAborted();
  if (found === undefined) {
    throw new UserError(
      `no robot of the ${targets.length} selected records rollout ${id} (a robot keeps only its current and last deployment)`,
    );
  }
  const waves = new Map<string, number>();
  for (const [w, wave] of planWaves(targets.length, found.strategy).entries()) {
    for (const i of wave) waves.set((targets[i] as Target).name, w + 1);
  }
  return {
    id,
    strategy: found.strategy,
    storePath: found.deployment.storePath,
    action: found.deployment.action,
    template: found.deployment,
    targets,
    robots,
    waves,
  };
}

function finished(target: string, d: Deployment): RobotState {
  const verdict = judge("activate", d.action, {
    kind: "final",
    state: d.state,
    earlier: [],
    rollbackReason: d.rollbackReason,
  });
  const outcome =
    d.state === DeploymentState.DEPLOYMENT_STATE_AWAITING_REBOOT ? "succeeded" : classify(verdict);
  return {
    kind: "finished",
    deployment: d,
    result: {
      target,
      wave: null,
      outcome,
      reason: `recorded on the robot: ${d.id} ${stateName(d.state)}${d.message === "" ? "" : `: ${d.message}`}`,
      report: null,
      rollback: null,
      held: null,
      online: null,
    },
  };
}
