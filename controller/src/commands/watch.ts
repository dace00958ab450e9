import { ActivationAction, type Deployment, DeploymentKind } from "@ros-rollback/proto";
import { defineCommand } from "../context/command.js";
import { parsePositionals } from "../core/args.js";
import { ExitCode } from "../core/errors.js";
import { renderJsonLine } from "../core/render.js";
import { actionName } from "../report/enum-names.js";
import { buildReport, reportText } from "../report/report.js";
import { eventJson, unitChangesJson } from "../report/views.js";
import { followDeployment } from "../rollout/follow/follow.js";
import {
  eventPrinter,
  FOLLOW_OPTIONS,
  type FollowArgs,
  followOptions,
  parseFollowArgs,
} from "../rollout/follow/follow-options.js";
import { TARGET_POSITIONAL, targetName } from "../targets/target-arg.js";

export interface WatchArgs {
  readonly target: string | undefined;
  readonly follow: FollowArgs;
}

const POSITIONALS = [TARGET_POSITIONAL] as const;

export const watchCommand = defineCommand<WatchArgs>({
  name: "watch",
  summary: "follow the current deployment live: states, health rounds, countdown to the confirm deadline",
  description: [
    "Read-only (never confirms): streams the deployment in progress from its latest state to its final",
    "state — each state, each health round whose verdict or failing checks change, and while the agent",
    "awaits confirmation a countdown to the deadline (a live line on a TTY, plain lines otherwise), and",
    "what the switch did to units (stopped, started, restarted, reloaded) once the agent reports it. With",
    "no deployment in progress it shows how the last one ended. Reconnects like deploy when the",
    "connection breaks. Exits with the code deploy would have for that deployment (0 kept, 2 rolled",
    "back, 3 unknown, ...); 0 with no deployment on record.",
    "--json prints JSON Lines on stdout (the one exception to one document): one",
    '{"type": "event", ...event} per event as it arrives, then one {"type": "result", ...} with',
    "deploy's report fields (without push and events).",
  ].join("\n"),
  positionals: POSITIONALS,
  options: { ...FOLLOW_OPTIONS },
  jsonOutput: "lines",
  examples: ["ros-rollback watch robot1 --inventory fleet.json", "ros-rollback watch robot1 --json | jq ."],
  parse(raw) {
    const [target] = parsePositionals(raw, POSITIONALS, "watch");
    return { target, follow: parseFollowArgs(raw, "watch") };
  },
  async run(args, ctx) {
    const target = targetName(args.target, ctx.global.target);
    const api = await ctx.connect({ target: args.target });
    const printer = eventPrinter(ctx, target, !ctx.global.json);
    try {
      const status = await api.getStatus(ctx.signal);
      const followed = await followDeployment(
        (s) => api.watch(s),
        followOptions(ctx, target, args.follow, {
          confirm: false,
          printer,
          targetOverride: args.target,
          onEvent: (e) => {
            printer.event(e);
            if (ctx.global.json) renderJsonLine(ctx.io, { type: "event", target, ...eventJson(e) });
          },
        }),
      );
      printer.close();
      const id = followed.events.find((e) => e.deploymentId !== "")?.deploymentId;
      if (id === undefined && followed.end.kind === "no-final" && followed.error === undefined) {
        const reason = "no deployment on record";
        return {
          exitCode: ExitCode.Ok,
          json: { type: "result", target, deploymentId: null, outcome: null, exitCode: ExitCode.Ok, reason },
          human: `${target}: ${reason}`,
        };
      }
      const d = [status.deployment, status.lastDeployment].find((x): x is Deployment => x?.id === id);
      const rollback = d?.kind === DeploymentKind.DEPLOYMENT_KIND_ROLLBACK;
      const action = d?.action ?? ActivationAction.ACTIVATION_ACTION_UNSPECIFIED;
      const {
        events: _events,
        push: _push,
        ...built
      } = buildReport({
        target,
        operation: rollback ? "rollback" : "activate",
        action,
        actionLabel: d === undefined || rollback ? null : actionName(action),
        storePath: d?.storePath ?? null,
        followed,
        generationBefore: d?.previousGeneration ?? 0,
        push: null,
        selfConfirm: d?.options?.selfConfirm ?? false,
      });
      // Events seen may predate the switch's report; the record read at the start may have it.
      const report = {
        ...built,
        unitChanges: built.unitChanges ?? unitChangesJson(d?.unitChanges),
        rollbackUnitChanges: built.rollbackUnitChanges ?? unitChangesJson(d?.rollbackUnitChanges),
      };
      return {
        exitCode: report.exitCode,
        json: { type: "result", ...report },
        human: reportText({ ...report, events: [], push: null }),
      };
    } finally {
      printer.close();
      api.close();
    }
  },
});
