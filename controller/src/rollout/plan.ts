import type { DataInterruption, PlanResponse } from "@ros-rollback/proto";
import type { CommandContext } from "../context/command.js";
import type { CommandResult } from "../core/command.js";
import { asUserError, ExitCode, UsageError, type UserError } from "../core/errors.js";
import { ProgressReporter } from "../report/progress.js";
import type { Strategy } from "../report/strategy.js";
import { unitChangesJson, unitChangesText } from "../report/views.js";
import type { Target } from "../targets/inventory.js";
import { forEachTarget } from "../targets/pool.js";
import { isSingle } from "../targets/selection.js";
import { type Built, DeploySource, type DeploySpec, deployJob } from "./deploy-job.js";
import { limitedPush } from "./fleet/deploy-rollout.js";
import { makeTransfer } from "./make-transfer.js";
import { type PlanSpace, planSpace, planSpaceText } from "./plan-space.js";
import type { Facts, TargetJob } from "./run-on-target.js";

export type PlanJson = ReturnType<typeof planJson>;

/**
 * The plan stage (`plan`, `deploy --plan`) on one robot: the deploy's
 * prepare (status, closure, transfer: pushed paths stay unused in its
 * store), then the agent's Plan (dry-activate + closure diff). Nothing on the
 * robot changes: Activate is never called.
 */
export async function planOnTarget(
  ctx: CommandContext,
  /** Its name in the inventory; undefined: --target / $ROS_ROLLBACK_TARGET. */
  targetArg: string | undefined,
  job: TargetJob<Built>,
): Promise<PlanJson> {
  const api = await ctx.connect({ target: targetArg });
  try {
    const facts: Facts = { generationBefore: 0, storePath: null, push: null };
    const prepared = await job.prepare(api, facts, ctx.signal);
    return planJson(
      api.target.name,
      await api.plan(prepared.storePath, ctx.signal),
      planSpace(facts.push, facts.space),
    );
  } finally {
    api.close();
  }
}

/** One robot's plan as the command result: exit 0 when dry-activate succeeded, 1 otherwise. */
export function planResult(p: PlanJson): CommandResult {
  return { exitCode: p.exitCode === 0 ? ExitCode.Ok : ExitCode.Unchanged, json: p, human: planText(p) };
}

type PlanAnswer =
  | { readonly target: string; readonly plan: PlanJson }
  | { readonly target: string; readonly error: UserError };

/**
 * `deploy --plan` with several targets: every robot planned, at most
 * `parallel` at once (each its own transfer and dry-activate). A robot that
 * cannot be planned is an answer too; bugs and usage errors are rethrown.
 * Exit 0: every plan's dry-activate succeeded; 1: none did; 6: some did.
 */
export async function planEach(
  ctx: CommandContext,
  targets: readonly Target[],
  parallel: number,
  job: (target: Target) => TargetJob<Built>,
): Promise<CommandResult> {
  const answers = await forEachTarget(targets, parallel, async (t): Promise<PlanAnswer> => {
    try {
      return { target: t.name, plan: await planOnTarget(ctx, t.name, job(t)) };
    } catch (e) {
      const user = asUserError(e);
      if (user === undefined || e instanceof UsageError) throw e;
      ctx.log(`${t.name}: error: ${user.message}`);
      return { target: t.name, error: user };
    }
  });
  const good = answers.filter((a) => "plan" in a && a.plan.exitCode === 0).length;
  return {
    exitCode: good === answers.length ? ExitCode.Ok : good === 0 ? ExitCode.Unchanged : ExitCode.Skipped,
    json: answers.map((a) =>
      "plan" in a
        ? a.plan
        : {
            target: a.target,
            error: { message: a.error.message, exitCode: a.error.exitCode, ...a.error.data },
          },
    ),
    human: answers
      .map((a) => ("plan" in a ? planText(a.plan) : `${a.target}: no plan: ${a.error.message}`))
      .join("\n\n"),
  };
}

