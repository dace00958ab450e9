import { readFile, realpath } from "node:fs/promises";
import { isAbsolute, resolve } from "node:path";
import { ActivationAction, Compression, type DeploymentOptions, type PathInfo } from "@ros-rollback/proto";
import { type AgentApi, AgentCallError } from "../agent-api.js";
import { choice, expectPositionals } from "../core/args.js";
import { type CommandContext, type CommandResult, defineCommand } from "../core/command.js";
import { UsageError, UserError } from "../core/errors.js";
import { buildToplevel, FLAKE_INVENTORY_ATTR, type FlakeRef, parseFlakeRef } from "../flake.js";
import { followDeployment } from "../follow.js";
import { describeFsError } from "../inventory.js";
import { formatBytes, formatDuration, ProgressReporter } from "../progress.js";
import {
  buildReport,
  errorBeforeChange,
  type PushSummary,
  reportResult,
  unchangedReport,
} from "../report.js";
import {
  eventPrinter,
  FOLLOW_OPTIONS,
  type FollowArgs,
  followOptions,
  parseFollowArgs,
} from "./follow-options.js";

const ACTIONS = {
  switch: ActivationAction.ACTIVATION_ACTION_SWITCH,
  boot: ActivationAction.ACTIVATION_ACTION_BOOT,
  test: ActivationAction.ACTIVATION_ACTION_TEST,
  "dry-activate": ActivationAction.ACTIVATION_ACTION_DRY_ACTIVATE,
} as const;
type ActionName = keyof typeof ACTIONS;

const COMPRESSIONS = {
  none: Compression.COMPRESSION_NONE,
  zstd: Compression.COMPRESSION_ZSTD,
  gzip: Compression.COMPRESSION_GZIP,
} as const;
type CompressionName = keyof typeof COMPRESSIONS;

/** See the --compress help text for why. */
export const DEFAULT_COMPRESSION: CompressionName = "zstd";

export interface DeployArgs {
  readonly storePath: string;
  readonly action: ActionName;
  readonly compression: CompressionName;
  readonly signKey: string | undefined;
  readonly follow: FollowArgs;
  /** undefined = the agent's default (30 s). */
  readonly confirmTimeoutSeconds: number | undefined;
  readonly magicRollback: boolean;
  readonly autoRollback: boolean;
  /** --no-confirm: the agent confirms by itself once healthy. */
  readonly selfConfirm: boolean;
  /** --health FILE: per-deployment health changes (JSON). */
  readonly healthFile: string | undefined;
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
    "next boot: `ros-rollback confirm`).",
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
        `none | zstd | gzip (default: ${DEFAULT_COMPRESSION}). NARs shrink ~3-5x with zstd and it decompresses`,
        "faster than the link delivers even on small robot CPUs; robots mostly sit on Wi-Fi/LTE.",
        "Use none on a fast LAN or when the agent lacks the codec; gzip needs no zstd at all.",
      ].join("\n"),
    },
    "sign-key": {
      type: "string",
      valueName: "FILE",
      description:
        "sign the pushed paths with this Nix secret key (name:base64) first, so the\n" +
        "agent accepts your own unsigned builds (it must trust the matching public key)",
    },
    "confirm-timeout": {
      type: "string",
      valueName: "SECONDS",
      description: "how long the agent waits for our Confirm once healthy (default: the agent's, 30)",
    },
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
    ...FOLLOW_OPTIONS,
  },
  examples: [
    "ros-rollback deploy ./result --inventory fleet.json --target robot1",
    "ros-rollback deploy .#nixos-vm-header --target vm --sign-key signing.sec",
    "ros-rollback deploy /nix/store/…-nixos-system-robot1 --target robot1 --action test --json",
    "ros-rollback deploy ./result --target robot1 --confirm-timeout 120 --health health.json",
  ],
  parse(raw) {
    const [storePath = ""] = expectPositionals(raw, ["store-path"], "deploy");
    if (storePath === "") throw new UsageError("<store-path> must not be empty", "deploy");
    parseFlakeRef(storePath); // FLAKE#NAME must have both parts

    const signKey = raw.values["sign-key"];
    const health = raw.values.health;
    if (health === "") throw new UsageError("--health: expected a file", "deploy");
    return {
      storePath,
      action: choice(raw, "action", Object.keys(ACTIONS) as ActionName[], "switch", "deploy"),
      compression: choice(
        raw,
        "compress",
        Object.keys(COMPRESSIONS) as CompressionName[],
        DEFAULT_COMPRESSION,
        "deploy",
      ),
      signKey: typeof signKey === "string" ? signKey : undefined,
      follow: parseFollowArgs(raw, "deploy"),
      confirmTimeoutSeconds: parseConfirmTimeout(raw.values["confirm-timeout"]),
      magicRollback: raw.values["no-magic-rollback"] !== true,
      autoRollback: raw.values["no-auto-rollback"] !== true,
      selfConfirm: raw.values["no-confirm"] === true,
      healthFile: typeof health === "string" ? health : undefined,
    };
  },
  run: deploy,
});

