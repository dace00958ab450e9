import type { ActivationAction, DeploymentEvent, StoreSpace } from "@ros-rollback/proto";
import type { AgentApi } from "../agent-api.js";
import type { CommandContext } from "../context/command.js";
import { asUserError, UserError } from "../core/errors.js";
import type { Followed } from "../report/followed.js";
import type { HeldJson } from "../report/holds.js";
import type { Operation } from "../report/outcome.js";
import { buildReport, type DeploymentReport, errorBeforeChange, unchangedReport } from "../report/report.js";
import { formatSeconds } from "../report/views.js";
import type { PushSummary } from "../transfer/transfer.js";
import { followDeployment } from "./follow/follow.js";
import { eventPrinter, type FollowArgs, followOptions } from "./follow/follow-options.js";
import { HeldRobot, heldRefusal, type ReleaseWindow, waitForRelease } from "./wait-release.js";

/** What the run learned before the robot changed: it goes into the report whatever happens next. */
export interface Facts {
  /** Current generation before we started (GetStatus). */
  generationBefore: number;
  /** The store path as far as it is known (a flake ref until built, `./result` until resolved). */
  storePath: string | null;
  push: PushSummary | null;
  /** The store's free space before the transfer (GetStatus; undefined: the agent did not say). */
  space?: StoreSpace | undefined;
}

/** After a hold refusal: waits for release; undefined: ask again, else why it gives up (nothing changed). */
async function waitOrGiveUp(
  ctx: CommandContext,
  api: AgentApi,
  held: HeldRobot,
  release: ReleaseWindow,
  firstRefusal: number,
  refusedAgain: boolean,
  job: Pick<TargetJob<unknown>, "interrupted">,
): Promise<UserError | undefined> {
  const target = api.target.name;
  try {
    const end = await waitForRelease(
      api,
      held,
      release.until(firstRefusal),
      `, waiting up to ${formatSeconds(release.seconds)} for release`,
      {
        now: ctx.io.now,
        sleep: ctx.io.sleep,
        signal: ctx.signal,
        pauseFirst: refusedAgain,
        proceed: release.proceed,
      },
    );
    if (end === "interrupted") {
      return new UserError(`interrupted while waiting for release; nothing was changed on ${target}`);
    }
    if (end === "timeout") {
      return new UserError(
        `${target}: still held after ${formatSeconds(held.waitedSeconds())} (--wait-for-release ${release.seconds}): ` +
          `${held.describe()}; nothing was changed`,
      );
    }
    release.proceed?.();
    return undefined;
  } catch (e) {
    // A rollout that aborted meanwhile: this robot is not started.
    return errorBeforeChange(e, ctx.signal, job.interrupted(target));
  }
}

/** Without --wait-for-release: the holds of a refusal, for the report (the refusal's message names them too). */
async function readHolds(api: AgentApi, held: HeldRobot, signal: AbortSignal): Promise<void> {
  try {
    held.update((await api.getStatus(signal)).holds, "", false);
  } catch (e) {
    if (asUserError(e) === undefined) throw e;
  }
}

/** One operation on one robot, as its two phases plus what the report needs to judge it. */
export interface TargetJob<P> {
  readonly operation: Operation;
  readonly action: ActivationAction;
  readonly actionLabel: string | null;
  /** The agent confirms by itself (--no-confirm): we send no Confirm. */
  readonly selfConfirm: boolean;
  readonly follow: FollowArgs;
  readonly storePath: string | null;
  /** Work before connecting, shared by every robot of a rollout (build a flake, read files). */
  readonly before?: (facts: Facts, signal: AbortSignal) => Promise<void>;
  /** Nothing on the robot changes here (pushed paths stay unused in its store). */
  prepare(api: AgentApi, facts: Facts, signal: AbortSignal): Promise<P>;
  /** Asks the agent to change the robot; its events are followed to the end. */
  start(api: AgentApi, prepared: P, signal: AbortSignal): AsyncIterable<DeploymentEvent>;
  /** Said when interrupted before `start`. */
  readonly interrupted: (target: string) => string;
  /** --wait-for-release: when the agent refuses because the robot is held, wait for release and ask again. */
  readonly release?: ReleaseWindow | undefined;
  /** --override-hold: the holds the request goes ahead despite (for the report). */
  readonly overrideHolds?: readonly string[] | undefined;
}

