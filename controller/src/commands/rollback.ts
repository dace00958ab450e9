import { defineCommand } from "../context/command.js";
import { expectPositionals } from "../core/args.js";
import type { CommandResult } from "../core/command.js";
import { UsageError } from "../core/errors.js";
import { overrideWarning } from "../report/holds.js";
import { reportResult } from "../report/report.js";
import { rollbackRollout } from "../rollout/fleet/deploy-rollout.js";
import { FOLLOW_OPTIONS, parseFollowArgs } from "../rollout/follow/follow-options.js";
import { OVERRIDE_HOLD_OPTION, parseOverrideHolds } from "../rollout/override-holds.js";
import { type RollbackSpec, rollbackJob } from "../rollout/rollback-job.js";
import { runOnTarget } from "../rollout/run-on-target.js";
import { isSingle } from "../targets/selection.js";

export type RollbackArgs = RollbackSpec;

export const rollbackCommand = defineCommand<RollbackArgs>({
  name: "rollback",
  summary: "go back to the recorded previous generation (or --to N) and follow it",
  description: [
    "Asks the agent to switch the robot to the generation recorded as previous by the last deployment",
    "(an exact generation, not `nix-env --rollback`'s relative step), or to generation N.",
    "Exit 0 when the robot is on that generation; the JSON report has the same shape as deploy's.",
    "If the agent judges the rolled-back system's health and waits for a Confirm, it is confirmed over",
    "a new connection, as for deploy. A held robot refuses (exit 1, naming its holds); --override-hold NAME",
    "goes ahead despite the hold NAME (logged and counted on the robot).",
  ].join("\n"),
  positionals: [],
  options: {
    to: { type: "string", valueName: "N", description: "generation number to return to (see `generations`)" },
    ...OVERRIDE_HOLD_OPTION,
    ...FOLLOW_OPTIONS,
  },
  examples: [
    "ros-rollback rollback --target robot1",
    "ros-rollback rollback --target robot1 --to 41 --json",
    "ros-rollback rollback --target robot1 --override-hold unit:mission.service",
  ],
  parse(raw) {
    expectPositionals(raw, [], "rollback");
    const to = raw.values.to;
    const follow = parseFollowArgs(raw, "rollback");
    const overrideHolds = parseOverrideHolds(raw, "rollback");
    if (typeof to !== "string") return { to: undefined, follow, overrideHolds };
    const n = Number(to);
    if (!/^\d+$/.test(to) || !Number.isSafeInteger(n) || n < 1 || n > 0xffffffff) {
      throw new UsageError(
        `--to: expected a generation number (1 or more), got "${to.slice(0, 40)}"`,
        "rollback",
      );
    }
    return { to: n, follow, overrideHolds };
  },
  multiTarget: true,
  async run(args, ctx): Promise<CommandResult> {
    const warning = overrideWarning(args.overrideHolds);
    if (warning !== undefined) ctx.log(warning);
    if (!isSingle(ctx.selection)) return rollbackRollout(ctx, args);
    return reportResult(await runOnTarget(ctx, undefined, rollbackJob(ctx, args)));
  },
});
