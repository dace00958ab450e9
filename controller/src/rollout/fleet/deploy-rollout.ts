import { randomInt } from "node:crypto";
import type { CommandContext } from "../../context/command.js";
import type { CommandResult } from "../../core/command.js";
import { withBoard } from "../../report/board.js";
import { ProgressReporter } from "../../report/progress.js";
import { type RolloutResult, rolloutJson, rolloutText } from "../../report/result.js";
import { formatAmount, type Strategy } from "../../report/strategy.js";
import { DeploySource, type DeploySpec, deployJob } from "../deploy-job.js";
import { makeTransfer } from "../make-transfer.js";
import { type RollbackSpec, rollbackJob } from "../rollback-job.js";
import type { TargetJob } from "../run-on-target.js";
import { runRollout } from "./fleet.js";
import { LimitedTransfer, Semaphore } from "./limit.js";
import { DEFAULT_STRATEGY, encodeLabel, newRolloutId } from "./strategy.js";

/** A job that asks `gate` before it changes the robot (its transfer waits for a slot first). */
export function gated<P>(job: TargetJob<P>, gate: () => void): TargetJob<P> {
  return {
    ...job,
    async prepare(api, facts, signal) {
      gate();
      const prepared = await job.prepare(api, facts, signal);
      gate();
      return prepared;
    },
  };
}

/**
 * `deploy` to several robots: the closure is computed (and signed) once; each
 * robot gets only the paths it lacks, at most --max-parallel transfers at
 * once; every robot records the rollout's id and strategy in its
 * deployment's label.
 */
export async function deployRollout(
  outer: CommandContext,
  spec: DeploySpec,
  strategy: Strategy,
  onlineSeconds?: number,
): Promise<CommandResult> {
  const targets = await outer.selectTargets();
  return withBoard(outer, names(targets), async (ctx) => {
    const id = newRolloutId(ctx.io.now(), () => randomInt(0x1000000) / 0x1000000);
    ctx.log(
      `rollout ${id}: deploy to ${targets.length} robots (canary ${strategy.canary}, batch ${formatAmount(strategy.batch)}, ` +
        `max-parallel ${strategy.maxParallel}, max-failures ${formatAmount(strategy.maxFailures)})`,
    );
    const source = new DeploySource(spec, ctx, { label: encodeLabel(id, strategy) });
    const transfer = limitedPush(ctx, spec, strategy);
    const result = await runRollout(ctx, {
      id,
      operation: "deploy",
      strategy,
      targets,
      job: (_, gate, release) => gated(deployJob(ctx, spec, source, transfer(gate), release), gate),
      releaseSeconds: spec.waitForReleaseSeconds,
      onlineSeconds,
      rollbackJob: () =>
        rollbackJob(ctx, { to: undefined, follow: spec.follow, overrideHolds: spec.overrideHolds }),
    });
    return rolloutResult(result, spec.overrideHolds);
  });
}

/** The push for a rollout: at most --max-parallel at once, each asking `gate` once it has a slot. */
export function limitedPush(
  ctx: CommandContext,
  spec: DeploySpec,
  strategy: Strategy,
): (gate: () => void) => LimitedTransfer {
  // Several robots at once: plain lines, each named.
  const push = makeTransfer(
    ctx,
    spec,
    (target, what) =>
      new ProgressReporter(ctx.io.stderr, {
        tty: false,
        columns: 0,
        now: ctx.io.now,
        label: `${target}: ${what}`,
      }),
  );
  const slots = new Semaphore(strategy.maxParallel);
  return (gate) => new LimitedTransfer(push, slots, gate);
}

/** Robots rolled back at once by `rollback` with several targets. */
const ROLLBACK_WAVE = 4;

/** `rollback` on several robots: waves of a few, each robot on its own (a failure aborts nothing). */
export async function rollbackRollout(outer: CommandContext, spec: RollbackSpec): Promise<CommandResult> {
  const targets = await outer.selectTargets();
  return withBoard(outer, names(targets), async (ctx) => {
    const id = newRolloutId(ctx.io.now(), () => randomInt(0x1000000) / 0x1000000);
    const strategy: Strategy = {
      ...DEFAULT_STRATEGY,
      batch: { kind: "count", n: ROLLBACK_WAVE },
      maxFailures: { kind: "percent", p: 100 },
    };
    const result = await runRollout(ctx, {
      id,
      operation: "rollback",
      strategy,
      targets,
      job: (_, gate) => gated(rollbackJob(ctx, spec), gate),
      rollbackJob: () =>
        rollbackJob(ctx, { to: undefined, follow: spec.follow, overrideHolds: spec.overrideHolds }),
    });
    return rolloutResult(result, spec.overrideHolds);
  });
}

const names = (targets: readonly { readonly name: string }[]): string[] => targets.map((t) => t.name);

export function rolloutResult(r: RolloutResult, overrideHolds: readonly string[] = []): CommandResult {
  return { exitCode: r.exitCode, json: { ...rolloutJson(r), overrideHolds }, human: rolloutText(r) };
}
