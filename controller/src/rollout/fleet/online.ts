import type { CommandContext } from "../../context/command.js";
import type { OptionSpec, RawArgs } from "../../core/command.js";
import { UsageError } from "../../core/errors.js";
import type { Io } from "../../core/io.js";
import type { DeploymentReport } from "../../report/report.js";

/** The longest --wait-online (a day): a typo must not keep a rollout open for years. */
export const MAX_WAIT_ONLINE_SECONDS = 86_400;
/** Between attempts to reach an offline robot (each is one relay query, or one connect). */
export const ONLINE_POLL_MS = 1_000;

export const WAIT_ONLINE_OPTION: Readonly<Record<string, OptionSpec>> = {
  "wait-online": {
    type: "string",
    valueName: "SECONDS",
    description:
      "several targets: a robot that cannot be reached when its wave comes (not connected to its relay,\n" +
      "or unreachable) waits instead of being skipped; after the last wave the waiting robots are\n" +
      `deployed as they come online, all within one window of SECONDS (1 to ${MAX_WAIT_ONLINE_SECONDS})`,
  },
};

/** --wait-online SECONDS: whole seconds, 1 to a day; undefined when not given. */
export function parseWaitOnline(raw: RawArgs, command: string): number | undefined {
  const v = raw.values["wait-online"];
  if (v === undefined) return undefined;
  const n = typeof v === "string" && /^\d{1,6}$/.test(v) ? Number(v) : Number.NaN;
  if (!(n >= 1 && n <= MAX_WAIT_ONLINE_SECONDS)) {
    throw new UsageError(
      `--wait-online: expected whole seconds from 1 to ${MAX_WAIT_ONLINE_SECONDS}, got "${String(v).slice(0, 40)}"`,
      command,
    );
  }
  return n;
}

/** What a rollout's report says about a robot that was offline when its wave came. */
import type { OnlineJson } from "../../report/online.js";

export type { OnlineJson };

/** One attempt at a robot's job, and whether the robot could be reached at all. */
export interface Attempt {
  readonly report: DeploymentReport;
  /** io.now() of the first connection that got through; undefined: none did. */
  readonly reachedAt: number | undefined;
  /** Not reached: its connect failed with UNAVAILABLE (relay NOT_CONNECTED, unreachable); nothing changed. */
  readonly offline: boolean;
}

/**
 * Runs `run` with a context whose connects are watched, so an attempt knows
 * whether the robot was reached — not from the message, from where it failed.
 * `quiet`: the lines of an attempt that did not reach the robot are dropped
 * (the caller says it is offline once, not every second of the window).
 * `reached` is called the moment the first connection gets through.
 */
export async function attemptOn(
  ctx: CommandContext,
  run: (ctx: CommandContext) => Promise<DeploymentReport>,
  quiet: boolean,
  reached: (at: number) => void = () => undefined,
): Promise<Attempt> {
  let reachedAt: number | undefined;
  let held: string[] = [];
  const watched: CommandContext = {
    ...ctx,
    log: (line) => (reachedAt === undefined && quiet ? held.push(line) : ctx.log(line)),
    connect: async (o) => {
      const api = await ctx.connect(o);
      if (reachedAt === undefined) {
        reachedAt = ctx.io.now();
        reached(reachedAt);
        for (const line of held) ctx.log(line);
        held = [];
      }
      return api;
    },
    selectTargets: (o) => ctx.selectTargets(o),
  };
  const report = await run(watched);
  const offline =
    reachedAt === undefined && report.outcome === "unchanged" && report.error?.status === "UNAVAILABLE";
  if (!offline) for (const line of held) ctx.log(line);
  return { report, reachedAt, offline };
}

/**
 * Tries an offline robot until it is reached or the window closes. An attempt
 * is begun at the latest when the window closes (the last one at the close, so
 * a robot that connected just before it is caught); a robot that attempt
 * reaches is deployed, whenever the deployment ends. So the robot is either
 * deployed or missing — decided by one attempt, never both. Undefined: stopped
 * (an abort or Ctrl-C) before it was reached.
 */
export async function untilOnline(
  io: Pick<Io, "now" | "sleep">,
  signal: AbortSignal,
  until: number,
  attempt: () => Promise<Attempt>,
  stopped: () => boolean,
): Promise<Attempt | undefined> {
  for (;;) {
    if (stopped() || signal.aborted) return undefined;
    const a = await attempt();
    if (!a.offline || io.now() >= until) return a;
    await io.sleep(Math.min(ONLINE_POLL_MS, until - io.now()), signal).catch(() => undefined);
  }
}
