import { type CommandContext, defineCommand } from "../context/command.js";
import { choice, expectPositionals, refuseOptions } from "../core/args.js";
import type { CommandResult } from "../core/command.js";
import { UsageError } from "../core/errors.js";
import { overrideWarning } from "../report/holds.js";
import { ProgressReporter } from "../report/progress.js";
import { reportResult } from "../report/report.js";
import type { Strategy } from "../report/strategy.js";
import { ACTIONS, type ActionName, DeploySource, type DeploySpec, deployJob } from "../rollout/deploy-job.js";
import { deployRollout } from "../rollout/fleet/deploy-rollout.js";
import { parseWaitOnline } from "../rollout/fleet/online.js";
import { FLEET_OPTIONS, parseStrategy } from "../rollout/fleet/options.js";
import { FOLLOW_OPTIONS, parseFollowArgs } from "../rollout/follow/follow-options.js";
import { makeTransfer } from "../rollout/make-transfer.js";
import { OVERRIDE_HOLD_OPTION, parseOverrideHolds } from "../rollout/override-holds.js";
import { deployPlan } from "../rollout/plan.js";
import { COMPRESSIONS, type CompressionName } from "../rollout/push-transfer.js";
import { runOnTarget } from "../rollout/run-on-target.js";
import { parseTransferArgs, TRANSFER_OPTIONS } from "../rollout/transfer-options.js";
import { parseWaitForRelease, releaseWindow, WAIT_FOR_RELEASE_OPTION } from "../rollout/wait-release.js";
import { FLAKE_INVENTORY_ATTR, type FlakeRef, parseFlakeRef } from "../targets/flake.js";
import { isSingle } from "../targets/selection.js";
import { parseReboot, REBOOT_OPTIONS } from "./deploy-reboot-args.js";

/** What only matters once something is activated (and robots are deployed in waves). */
const NOT_WITH_PLAN = [
  "confirm-timeout",
  "no-magic-rollback",
  "no-auto-rollback",
  "no-confirm",
  "health",
  "follow-timeout",
  "reconnect-grace",
  "reboot",
  "reboot-timeout",
  ...Object.keys(FLEET_OPTIONS).filter((k) => k !== "max-parallel"),
];

/** See the --compress help text for why. */
export const DEFAULT_COMPRESSION: CompressionName = "auto";

export interface DeployArgs extends DeploySpec {
  /** With several targets: how the rollout moves through them. */
  readonly strategy: Strategy;
  /** --plan: transfer and show the plan; nothing on the robot changes. */
  readonly plan: boolean;
  /** --wait-online: robots offline at their wave are deployed after the last wave if they come online within this. */
  readonly waitOnlineSeconds: number | undefined;
  /** The fleet options given (refused with one target, once the selection is known). */
  readonly fleetOptionsGiven: readonly string[];
}

