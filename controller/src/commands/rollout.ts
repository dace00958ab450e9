import { defineCommand } from "../context/command.js";
import { choice, expectPositionals, refuseOptions } from "../core/args.js";
import type { CommandResult, OptionSpec } from "../core/command.js";
import { ExitCode, UsageError } from "../core/errors.js";
import { actionName, stateName } from "../report/enum-names.js";
import { holdsLine, overrideWarning } from "../report/holds.js";
import { strategyJson } from "../report/strategy.js";
import { parseWaitOnline, WAIT_ONLINE_OPTION } from "../rollout/fleet/online.js";
import { type RebuiltRollout, rebuildRollout } from "../rollout/fleet/rebuild.js";
import { type ResumeArgs, resumeRollout } from "../rollout/fleet/resume.js";
import { ROLLOUT_ID } from "../rollout/fleet/strategy.js";
import { FOLLOW_OPTIONS, parseFollowArgs } from "../rollout/follow/follow-options.js";
import { OVERRIDE_HOLD_OPTION, parseOverrideHolds } from "../rollout/override-holds.js";
import { COMPRESSIONS, type CompressionName } from "../rollout/push-transfer.js";
import { parseTransferArgs, TRANSFER_OPTIONS } from "../rollout/transfer-options.js";
import { parseWaitForRelease, WAIT_FOR_RELEASE_OPTION } from "../rollout/wait-release.js";
import { DEFAULT_COMPRESSION } from "./deploy.js";

interface RolloutArgs extends ResumeArgs {
  readonly verb: "status" | "resume";
  readonly id: string;
}

/** Every option of `rollout` is resume's: `rollout status` refuses them. */
const RESUME_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  compress: {
    type: "string",
    valueName: "ALGO",
    description: `resume: none | zstd | gzip (default ${DEFAULT_COMPRESSION})`,
  },
  "sign-key": {
    type: "string",
    valueName: "FILE",
    description: "resume: sign the pushed paths (see deploy)",
  },
  health: { type: "string", valueName: "FILE", description: "resume: the deploy's --health file, again" },
  ...TRANSFER_OPTIONS,
  ...WAIT_FOR_RELEASE_OPTION,
  ...WAIT_ONLINE_OPTION,
  ...OVERRIDE_HOLD_OPTION,
  ...FOLLOW_OPTIONS,
};

