import { ActivationAction } from "@ros-rollback/proto";
import type { AgentApi } from "../agent-api.js";
import { expectPositionals } from "../core/args.js";
import { type CommandResult, defineCommand } from "../core/command.js";
import { UsageError } from "../core/errors.js";
import { followDeployment } from "../follow.js";
import { buildReport, errorBeforeChange, reportResult, unchangedReport } from "../report.js";
import {
  eventPrinter,
  FOLLOW_OPTIONS,
  type FollowArgs,
  followOptions,
  parseFollowArgs,
} from "./follow-options.js";

export interface RollbackArgs {
  /** Generation to return to; undefined = the agent's recorded previous generation. */
  readonly to: number | undefined;
  readonly follow: FollowArgs;
}

export const rollbackCommand = defineCommand<RollbackArgs>({
  name: "rollback",
  summary: "go back to the recorded previous generation (or --to N) and follow it",
  description: [
    "Asks the agent to switch the robot to the generation recorded as previous by the last deployment",
    "(an exact generation, not `nix-env --rollback`'s relative step), or to generation N.",
    "Exit 0 when the robot is on that generation; the JSON report has the same shape as deploy's.",
    "If the agent judges the rolled-back system's health and waits for a Confirm, it is confirmed over",
    "a new connection, as for deploy.",
  ].join("\n"),
  positionals: [],
  options: {
    to: { type: "string", valueName: "N", description: "generation number to return to (see `generations`)" },
    ...FOLLOW_OPTIONS,
  },
  examples: ["ros-rollback rollback --target robot1", "ros-rollback rollback --target robot1 --to 41 --json"],
  parse(raw) {
    expectPositionals(raw, [], "rollback");
    const to = raw.values.to;
    const follow = parseFollowArgs(raw, "rollback");
    if (typeof to !== "string") return { to: undefined, follow };
    const n = Number(to);
    if (!/^\d+$/.test(to) || !Number.isSafeInteger(n) || n < 1 || n > 0xffffffff) {
      throw new UsageError(`--to: expected a generation number (1 or more), got "${to}"`, "rollback");
    }
    return { to: n, follow };
  },
  async run(args, ctx): Promise<CommandResult> {
    const { signal } = ctx;
    const targetName = ctx.global.target ?? "?";
    const label = args.to === undefined ? "previous" : `generation ${args.to}`;
    let generationBefore = 0;
    let api: AgentApi | undefined;
    try {
      try {
        api = await ctx.connect();
        generationBefore = (await api.getStatus(signal)).currentGeneration;
        ctx.log(`${targetName}: on generation ${generationBefore}; rolling back to ${label}`);
        signal.throwIfAborted();
      } catch (e) {
        const error = errorBeforeChange(
          e,
          signal,
          `interrupted before the rollback started; nothing was changed on ${targetName}`,
        );
        ctx.log(`error: ${error.message}`);
        return reportResult(
          unchangedReport({
            target: targetName,
            operation: "rollback",
            actionLabel: null,
            storePath: null,
            error,
            generationBefore,
            push: null,
          }),
        );
      }
      const rollingBack = api;
      const printer = eventPrinter(ctx, targetName);
      const followed = await followDeployment(
        (s) => rollingBack.rollback(args.to === undefined ? {} : { generation: args.to }, s),
        followOptions(ctx, targetName, args.follow, { confirm: true, printer }),
      );
      printer.close();
      const report = buildReport({
        target: targetName,
        operation: "rollback",
        action: ActivationAction.ACTIVATION_ACTION_UNSPECIFIED,
        actionLabel: null,
        storePath: null,
        followed,
        generationBefore,
        push: null,
        selfConfirm: false,
      });
      // The gRPC error as the one line users know; the robot's state is in the result.
      if (report.exitCode !== 0) ctx.log(`error: ${followed.error?.message ?? report.reason}`);
      return reportResult(report);
    } finally {
      api?.close();
    }
  },
});