export const deployCommand = defineCommand<DeployArgs>({
  name: "deploy",
  summary: "push a NixOS system closure to the robot, activate it, check health, confirm (or roll back)",
  description: [
    "Steps: compute the closure of <store-path> locally; ask the agent which paths it lacks; push only",
    "those (progress on stderr); activate with --action and follow the agent's deployment events until",
    "the final state. After the switch the agent judges the robot's health (settle time, then a stable",
    "window); once healthy it waits for a Confirm until a deadline (--confirm-timeout). The controller",
    "confirms only over a NEW connection (a new TLS handshake), proving that the network path and the",
    'agent survived the switch; when nobody confirms in time the agent rolls back by itself ("magic',
    'rollback"). When the robot is unreachable after the switch, the controller keeps reconnecting until',
    "the confirm deadline + --reconnect-grace, confirms if it still can, and reads the final state.",
    "The agent rolls back when activation or health fails (--no-auto-rollback: it leaves the system in",
    "place). Health rounds are printed when they change; the exit code says where the robot ended.",
    "boot: ends when the generation is the boot default (it is judged and must be confirmed after the",
    "next boot: `ros-rollback confirm`). --reboot (with boot, or a switch whose activation exits 100,",
    "reboot required): the agent reboots the robot itself and judges the new generation after the",
    "boot; the controller reattaches over new connections, follows health, confirms, and exits 0, or 2",
    "when the robot came back on the previous generation (the agent's reason: a failing check, not",
    "confirmed, or did not boot). Without --reboot such a switch ends REBOOT_REQUIRED (exit 4); a robot",
    "that counts boots judges it after the operator's reboot (confirm it then: `ros-rollback confirm`).",
    "A held robot (a mission, an operator's `hold`) refuses: exit 1 naming its holds, after the transfer;",
    "--wait-for-release waits for the holds to go, then deploys; --override-hold NAME goes ahead despite the",
    "hold NAME (the refusal names what to type; logged and counted on the robot). --plan stops after the plan.",
    "FLAKE#NAME (e.g. .#nixos-vm) first builds FLAKE#nixosConfigurations.NAME.config.system.build.toplevel",
    "with `nix build --no-link --print-out-paths` (Nix 2.8 or later); without --inventory the targets",
    `come from the flake's ${FLAKE_INVENTORY_ATTR} (\`nix eval --json\`).`,
  ].join("\n"),
  positionals: [
    {
      name: "store-path",
      description:
        "the system's toplevel in the local Nix store (a ./result symlink is resolved),\n" +
        "or FLAKE#NAME: a NixOS configuration of a flake, built first",
    },
  ],
  options: {
    action: {
      type: "string",
      valueName: "ACTION",
      description: "switch | boot | test | dry-activate (default: switch)",
    },
    compress: {
      type: "string",
      valueName: "ALGO",
      description: [
        `auto | none | zstd | gzip (default: ${DEFAULT_COMPRESSION}). auto: none if the first MiB of`,
        "NAR does not compress below 80 % (random data, media, compressed files); else zstd,",
        "while it watches the link: past the first 16 MiB compressed, if over the next 16 MiB",
        "the link waited on zstd at least twice as long as zstd waited on the link, the rest",
        "goes uncompressed from the next path on (a fast link). The choice is logged.",
        "Use none or gzip when the agent lacks zstd; gzip needs no zstd at all.",
      ].join("\n"),
    },
    "sign-key": {
      type: "string",
      valueName: "FILE",
      description:
        "sign the pushed paths with this Nix secret key (name:base64) first, so the\n" +
        "agent accepts your own unsigned builds (it must trust the matching public key)",
    },
    ...TRANSFER_OPTIONS,
    "confirm-timeout": {
      type: "string",
      valueName: "SECONDS",
      description: "how long the agent waits for our Confirm once healthy (default: the agent's, 30)",
    },
    ...REBOOT_OPTIONS,
    "no-magic-rollback": {
      type: "boolean",
      description: "keep the new generation even when it is not confirmed in time",
    },
    "no-auto-rollback": {
      type: "boolean",
      description: "do not roll back a failed activation or failed health check: leave it in place (exit 3)",
    },
    "no-confirm": {
      type: "boolean",
      description: "the agent confirms by itself once healthy; the controller sends no Confirm",
    },
    health: {
      type: "string",
      valueName: "FILE",
      description:
        "per-deployment health changes as JSON: drop checks, add allowed kinds, tighten thresholds;\n" +
        "a field left out keeps the robot's configured value. For example:\n" +
        '{"topics": [{"name": "/chatter", "minRateHz": 5}]}\n' +
        '{"drop": ["unit:listener.service"], "topics": [{"name": "/chatter", "maxSilenceSeconds": 2}]}',
    },
    plan: {
      type: "boolean",
      description: [
        "stop after the plan: transfer the missing paths (as without --plan), then show what the switch",
        "would change, as `ros-rollback plan` does (units, packages; --json likewise) and exit 0 (1 when",
        "dry-activate fails). Nothing on the robot changes. Several targets: each robot is planned",
        "(--max-parallel at once) and printed; exit 6 when some could not be planned, 1 when none could.",
      ].join("\n"),
    },
    ...WAIT_FOR_RELEASE_OPTION,
    ...OVERRIDE_HOLD_OPTION,
    ...FOLLOW_OPTIONS,
    ...FLEET_OPTIONS,
  },
  multiTarget: true,
  examples: [
    "ros-rollback deploy ./result --inventory fleet.json --target robot1",
    "ros-rollback deploy .#nixos-vm-header --target vm --sign-key signing.sec",
    "ros-rollback deploy /nix/store/…-nixos-system-robot1 --target robot1 --action test --json",
    "ros-rollback deploy ./result --target robot1 --confirm-timeout 120 --health health.json",
    "ros-rollback deploy ./result --target robot1 --wait-for-release 1800",
    "ros-rollback deploy ./result --target robot1 --override-hold topic:/mission_state",
    "ros-rollback deploy ./result --select site=lab --plan",
    "ros-rollback deploy ./result --select site=lab --canary 1 --batch 25% --max-failures 1 --rollback-on-abort",
    "ros-rollback deploy ./result --select site=field --wait-online 3600",
  ],
  parse(raw) {
    const [storePath = ""] = expectPositionals(raw, ["store-path"], "deploy");
    if (storePath === "") throw new UsageError("<store-path> must not be empty", "deploy");
    parseFlakeRef(storePath); // FLAKE#NAME must have both parts

    const signKey = raw.values["sign-key"];
    const { transfer, uploadTo } = parseTransferArgs(raw, "deploy");
    const health = raw.values.health;
    if (health === "") throw new UsageError("--health: expected a file", "deploy");
    const plan = raw.values.plan === true;
    const waitForReleaseSeconds = parseWaitForRelease(raw, "deploy");
    if (plan && waitForReleaseSeconds !== undefined) {
      throw new UsageError("--plan changes nothing on the robot: it never waits for release", "deploy");
    }
    const overrideHolds = parseOverrideHolds(raw, "deploy");
    if (plan && overrideHolds.length > 0) {
      throw new UsageError("--plan changes nothing on the robot: holds do not stop it", "deploy");
    }
    if (plan && raw.values.action !== undefined && raw.values.action !== "switch") {
      throw new UsageError("--plan shows what a switch would change; leave out --action", "deploy");
    }
    if (plan) refuseOptions(raw, NOT_WITH_PLAN, "--plan activates nothing: it would do nothing", "deploy");
    const action = choice(raw, "action", Object.keys(ACTIONS) as ActionName[], "switch", "deploy");
    const reboot = parseReboot(raw, action);
    const follow = parseFollowArgs(raw, "deploy");
    return {
      storePath,
      action,
      reboot: reboot !== undefined,
      compression: choice(
        raw,
        "compress",
        Object.keys(COMPRESSIONS) as CompressionName[],
        DEFAULT_COMPRESSION,
        "deploy",
      ),
      signKey: typeof signKey === "string" ? signKey : undefined,
      transfer,
      uploadTo,
      // The stream breaks at the reboot: follow across it for the reboot timeout (or longer, if asked).
      follow:
        reboot === undefined
          ? follow
          : { ...follow, followTimeoutMs: Math.max(follow.followTimeoutMs, reboot) },
      confirmTimeoutSeconds: parseConfirmTimeout(raw.values["confirm-timeout"]),
      magicRollback: raw.values["no-magic-rollback"] !== true,
      autoRollback: raw.values["no-auto-rollback"] !== true,
      selfConfirm: raw.values["no-confirm"] === true,
      healthFile: typeof health === "string" ? health : undefined,
      waitForReleaseSeconds,
      overrideHolds,
      strategy: parseStrategy(raw, "deploy"),
      waitOnlineSeconds: parseWaitOnline(raw, "deploy"),
      plan,
      fleetOptionsGiven: Object.keys(FLEET_OPTIONS).filter((k) => raw.values[k] !== undefined),
    };
  },
  run: deploy,
});

