import { DeploymentState } from "@ros-rollback/proto";
import { defineCommand } from "../context/command.js";
import { parsePositionals } from "../core/args.js";
import { ExitCode, UserError } from "../core/errors.js";
import { stateName } from "../report/enum-names.js";
import { clockTime, deploymentJson } from "../report/views.js";
import { TARGET_POSITIONAL, targetName } from "../targets/target-arg.js";

export interface ConfirmArgs {
  readonly target: string | undefined;
  /** undefined = the deployment that awaits confirmation now. */
  readonly id: string | undefined;
}

const POSITIONALS = [
  TARGET_POSITIONAL,
  {
    name: "ID",
    description:
      "deployment to confirm (default: the one awaiting confirmation now, from the agent's status)",
    optional: true,
  },
] as const;

export const confirmCommand = defineCommand<ConfirmArgs>({
  name: "confirm",
  summary:
    "confirm a deployment that awaits confirmation, so the agent keeps it (by hand, e.g. after a boot)",
  description: [
    "Sends Confirm over a new connection. Needed after `deploy --action boot` (the agent judges the new",
    "generation after the next boot and rolls it back unless confirmed before its deadline), or when a",
    "deploy could not confirm. Exit 0: confirmed (the agent keeps it; confirming a deployment that",
    "already SUCCEEDED is fine). Exit 1: nothing awaits confirmation, unknown ID (NOT_FOUND), or the",
    "deployment is in another state (FAILED_PRECONDITION names it, e.g. already rolled back).",
  ].join("\n"),
  positionals: POSITIONALS,
  options: {},
  examples: [
    "ros-rollback confirm robot1 --inventory fleet.json",
    "ros-rollback confirm robot1 d-20260102-1",
  ],
  parse(raw) {
    const [target, id] = parsePositionals(raw, POSITIONALS, "confirm");
    return { target, id };
  },
  async run(args, ctx) {
    const target = targetName(args.target, ctx.global.target);
    const api = await ctx.connect({ target: args.target });
    try {
      let id = args.id;
      if (id === undefined) {
        const status = await api.getStatus(ctx.signal);
        const d = status.deployment;
        if (d === undefined || d.state !== DeploymentState.DEPLOYMENT_STATE_AWAITING_CONFIRMATION) {
          const now =
            d !== undefined
              ? `deployment ${d.id} is ${stateName(d.state)}`
              : status.lastDeployment !== undefined
                ? `none is in progress; the last one, ${status.lastDeployment.id}, ended ${stateName(status.lastDeployment.state)}`
                : "no deployment on record";
          throw new UserError(`${target}: no deployment awaits confirmation (${now})`, {
            data: { target, deploymentId: d?.id ?? status.lastDeployment?.id ?? null },
          });
        }
        id = d.id;
        ctx.log(`${target}: ${id} awaits confirmation until ${clockTime(d.confirmDeadlineUnixMs)}`);
      }
      const res = await api.confirm(id, ctx.signal);
      const deployment = res.deployment === undefined ? null : deploymentJson(res.deployment);
      const gen = deployment?.generation;
      return {
        exitCode: ExitCode.Ok,
        json: { target, deploymentId: id, confirmed: true, deployment },
        human: `${target}: confirmed ${id}${deployment === null ? "" : ` (${deployment.state}${gen === null || gen === undefined ? "" : `, generation ${gen}`})`}; the agent keeps it`,
      };
    } finally {
      api.close();
    }
  },
});