/**
 * Runs one job on one robot: connect and prepare (any failure: outcome
 * "unchanged", exit 1), then start and follow the deployment through
 * health and confirmation to a judged outcome. `ctx.log`/`ctx.io.stderr`
 * are where its lines go (a rollout gives each robot its own).
 */
export async function runOnTarget<P>(
  ctx: CommandContext,
  /** Its name in the inventory; undefined: --target / $ROS_ROLLBACK_TARGET. */
  targetArg: string | undefined,
  job: TargetJob<P>,
): Promise<DeploymentReport> {
  const report = await runJob(ctx, targetArg, job);
  return { ...report, overrideHolds: job.overrideHolds ?? [] };
}

async function runJob<P>(
  ctx: CommandContext,
  targetArg: string | undefined,
  job: TargetJob<P>,
): Promise<DeploymentReport> {
  const { signal } = ctx;
  const target = targetArg ?? ctx.global.target ?? "?";
  const facts: Facts = { generationBefore: 0, storePath: job.storePath, push: null };
  let api: AgentApi | undefined;
  try {
    // ---- Nothing below changes the robot until `start` is called. ----
    let prepared: P;
    try {
      await job.before?.(facts, signal);
      api = await ctx.connect({ target: targetArg });
      prepared = await job.prepare(api, facts, signal);
      signal.throwIfAborted();
    } catch (e) {
      const error = errorBeforeChange(e, signal, job.interrupted(target));
      ctx.log(`error: ${error.message}`);
      return unchangedReport({
        target,
        operation: job.operation,
        actionLabel: job.actionLabel,
        storePath: facts.storePath,
        error,
        generationBefore: facts.generationBefore,
        push: facts.push,
      });
    }

    // ---- From here on the robot may change: every ending is an outcome. ----
    const started = api;
    const printer = eventPrinter(ctx, target);
    const held = new HeldRobot(target, (line) => printer.log(line), ctx.io.now);
    let heldJson: HeldJson | null = null;
    let followed: Followed;
    for (let attempt = 1; ; attempt++) {
      followed = await followDeployment(
        (s) => job.start(started, prepared, s),
        followOptions(ctx, target, job.follow, {
          confirm: !job.selfConfirm,
          printer,
          targetOverride: targetArg,
        }),
      );
      if (heldRefusal(followed) === undefined) break;
      const firstRefusal = held.refused();
      const release = job.release;
      if (release === undefined) {
        await readHolds(started, held, ctx.signal);
        heldJson = held.json(false);
        break;
      }
      const error = await waitOrGiveUp(ctx, started, held, release, firstRefusal, attempt > 1, job);
      heldJson = held.json(error === undefined);
      if (error === undefined) continue;
      printer.close();
      ctx.log(`error: ${error.message}`);
      return {
        ...unchangedReport({
          target,
          operation: job.operation,
          actionLabel: job.actionLabel,
          storePath: facts.storePath,
          error,
          generationBefore: facts.generationBefore,
          push: facts.push,
        }),
        held: heldJson,
      };
    }
    printer.close();
    const report = buildReport({
      target,
      operation: job.operation,
      action: job.action,
      actionLabel: job.actionLabel,
      storePath: facts.storePath,
      followed,
      generationBefore: facts.generationBefore,
      push: facts.push,
      selfConfirm: job.selfConfirm,
      held: heldJson,
    });
    // The gRPC error as the one line users know; the robot's state is in the result.
    if (report.exitCode !== 0) ctx.log(`error: ${followed.error?.message ?? report.reason}`);
    return report;
  } finally {
    api?.close();
  }
}