async function deploy(args: DeployArgs, context: CommandContext): Promise<CommandResult> {
  const flake = parseFlakeRef(args.storePath);
  const ctx = flake === undefined ? context : withFlakeInventory(context, flake);
  const { signal } = ctx;
  const targetName = ctx.global.target ?? "?";
  let storePath = args.storePath;
  let generationBefore = 0;
  let push: PushSummary | null = null;
  let api: AgentApi | undefined;
  let options: DeploymentOptions | undefined;
  try {
    // ---- Nothing below changes the robot until Activate is called. ----
    try {
      if (flake !== undefined) {
        ctx.log(`building ${flake.flake}#${flake.attr}`);
        storePath = await buildToplevel(flake, {
          env: ctx.io.env,
          cwd: ctx.io.cwd,
          signal,
          log: (line) => ctx.log(`nix: ${line}`),
        });
        ctx.log(`built ${storePath}`);
      }
      options = await deploymentOptions(args, ctx.io.cwd);
      api = await ctx.connect();
      const before = await api.getStatus(signal);
      generationBefore = before.currentGeneration;
      ctx.log(
        `${targetName}: ${before.hostname || "?"} (agent ${before.agentVersion || "?"}) is on generation ${before.currentGeneration}`,
      );
      if (before.deployment !== undefined) {
        ctx.log(
          `${targetName}: warning: deployment ${before.deployment.id} is not finished; the agent may refuse`,
        );
      }
      storePath = await resolveStorePath(storePath, ctx.io.cwd);
      ctx.log(`computing the closure of ${storePath}`);
      const closure = await ctx.deps.closure.computeClosure(storePath, signal);
      const missing = new Set(
        await api.queryMissingPaths(
          closure.map((p) => p.storePath),
          signal,
        ),
      );
      let toPush: PathInfo[] = closure.filter((p) => missing.has(p.storePath));
      const bytesMissing = toPush.reduce((sum, p) => sum + p.narSize, 0);
      ctx.log(
        `${targetName}: ${toPush.length} of ${closure.length} paths missing (${formatBytes(bytesMissing)} uncompressed)`,
      );
      push = emptyPush(args, closure.length, toPush.length, bytesMissing);
      if (toPush.length > 0) {
        if (args.signKey !== undefined) {
          toPush = await ctx.deps.closure.signPaths(toPush, resolve(ctx.io.cwd, args.signKey), signal);
          push = { ...push, signed: true };
        }
        push = await pushPaths(api, toPush, args, push, ctx);
      }
      signal.throwIfAborted();
    } catch (e) {
      const error = errorBeforeChange(
        e,
        signal,
        `interrupted before activation; nothing was changed on ${targetName} (paths already pushed stay in its store, unused)`,
      );
      ctx.log(`error: ${error.message}`);
      return reportResult(
        unchangedReport({
          target: targetName,
          operation: "activate",
          actionLabel: args.action,
          storePath,
          error,
          generationBefore,
          push,
        }),
      );
    }

    // ---- From here on the robot may change: every ending is an outcome. ----
    const action = ACTIONS[args.action];
    ctx.log(`${targetName}: activating (${args.action}) ${storePath}`);
    const activating = api;
    const printer = eventPrinter(ctx, targetName);
    const followed = await followDeployment(
      (s) => activating.activate({ storePath, action, options }, s),
      followOptions(ctx, targetName, args.follow, { confirm: !args.selfConfirm, printer }),
    );
    printer.close();
    const report = buildReport({
      target: targetName,
      operation: "activate",
      action,
      actionLabel: args.action,
      storePath,
      followed,
      generationBefore,
      push,
      selfConfirm: args.selfConfirm,
    });
    // The gRPC error as the one line users know; the robot's state is in the result.
    if (report.exitCode !== 0) ctx.log(`error: ${followed.error?.message ?? report.reason}`);
    return reportResult(report);
  } finally {
    api?.close();
  }
}

