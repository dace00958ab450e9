import type { Deployment } from "@ros-rollback/proto";
import type { CommandContext } from "../../context/command.js";
import type { CommandResult } from "../../core/command.js";
import { UserError } from "../../core/errors.js";
import { withBoard } from "../../report/board.js";
import { actionName, stateName } from "../../report/enum-names.js";
import type { RobotResult } from "../../report/result.js";
import { ACTIONS, type ActionName, DeploySource, type DeploySpec, deployJob } from "../deploy-job.js";
import type { FollowArgs } from "../follow/follow-options.js";
import type { CompressionName } from "../push-transfer.js";
import { rollbackJob } from "../rollback-job.js";
import type { TargetJob } from "../run-on-target.js";
import type { TransferArgs } from "../transfer-options.js";
import { gated, limitedPush, rolloutResult } from "./deploy-rollout.js";
import { runRollout } from "./fleet.js";
import type { RebuiltRollout } from "./rebuild.js";
import { decodeLabel } from "./strategy.js";

export interface ResumeArgs extends TransferArgs {
  readonly compression: CompressionName;
  readonly signKey: string | undefined;
  /** The --health file again: the agent does not echo a deployment's health changes. */
  readonly healthFile: string | undefined;
  readonly follow: FollowArgs;
  /** Held robots are retried at the end, within this (as for deploy). */
  readonly waitForReleaseSeconds: number | undefined;
  /** --override-hold: holds every robot goes ahead despite (none: the rollout respects every hold). */
  readonly overrideHolds: readonly string[];
  /** --wait-online: robots still offline wait for this long after the last wave (as for deploy). */
  readonly waitOnlineSeconds: number | undefined;
}

/**
 * Picks a rollout up where the robots say it is: finished robots keep their
 * result, running ones are followed (and confirmed) over Watch, the rest are
 * deployed with the same system, options, label and strategy.
 */
export async function resumeRollout(
  outer: CommandContext,
  rollout: RebuiltRollout,
  args: ResumeArgs,
): Promise<CommandResult> {
  return withBoard(
    outer,
    rollout.targets.map((t) => t.name),
    async (ctx) => {
      const t = rollout.template;
      const options = t.options;
      const action = (Object.keys(ACTIONS) as ActionName[]).find((a) => ACTIONS[a] === t.action) ?? "switch";
      const spec: DeploySpec = {
        storePath: t.storePath,
        action,
        compression: args.compression,
        signKey: args.signKey,
        transfer: args.transfer,
        uploadTo: args.uploadTo,
        follow: args.follow,
        overrideHolds: args.overrideHolds,
        // The rollout's record does not keep --reboot: a resumed rollout installs without rebooting.
        reboot: false,
        confirmTimeoutSeconds: options?.confirmTimeoutSeconds,
        magicRollback: options?.magicRollback !== false,
        autoRollback: options?.autoRollback !== false,
        selfConfirm: options?.selfConfirm ?? false,
        healthFile: args.healthFile,
        waitForReleaseSeconds: args.waitForReleaseSeconds,
      };
      const finished = new Map<string, RobotResult>();
      for (const [name, state] of rollout.robots) {
        if (state.kind === "finished")
          finished.set(name, { ...state.result, wave: rollout.waves.get(name) ?? null });
      }
      if (finished.size === rollout.targets.length) {
        ctx.log(
          `rollout ${rollout.id}: already finished: every one of the ${finished.size} selected robots has its result; nothing to resume`,
        );
      } else
        ctx.log(
          `rollout ${rollout.id}: resuming — ${finished.size} finished, ` +
            `${[...rollout.robots.values()].filter((s) => s.kind === "running").length} running, ` +
            `${rollout.targets.length - finished.size} to follow or deploy`,
        );
      const source = new DeploySource(spec, ctx, { label: options?.label ?? "" });
      const transfer = limitedPush(ctx, spec, rollout.strategy);
      const result = await runRollout(ctx, {
        id: rollout.id,
        operation: "deploy",
        strategy: rollout.strategy,
        targets: rollout.targets,
        finished,
        job: (target, gate, release) => {
          const state = rollout.robots.get(target.name);
          if (state?.kind === "running") return attachJob(ctx, state.deployment, args.follow);
          // Not done: pending, and robots skipped because they were held or offline (they have no record of it).
          const job = gated(deployJob(ctx, spec, source, transfer(gate), release), gate);
          // Not asked when rebuilt: it may have run the rollout already.
          return state?.kind === "unreachable" ? notTwice(ctx, job, rollout.id) : job;
        },
        releaseSeconds: args.waitForReleaseSeconds,
        onlineSeconds: args.waitOnlineSeconds,
        rollbackJob: () =>
          rollbackJob(ctx, { to: undefined, follow: args.follow, overrideHolds: args.overrideHolds }),
      });
      return rolloutResult(result, args.overrideHolds);
    },
  );
}

/** A robot whose deployment of the rollout still runs: follow it over Watch (confirming it, as deploy would). */
function attachJob(ctx: CommandContext, d: Deployment, follow: FollowArgs): TargetJob<undefined> {
  return {
    operation: "activate",
    action: d.action,
    actionLabel: actionName(d.action),
    selfConfirm: d.options?.selfConfirm ?? false,
    follow,
    storePath: d.storePath,
    interrupted: (target) =>
      `interrupted before re-attaching to ${d.id} on ${target}; it carries on without us`,
    async prepare(_api, facts) {
      facts.generationBefore = d.previousGeneration;
      return undefined;
    },
    start(api, _prepared, signal) {
      ctx.log(
        `${api.target.name}: re-attaching to ${d.id} (${stateName(d.state)} when the rollout was picked up)`,
      );
      return api.watch(signal);
    },
  };
}

/** What `notTwice` found on the robot: the rollout's deployment to follow, or nothing (deploy). */
type Found<P> = { readonly attach: Deployment } | { readonly attach: undefined; readonly prepared: P };

/**
 * A robot that could not be asked when the rollout was rebuilt (offline) may
 * have run the rollout already: once reached, its deployment of the rollout is
 * followed over Watch (the last one's final event if it ended), never made again.
 */
function notTwice<P>(ctx: CommandContext, job: TargetJob<P>, id: string): TargetJob<Found<P>> {
  const mine = (d: Deployment | undefined): d is Deployment =>
    d?.options !== undefined && decodeLabel(d.options.label)?.id === id;
  return {
    ...job,
    async prepare(api, facts, signal) {
      const { deployment, lastDeployment } = await api.getStatus(signal);
      const found = mine(deployment) ? deployment : deployment === undefined ? lastDeployment : undefined;
      if (mine(found)) {
        facts.generationBefore = found.previousGeneration;
        return { attach: found };
      }
      if (mine(lastDeployment)) {
        throw new UserError(
          `${api.target.name} ran rollout ${id} (${lastDeployment.id}) and runs another deployment now; not deployed again`,
        );
      }
      return { attach: undefined, prepared: await job.prepare(api, facts, signal) };
    },
    start(api, found, signal) {
      if (found.attach === undefined) return job.start(api, found.prepared, signal);
      const d = found.attach;
      ctx.log(
        `${api.target.name}: already has rollout ${id}'s deployment ${d.id} (${stateName(d.state)}): following it, not deploying again`,
      );
      return api.watch(signal);
    },
  };
}
