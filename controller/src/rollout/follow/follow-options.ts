import type { DeploymentEvent } from "@ros-rollback/proto";
import type { CommandContext } from "../../context/command.js";
import type { OptionSpec, RawArgs } from "../../core/command.js";
import { UsageError } from "../../core/errors.js";
import { EventPrinter } from "../../report/event-printer.js";
import type { FollowOptions } from "./follow.js";

export const DEFAULT_FOLLOW_TIMEOUT_SECONDS = 900;
export const DEFAULT_RECONNECT_GRACE_SECONDS = 60;
/** Between attempts to reach the agent again, and between GetStatus polls. */
export const REATTACH_POLL_MS = 2_000;

/** Shared by deploy, rollback and watch. */
export const FOLLOW_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  "follow-timeout": {
    type: "string",
    valueName: "SECONDS",
    description:
      "when the event stream breaks (the switch may restart the agent or cut the network),\n" +
      "keep reconnecting and following the deployment this long; 0 = don't (default " +
      `${DEFAULT_FOLLOW_TIMEOUT_SECONDS})`,
  },
  "reconnect-grace": {
    type: "string",
    valueName: "SECONDS",
    description:
      "once the confirm deadline is known, stop trying to reach an unreachable agent this\n" +
      `long after it (exit 3) (default ${DEFAULT_RECONNECT_GRACE_SECONDS})`,
  },
};

export interface FollowArgs {
  readonly followTimeoutMs: number;
  readonly reconnectGraceMs: number;
}

export function parseFollowArgs(raw: RawArgs, command: string): FollowArgs {
  return {
    followTimeoutMs: seconds(raw, "follow-timeout", DEFAULT_FOLLOW_TIMEOUT_SECONDS, command),
    reconnectGraceMs: seconds(raw, "reconnect-grace", DEFAULT_RECONNECT_GRACE_SECONDS, command),
  };
}

function seconds(raw: RawArgs, key: string, fallback: number, command: string): number {
  const v = raw.values[key];
  if (typeof v !== "string") return fallback * 1000;
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || n < 0) {
    throw new UsageError(`--${key}: expected seconds (0 or more), got "${v.slice(0, 40)}"`, command);
  }
  return Math.round(n * 1000);
}

/**
 * How deploy, rollback and watch follow a deployment: events printed
 * compactly through `printer`, new connections for the same target.
 */
export function followOptions(
  ctx: CommandContext,
  target: string,
  args: FollowArgs,
  extra: {
    readonly confirm: boolean;
    readonly printer: EventPrinter;
    readonly onEvent?: (e: DeploymentEvent) => void;
    /** A TARGET positional (instead of --target) to connect to. */
    readonly targetOverride?: string | undefined;
  },
): FollowOptions {
  return {
    target,
    log: (line) => extra.printer.log(line),
    onEvent: extra.onEvent ?? ((e) => extra.printer.event(e)),
    signal: ctx.signal,
    now: ctx.io.now,
    sleep: ctx.io.sleep,
    connect: (timeoutMs, signal) =>
      ctx.connect({ target: extra.targetOverride, timeoutMs, failFast: true, signal }),
    connectTimeoutMs: ctx.global.connectTimeoutMs,
    followTimeoutMs: args.followTimeoutMs,
    reconnectGraceMs: args.reconnectGraceMs,
    pollIntervalMs: REATTACH_POLL_MS,
    confirm: extra.confirm,
  };
}

/** Plain event lines on stderr (deploy, rollback); a live countdown line only for watch on a TTY. */
export function eventPrinter(ctx: CommandContext, target: string, live = false): EventPrinter {
  return new EventPrinter({
    target,
    sink: ctx.io.stderr,
    now: ctx.io.now,
    live: live && ctx.io.stderr.isTTY,
    columns: ctx.io.stderr.columns,
  });
}