/** Without --inventory (or $ROS_ROLLBACK_INVENTORY), `deploy FLAKE#NAME` finds its target in FLAKE#rosRollback.nodes. */
function withFlakeInventory(ctx: CommandContext, flake: FlakeRef): CommandContext {
  if (ctx.global.inventory !== undefined) return ctx;
  const inventory = `${flake.flake}#${FLAKE_INVENTORY_ATTR}`;
  return { ...ctx, connect: (overrides = {}) => ctx.connect({ inventory, ...overrides }) };
}

function parseConfirmTimeout(v: string | boolean | undefined): number | undefined {
  if (typeof v !== "string") return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < 1 || n > 0xffffffff) {
    throw new UsageError(`--confirm-timeout: expected whole seconds (1 or more), got "${v}"`, "deploy");
  }
  return n;
}

/** What the deploy asks of the agent beyond the action; flags not given stay unset (the agent's defaults). */
async function deploymentOptions(args: DeployArgs, cwd: string): Promise<DeploymentOptions> {
  return {
    confirmTimeoutSeconds: args.confirmTimeoutSeconds,
    magicRollback: args.magicRollback ? undefined : false,
    autoRollback: args.autoRollback ? undefined : false,
    selfConfirm: args.selfConfirm,
    healthJson: args.healthFile === undefined ? "" : await readHealthFile(resolve(cwd, args.healthFile)),
  };
}

/** The --health file as compact JSON; the agent checks its shape (INVALID_ARGUMENT names every problem). */
async function readHealthFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new UserError(`--health ${path}: ${describeFsError(e)}`, { cause: e });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new UserError(`--health ${path}: not JSON: ${(e as Error).message}`, { cause: e });
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new UserError(`--health ${path}: expected a JSON object`);
  }
  return JSON.stringify(parsed);
}

function emptyPush(
  args: DeployArgs,
  pathsTotal: number,
  pathsMissing: number,
  bytesMissing: number,
): PushSummary {
  return {
    compression: args.compression,
    pathsTotal,
    pathsMissing,
    bytesMissing,
    pathsImported: 0,
    pathsSkipped: 0,
    narBytes: 0,
    wireBytes: 0,
    signed: false,
    seconds: 0,
  };
}

async function pushPaths(
  api: AgentApi,
  infos: PathInfo[],
  args: DeployArgs,
  summary: PushSummary,
  ctx: CommandContext,
): Promise<PushSummary> {
  const { io, signal } = ctx;
  const progress = new ProgressReporter(io.stderr, {
    tty: io.stderr.isTTY,
    columns: io.stderr.columns,
    now: io.now,
  });
  const started = io.now();
  let wireBytes: number | null = null;
  let response: Awaited<ReturnType<AgentApi["pushPaths"]>>;
  try {
    response = await api.pushPaths(
      ctx.deps.closure.pushRequests(
        infos,
        {
          compression: COMPRESSIONS[args.compression],
          onProgress: (p) => {
            wireBytes = p.wireBytesSent ?? null;
            progress.update(p);
          },
        },
        signal,
      ),
      signal,
    );
    progress.finish();
  } catch (e) {
    progress.interrupt();
    if (e instanceof AgentCallError && e.agentCode === "UNTRUSTED" && args.signKey === undefined) {
      throw e.withHint("sign them with --sign-key FILE, whose public key the agent trusts");
    }
    throw e;
  }
  const seconds = (io.now() - started) / 1000;
  ctx.log(
    `${api.target.name}: pushed ${response.imported.length} paths (${formatBytes(response.narBytes)}${wireBytes === null || wireBytes === response.narBytes ? "" : `, ${formatBytes(wireBytes)} on the wire`}) in ${formatDuration(seconds)}` +
      (response.skipped.length > 0 ? `, ${response.skipped.length} were already there` : ""),
  );
  return {
    ...summary,
    pathsImported: response.imported.length,
    pathsSkipped: response.skipped.length,
    narBytes: response.narBytes,
    wireBytes,
    seconds,
  };
}

/**
 * `./result` → `/nix/store/…`: the agent activates a store path, not a local
 * symlink. A path that does not exist here is passed on unchanged, for
 * computeClosure to judge (it knows the store).
 */
async function resolveStorePath(path: string, cwd: string): Promise<string> {
  const absolute = resolve(cwd, path);
  try {
    return await realpath(absolute);
  } catch (e) {
    if (e instanceof Error && "code" in e && e.code === "ENOENT" && isAbsolute(path)) return path;
    throw new UserError(`store path ${path}: ${describeFsError(e)}`, { cause: e });
  }
}