export function planJson(target: string, p: PlanResponse, space: PlanSpace | null = null) {
  const c = p.closure;
  return {
    target,
    currentSystem: p.currentSystem,
    storePath: p.storePath,
    space,
    units: unitChangesJson(p.units),
    interrupted: p.interrupted.map(interruptionJson),
    unchanged: p.unchanged,
    closure:
      c === undefined
        ? null
        : {
            added: c.added,
            removed: c.removed,
            changed: c.changed,
            oldSizeBytes: c.oldSizeBytes,
            newSizeBytes: c.newSizeBytes,
            sizeDeltaBytes: c.newSizeBytes - c.oldSizeBytes,
          },
    exitCode: p.exitCode,
    output: p.output,
  };
}

function interruptionJson(i: DataInterruption) {
  return { unit: i.unit, paths: i.paths, lastStoppedMs: i.lastStoppedMs ?? null, after: i.after };
}

/** "labdb.service for /var/lib/labdb (stopped 2.3 s last time), then restarted" */
function interruptionText(i: ReturnType<typeof interruptionJson>): string {
  const last =
    i.lastStoppedMs === null ? "" : ` (stopped ${(i.lastStoppedMs / 1000).toFixed(1)} s last time)`;
  const then = i.after === "stopped" ? "then stays stopped: the new system drops it" : `then ${i.after}`;
  return `${i.unit} for ${i.paths.join(", ")}${last}, ${then}`;
}

function mib(bytes: number): string {
  return `${bytes >= 0 ? "+" : ""}${(bytes / 1048576).toFixed(1)} MiB`;
}

export function planText(p: ReturnType<typeof planJson>): string {
  const lines = [`${p.target}: plan for ${p.storePath} (running ${p.currentSystem})`];
  if (p.exitCode !== 0) lines.push(`dry-activate FAILED (exit ${p.exitCode}): ${p.output}`);
  if (p.space !== null) lines.push(`space:     ${planSpaceText(p.space)}`);
  lines.push(`units:     ${p.units === null ? "unknown" : unitChangesText(p.units)}`);
  if (p.interrupted.length > 0) {
    lines.push("stopped for the data snapshot, before the switch:");
    for (const i of p.interrupted) lines.push(`  ${interruptionText(i)}`);
  }
  lines.push(`untouched: ${p.unchanged.length === 0 ? "-" : p.unchanged.join(", ")}`);
  if (p.closure !== null) {
    const v = (xs: readonly string[]) =>
      xs.length === 0 ? "∅" : xs.map((x) => x || "(no version)").join(", ");
    for (const c of p.closure.changed)
      lines.push(`  ${c.name}: ${v(c.oldVersions)} → ${v(c.newVersions)}, ${mib(c.sizeDeltaBytes)}`);
    for (const c of p.closure.added)
      lines.push(`  ${c.name}: added ${v(c.newVersions)}, ${mib(c.sizeDeltaBytes)}`);
    for (const c of p.closure.removed)
      lines.push(`  ${c.name}: removed ${v(c.oldVersions)}, ${mib(c.sizeDeltaBytes)}`);
    lines.push(
      `closure:   ${mib(p.closure.sizeDeltaBytes)} (${p.closure.oldSizeBytes} → ${p.closure.newSizeBytes} bytes)`,
    );
  }
  return lines.join("\n");
}

/**
 * `deploy --plan`: the deploy's own transfer (--transfer, --upload-to), then
 * the plan, on one robot or on each selected robot (--max-parallel at once).
 */
export async function deployPlan(
  ctx: CommandContext,
  spec: DeploySpec,
  strategy: Strategy,
): Promise<CommandResult> {
  if (isSingle(ctx.selection)) {
    const transfer = makeTransfer(
      ctx,
      spec,
      () =>
        new ProgressReporter(ctx.io.stderr, {
          tty: ctx.io.stderr.isTTY,
          columns: ctx.io.stderr.columns,
          now: ctx.io.now,
        }),
    );
    return planResult(
      await planOnTarget(ctx, undefined, deployJob(ctx, spec, new DeploySource(spec, ctx), transfer)),
    );
  }
  const targets = await ctx.selectTargets();
  const source = new DeploySource(spec, ctx);
  const transfer = limitedPush(ctx, spec, strategy);
  return planEach(ctx, targets, strategy.maxParallel, () =>
    deployJob(
      ctx,
      spec,
      source,
      transfer(() => undefined),
    ),
  );
}
