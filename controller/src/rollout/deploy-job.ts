import { readFile, realpath } from "node:fs/promises";
import { isAbsolute, resolve } from "node:path";
import { ActivationAction, type DeploymentOptions, type PathInfo } from "@ros-rollback/proto";
import type { AgentApi } from "../agent-api.js";
import type { CommandContext } from "../context/command.js";
import { UserError } from "../core/errors.js";
import { buildToplevel, parseFlakeRef } from "../targets/flake.js";
import { describeFsError } from "../targets/inventory.js";
import type { Transfer } from "../transfer/transfer.js";
import type { TransferMode } from "./cache-transfer.js";
import type { FollowArgs } from "./follow/follow-options.js";
import type { CompressionName } from "./push-transfer.js";
import type { TargetJob } from "./run-on-target.js";
import type { ReleaseWindow } from "./wait-release.js";

export const ACTIONS = {
  switch: ActivationAction.ACTIVATION_ACTION_SWITCH,
  boot: ActivationAction.ACTIVATION_ACTION_BOOT,
  test: ActivationAction.ACTIVATION_ACTION_TEST,
  "dry-activate": ActivationAction.ACTIVATION_ACTION_DRY_ACTIVATE,
} as const;
export type ActionName = keyof typeof ACTIONS;

/** What `deploy` was asked to do, whatever the number of robots. */
export interface DeploySpec {
  /** A store path, `./result`, or FLAKE#NAME. */
  readonly storePath: string;
  readonly action: ActionName;
  readonly compression: CompressionName;
  readonly signKey: string | undefined;
  /** auto: the robot substitutes what its caches hold, the rest is pushed. */
  readonly transfer: TransferMode;
  /** --upload-to: a binary cache (store URI) the closure is uploaded to once, before the robots substitute. */
  readonly uploadTo: string | undefined;
  readonly follow: FollowArgs;
  /** undefined = the agent's default (30 s). */
  readonly confirmTimeoutSeconds: number | undefined;
  readonly magicRollback: boolean;
  readonly autoRollback: boolean;
  /** --no-confirm: the agent confirms by itself once healthy. */
  readonly selfConfirm: boolean;
  /** --health FILE: per-deployment health changes (JSON). */
  readonly healthFile: string | undefined;
  /** --wait-for-release SECONDS: a held robot is waited for (one robot: at once; a rollout: at its end). */
  readonly waitForReleaseSeconds: number | undefined;
  /** --override-hold: holds to go ahead despite, by exact name (every robot gets them). */
  readonly overrideHolds: readonly string[];
  /** --reboot: the agent reboots the robot after recording the deployment and judges it after the boot. */
  readonly reboot: boolean;
}

export interface Built {
  readonly storePath: string;
  readonly options: DeploymentOptions;
}

/**
 * The work done once per deploy however many robots it reaches: build the
 * flake, read the --health file, resolve `./result`, compute the closure.
 * Each step runs on first use (so one robot sees today's order of steps and
 * errors) and is shared after that.
 */
export class DeploySource {
  private built: Promise<Built> | undefined;
  private resolved: Promise<string> | undefined;
  private computed: Promise<PathInfo[]> | undefined;
  private early: Promise<PathInfo[]> | undefined;

  constructor(
    private readonly spec: DeploySpec,
    private readonly ctx: CommandContext,
    /** Added to every deployment's options (a rollout's label). */
    private readonly extra: Partial<DeploymentOptions> = {},
  ) {}

  build(signal: AbortSignal): Promise<Built> {
    this.built ??= this.doBuild(signal);
    return this.built;
  }

  /** `./result` → `/nix/store/…`. */
  resolve(storePath: string): Promise<string> {
    this.resolved ??= resolveStorePath(storePath, this.ctx.io.cwd);
    return this.resolved;
  }

  closure(storePath: string, signal: AbortSignal): Promise<PathInfo[]> {
    this.computed ??= this.compute(storePath, signal);
    return this.computed;
  }

  /**
   * Resolves `storePath` and starts its closure's `nix` child now, so it runs beside the
   * connect and GetStatus (issue 13). Nothing is logged or thrown here: `resolve` and
   * `closure` (same path) take it over later, in their usual order; `signal` ends the child
   * when they never come (a connect or GetStatus failure).
   */
  prefetch(storePath: string, signal: AbortSignal): void {
    const resolved = this.resolve(storePath);
    this.early ??= resolved.then((path) => this.ctx.deps.closure.computeClosure(path, signal));
    // Rejections are seen by whoever awaits them later, or by nobody when the deploy ends first.
    resolved.catch(() => undefined);
    this.early.catch(() => undefined);
  }

