import type { AgentApi } from "../agent-api.js";
import type { CommandContext } from "../context/command.js";
import type { CommandResult } from "../core/command.js";
import { ExitCode, isUserError, type UserError } from "../core/errors.js";
import type { Target } from "../targets/inventory.js";
import { forEachTarget } from "../targets/pool.js";

/** One robot's answer to a read-only command, or why it has none. */
export type TargetAnswer<T> =
  | { readonly target: string; readonly ok: true; readonly value: T }
  | { readonly target: string; readonly ok: false; readonly error: UserError };

/**
 * Robots asked at once by the read-only commands; $ROS_ROLLBACK_READ_PARALLEL (1–64) for the bench
 * and tuning (16 and 32 did not pay on 2 shared cores: relay/README.md, Cost and scale).
 */
export const READ_PARALLEL = 8;

export function readParallel(env: Readonly<Record<string, string | undefined>>): number {
  const n = Number(env.ROS_ROLLBACK_READ_PARALLEL);
  return Number.isInteger(n) && n >= 1 && n <= 64 ? n : READ_PARALLEL;
}

/**
 * A read-only command on every selected robot (a few at a time). An
 * unreachable or refusing robot is an answer too; bugs are rethrown.
 */
export async function askEachTarget<T>(
  ctx: CommandContext,
  ask: (api: AgentApi) => Promise<T>,
): Promise<TargetAnswer<T>[]> {
  const targets = await ctx.selectTargets();
  return forEachTarget(targets, readParallel(ctx.io.env), (t) => askOne(ctx, t, ask));
}

async function askOne<T>(
  ctx: CommandContext,
  target: Target,
  ask: (api: AgentApi) => Promise<T>,
): Promise<TargetAnswer<T>> {
  let api: AgentApi | undefined;
  try {
    api = await ctx.connect({ target: target.name });
    return { target: target.name, ok: true, value: await ask(api) };
  } catch (e) {
    if (!isUserError(e)) throw e;
    return { target: target.name, ok: false, error: e };
  } finally {
    api?.close();
  }
}

/**
 * Several robots' answers as one result: a JSON array (an error entry for a
 * robot without an answer), a block of text per robot; exit 0 when all
 * answered, 6 when some did not, 1 when none did.
 */
export function answersResult<T>(
  answers: readonly TargetAnswer<T>[],
  json: (target: string, value: T) => unknown,
  text: (value: T) => string,
): CommandResult {
  const failed = answers.filter((a) => !a.ok).length;
  const exitCode =
    failed === 0 ? ExitCode.Ok : failed === answers.length ? ExitCode.Unchanged : ExitCode.Skipped;
  return {
    exitCode,
    json: answers.map((a) =>
      a.ok
        ? json(a.target, a.value)
        : {
            target: a.target,
            error: { message: a.error.message, exitCode: a.error.exitCode, ...a.error.data },
          },
    ),
    human: answers
      .map((a) => `== ${a.target} ==\n${a.ok ? text(a.value) : `error: ${a.error.message}`}`)
      .join("\n\n"),
  };
}
