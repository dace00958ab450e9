import { resolve } from "node:path";
import { type CommandContext, defineCommand } from "../context/command.js";
import { choice, expectPositionals } from "../core/args.js";
import type { CommandResult } from "../core/command.js";
import { UsageError } from "../core/errors.js";
import { ProgressReporter } from "../report/progress.js";
import { DeploySource, type DeploySpec, deployJob } from "../rollout/deploy-job.js";
import { planOnTarget, planResult } from "../rollout/plan.js";
import { COMPRESSIONS, type CompressionName, PushTransfer } from "../rollout/push-transfer.js";
import { parseFlakeRef } from "../targets/flake.js";

interface PlanArgs {
  readonly storePath: string;
  readonly compression: CompressionName;
  readonly signKey: string | undefined;
}

export const planCommand = defineCommand<PlanArgs>({
  name: "plan",
  summary: "show what a deploy would change on the robot (units, packages), changing nothing",
  description: [
    "Pushes the missing paths (they stay unused in the robot's store), then asks the agent to run",
    "`switch-to-configuration dry-activate`: which units would be stopped, started, restarted, reloaded",
    "and which services stay untouched, and the closure diff between the running system and the new",
    "one (packages added, removed, changed with versions, and the size delta). The profile is not",
    "set and no unit moves. Exit 0 when dry-activate succeeded, 1 otherwise.",
    '--json: {"target", "currentSystem", "storePath", "units": {"stopped", "started", "restarted", "reloaded"},',
    '"unchanged", "closure": {"added", "removed", "changed": [{"name", "oldVersions", "newVersions",',
    '"sizeDeltaBytes"}], "oldSizeBytes", "newSizeBytes", "sizeDeltaBytes"}, "exitCode", "output"}.',
  ].join("\n"),
  positionals: [
    { name: "store-path", description: "a system store path, ./result, or FLAKE#NAME (built first)" },
  ],
  options: {
    compress: {
      type: "string",
      valueName: "ALGO",
      description: "none | zstd | gzip (default zstd), as for deploy",
    },
    "sign-key": {
      type: "string",
      valueName: "FILE",
      description: "sign the pushed paths with this Nix secret key first",
    },
  },
  examples: [
    "ros-rollback plan ./result --target robot1",
    "ros-rollback plan .#robot1 --target robot1 --json",
  ],
  parse(raw) {
    const [storePath = ""] = expectPositionals(raw, ["store-path"], "plan");
    if (storePath === "") throw new UsageError("<store-path> must not be empty", "plan");
    parseFlakeRef(storePath);
    const signKey = raw.values["sign-key"];
    return {
      storePath,
      compression: choice(raw, "compress", Object.keys(COMPRESSIONS) as CompressionName[], "zstd", "plan"),
      signKey: typeof signKey === "string" ? signKey : undefined,
    };
  },
  run: plan,
});

async function plan(args: PlanArgs, ctx: CommandContext): Promise<CommandResult> {
  const spec: DeploySpec = {
    storePath: args.storePath,
    action: "dry-activate",
    compression: args.compression,
    signKey: args.signKey,
    // A plan pushes what is missing itself (no cache round trip for a look).
    transfer: "push",
    overrideHolds: [],
    reboot: false,
    uploadTo: undefined,
    follow: { followTimeoutMs: 0, reconnectGraceMs: 0 },
    confirmTimeoutSeconds: undefined,
    magicRollback: true,
    autoRollback: true,
    selfConfirm: false,
    healthFile: undefined,
    waitForReleaseSeconds: undefined,
  };
  const transfer = new PushTransfer({
    closure: ctx.deps.closure,
    compression: args.compression,
    signKeyFile: args.signKey === undefined ? undefined : resolve(ctx.io.cwd, args.signKey),
    log: ctx.log,
    now: ctx.io.now,
    progress: () =>
      new ProgressReporter(ctx.io.stderr, {
        tty: ctx.io.stderr.isTTY,
        columns: ctx.io.stderr.columns,
        now: ctx.io.now,
      }),
  });
  // The deploy's prepare phase (build, closure, push): nothing on the robot changes there.
  const job = deployJob(ctx, spec, new DeploySource(spec, ctx), transfer);
  return planResult(await planOnTarget(ctx, undefined, job));
}