  /**
   * Asks `api`'s agent which paths of the prefetched closure it lacks, as soon as that closure is
   * known: beside GetStatus, so the agent's `nix-store` starts a round trip sooner (issue 13). It
   * only reads. Undefined without a prefetch; a failed closure rejects it with the closure's error.
   */
  askMissingEarly(api: AgentApi, signal: AbortSignal): Promise<string[]> | undefined {
    const early = this.early;
    if (early === undefined) return undefined;
    const asked = early.then((closure) =>
      api.queryMissingPaths(
        closure.map((p) => p.storePath),
        signal,
      ),
    );
    // Seen by ensurePaths, or by nobody when the deploy ends before (GetStatus failed).
    asked.catch(() => undefined);
    return asked;
  }

  private async doBuild(signal: AbortSignal): Promise<Built> {
    const { ctx, spec } = this;
    const flake = parseFlakeRef(spec.storePath);
    let storePath = spec.storePath;
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
    return { storePath, options: { ...(await deploymentOptions(spec, ctx.io.cwd)), ...this.extra } };
  }

  private compute(storePath: string, signal: AbortSignal): Promise<PathInfo[]> {
    this.ctx.log(`computing the closure of ${storePath}`);
    return this.early ?? this.ctx.deps.closure.computeClosure(storePath, signal);
  }
}

/**
 * `deploy` on one robot: prepare = status, closure, transfer; start = Activate. `early`: the
 * closure is computed from before the connect on (`DeploySource.prefetch`); aborting it ends that.
 */
export function deployJob(
  ctx: CommandContext,
  spec: DeploySpec,
  source: DeploySource,
  transfer: Transfer,
  release?: ReleaseWindow,
  early?: AbortSignal,
): TargetJob<Built> {
  return {
    release,
    overrideHolds: spec.overrideHolds,
    operation: "activate",
    action: ACTIONS[spec.action],
    actionLabel: spec.action,
    selfConfirm: spec.selfConfirm,
    follow: spec.follow,
    storePath: spec.storePath,
    interrupted: (target) =>
      `interrupted before activation; nothing was changed on ${target} (paths already pushed stay in its store, unused)`,
    async before(facts, signal) {
      facts.storePath = (await source.build(signal)).storePath;
      if (early !== undefined) source.prefetch(facts.storePath, AbortSignal.any([signal, early]));
    },
    async prepare(api, facts, signal) {
      const target = api.target.name;
      const built = await source.build(signal);
      const status = api.getStatus(signal);
      const asked = source.askMissingEarly(api, signal);
      const before = await status;
      facts.generationBefore = before.currentGeneration;
      facts.space = before.space;
      ctx.log(
        `${target}: ${before.hostname || "?"} (agent ${before.agentVersion || "?"}) is on generation ${before.currentGeneration}`,
      );
      if (before.deployment !== undefined) {
        ctx.log(
          `${target}: warning: deployment ${before.deployment.id} is not finished; the agent may refuse`,
        );
      }
      const storePath = await source.resolve(built.storePath);
      facts.storePath = storePath;
      const closure = await source.closure(storePath, signal);
      await transfer.ensurePaths(
        api,
        closure,
        signal,
        (push) => {
          facts.push = push;
        },
        // The early closure is the one computed (closure() hands it over).
        asked,
      );
      return { storePath, options: built.options };
    },
    start(api, prepared, signal) {
      ctx.log(`${api.target.name}: activating (${spec.action}) ${prepared.storePath}`);
      const { storePath, options } = prepared;
      return api.activate(
        {
          storePath,
          action: ACTIONS[spec.action],
          options,
          overrideHolds: [...spec.overrideHolds],
          // Unset without --reboot: the request stays what agents before it knew.
          ...(spec.reboot ? { reboot: true } : {}),
        },
        signal,
      );
    },
  };
}

/** What the deploy asks of the agent beyond the action; flags not given stay unset (the agent's defaults). */
async function deploymentOptions(spec: DeploySpec, cwd: string): Promise<DeploymentOptions> {
  return {
    confirmTimeoutSeconds: spec.confirmTimeoutSeconds,
    magicRollback: spec.magicRollback ? undefined : false,
    autoRollback: spec.autoRollback ? undefined : false,
    selfConfirm: spec.selfConfirm,
    healthJson: spec.healthFile === undefined ? "" : await readHealthFile(resolve(cwd, spec.healthFile)),
    label: "",
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