export const rolloutCommand = defineCommand<RolloutArgs>({
  name: "rollout",
  summary: "a fleet rollout as its robots record it: `rollout status ID`, `rollout resume ID`",
  description: [
    "Every robot of a rollout (deploy with several targets) records the rollout's id and strategy in its",
    "deployment's label. Both verbs rebuild the rollout by asking the selected robots (default: every",
    "target in the inventory) — no controller-side state, so any machine with the inventory can do it.",
    "status: read-only; each robot's wave and state (pending, held: not deployed and held now, with its",
    "holds; running, succeeded, failed, uncertain, unreachable). resume: picks up a rollout whose",
    "controller was killed, or finishes one that skipped held robots: robots that finished keep their",
    "result (and count against --max-failures), running ones are followed and confirmed, the rest (held",
    "ones too, and robots that were offline) get the same system, options and label, with the same",
    "strategy; --transfer, --upload-to, --wait-for-release, --wait-online and --override-hold as for deploy",
    "(a resumed rollout respects every hold unless told again). A rollout whose robots all finished is",
    "said to be finished; nothing is deployed. The system's closure must be in the local Nix store; --health must be given again (the",
    "agent does not echo health changes).",
  ].join("\n"),
  positionals: [
    { name: "status|resume", description: "what to do" },
    { name: "ID", description: "the rollout id (r-YYYYMMDDHHMMSS-xxxxxx), as printed by deploy" },
  ],
  options: RESUME_OPTIONS,
  multiTarget: true,
  examples: [
    "ros-rollback rollout status r-20261129160102-a1b2c3 --inventory fleet.json",
    "ros-rollback rollout resume r-20261129160102-a1b2c3 --select site=lab --json",
    "ros-rollback rollout resume r-20261129160102-a1b2c3 --transfer substitute --upload-to file:///srv/cache",
    "ros-rollback rollout resume r-20261129160102-a1b2c3 --override-hold topic:/mission_state",
    "ros-rollback rollout resume r-20261129160102-a1b2c3 --wait-online 600",
  ],
  parse(raw) {
    const [verb = "", id = ""] = expectPositionals(raw, ["status|resume", "ID"], "rollout");
    if (verb !== "status" && verb !== "resume") {
      throw new UsageError(`expected status or resume, got "${verb.slice(0, 40)}"`, "rollout");
    }
    if (!ROLLOUT_ID.test(id)) {
      throw new UsageError(
        `expected a rollout id like r-20261129160102-a1b2c3, got "${id.slice(0, 40)}"`,
        "rollout",
      );
    }
    if (verb === "status") {
      refuseOptions(
        raw,
        Object.keys(RESUME_OPTIONS),
        "only `rollout resume` takes it (status only reads)",
        "rollout",
      );
    }
    const signKey = raw.values["sign-key"];
    const health = raw.values.health;
    return {
      verb,
      id,
      compression: choice(
        raw,
        "compress",
        Object.keys(COMPRESSIONS) as CompressionName[],
        DEFAULT_COMPRESSION,
        "rollout",
      ),
      signKey: typeof signKey === "string" ? signKey : undefined,
      healthFile: typeof health === "string" && health !== "" ? health : undefined,
      ...parseTransferArgs(raw, "rollout"),
      follow: parseFollowArgs(raw, "rollout"),
      waitForReleaseSeconds: parseWaitForRelease(raw, "rollout"),
      waitOnlineSeconds: parseWaitOnline(raw, "rollout"),
      overrideHolds: parseOverrideHolds(raw, "rollout"),
    };
  },
  async run(args, ctx) {
    const rollout = await rebuildRollout(ctx, args.id);
    if (args.verb === "status") return statusResult(rollout);
    const warning = overrideWarning(args.overrideHolds);
    if (warning !== undefined) ctx.log(warning);
    return resumeRollout(ctx, rollout, args);
  },
});

const pending = (target: string, wave: number | null) => ({
  target,
  wave,
  state: "pending",
  deploymentId: null,
  reason: "not reached by the rollout",
});

function statusResult(r: RebuiltRollout): CommandResult {
  const robots = r.targets.map((t) => {
    const s = r.robots.get(t.name);
    const wave = r.waves.get(t.name) ?? null;
    switch (s?.kind) {
      case "running":
        return {
          target: t.name,
          wave,
          state: "running",
          deploymentId: s.deployment.id,
          reason: stateName(s.deployment.state),
        };
      case "finished":
        return {
          target: t.name,
          wave,
          state: s.result.outcome,
          deploymentId: s.deployment.id,
          reason: s.result.reason,
        };
      case "unreachable":
        return { target: t.name, wave, state: "unreachable", deploymentId: null, reason: s.reason };
      case "pending":
        if (s.holds.length > 0) {
          // Not reached, or skipped because held: resume deploys it.
          return { target: t.name, wave, state: "held", deploymentId: null, reason: holdsLine(s.holds) };
        }
        return pending(t.name, wave);
      default:
        return pending(t.name, wave);
    }
  });
  const unreachable = robots.filter((x) => x.state === "unreachable").length;
  const width = Math.max(6, ...robots.map((x) => x.target.length));
  return {
    exitCode: unreachable === 0 ? ExitCode.Ok : ExitCode.Skipped,
    json: {
      rolloutId: r.id,
      strategy: strategyJson(r.strategy),
      storePath: r.storePath,
      action: actionName(r.action),
      robots,
    },
    human: [
      `rollout ${r.id}: ${actionName(r.action)} ${r.storePath}`,
      ...robots.map(
        (x) => `${x.target.padEnd(width)}  wave ${x.wave ?? "-"}  ${x.state.padEnd(11)}  ${x.reason}`,
      ),
    ].join("\n"),
  };
}
