import type { AgentApi } from "../agent-api.js";
import type { CommandContext, OptionSpec, RawArgs } from "../core/command.js";
import { UsageError } from "../core/errors.js";
import type { ReattachOptions } from "../follow.js";

export const DEFAULT_FOLLOW_TIMEOUT_SECONDS = 900;
/** Between GetStatus calls while re-attaching to a deployment. */
export const REATTACH_POLL_MS = 2_000;

/** Shared by deploy and rollback. */
export const FOLLOW_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  "follow-timeout": {
    type: "string",
    valueName: "SECONDS",
    description:
      "when the event stream breaks mid-activation (the switch may restart the agent or the\n" +
      "network), keep asking the agent for the outcome this long; 0 = don't (default " +
      `${DEFAULT_FOLLOW_TIMEOUT_SECONDS})`,
  },
};

export function parseFollowTimeoutMs(raw: RawArgs, command: string): number {
  const v = raw.values["follow-timeout"];
  if (typeof v !== "string") return DEFAULT_FOLLOW_TIMEOUT_SECONDS * 1000;
  const seconds = Number(v);
  if (v.trim() === "" || !Number.isFinite(seconds) || seconds < 0) {
    throw new UsageError(`--follow-timeout: expected seconds (0 or more), got "${v}"`, command);
  }
  return Math.round(seconds * 1000);
}

export function reattachOptions(
  api: AgentApi,
  target: string,
  timeoutMs: number,
  ctx: CommandContext,
): ReattachOptions {
  return {
    api,
    target,
    log: ctx.log,
    signal: ctx.signal,
    now: ctx.io.now,
    sleep: ctx.io.sleep,
    timeoutMs,
    pollIntervalMs: REATTACH_POLL_MS,
  };
}