async function deploy(args: DeployArgs, context: CommandContext): Promise<CommandResult> {
  const flake = parseFlakeRef(args.storePath);
  const ctx = flake === undefined ? context : withFlakeInventory(context, flake);
  // The selection is known only now; nothing has been contacted or built yet.
  const fleetOption = args.fleetOptionsGiven[0];
  if (fleetOption !== undefined && isSingle(ctx.selection)) {
    throw new UsageError(
      `--${fleetOption}: only with several targets (--target repeated, --select, --all)`,
      "deploy",
    );
  }
  if (args.plan) return deployPlan(ctx, args, args.strategy);
  const warning = overrideWarning(args.overrideHolds);
  if (warning !== undefined) ctx.log(warning);
  if (!isSingle(ctx.selection)) return deployRollout(ctx, args, args.strategy, args.waitOnlineSeconds);
  const transfer = makeTransfer(
    ctx,
    args,
    () =>
      new ProgressReporter(ctx.io.stderr, {
        tty: ctx.io.stderr.isTTY,
        columns: ctx.io.stderr.columns,
        now: ctx.io.now,
      }),
  );
  // Ends the closure's early `nix` child when the deploy ends without it (connect or status failed).
  const early = new AbortController();
  const job = deployJob(
    ctx,
    args,
    new DeploySource(args, ctx),
    transfer,
    releaseWindow(args.waitForReleaseSeconds),
    early.signal,
  );
  try {
    return reportResult(await runOnTarget(ctx, undefined, job));
  } finally {
    early.abort();
  }
}

/** Without --inventory (or $ROS_ROLLBACK_INVENTORY), `deploy FLAKE#NAME` finds its target in FLAKE#rosRollback.nodes. */
function withFlakeInventory(ctx: CommandContext, flake: FlakeRef): CommandContext {
  if (ctx.global.inventory !== undefined) return ctx;
  const inventory = `${flake.flake}#${FLAKE_INVENTORY_ATTR}`;
  return {
    ...ctx,
    connect: (overrides = {}) => ctx.connect({ inventory, ...overrides }),
    selectTargets: (overrides = {}) => ctx.selectTargets({ inventory, ...overrides }),
  };
}

function parseConfirmTimeout(v: string | boolean | undefined): number | undefined {
  if (typeof v !== "string") return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < 1 || n > 0xffffffff) {
    throw new UsageError(
      `--confirm-timeout: expected whole seconds (1 or more), got "${v.slice(0, 40)}"`,
      "deploy",
    );
  }
  return n;
}
