// The phases of a reboot deployment and of a boot fallback, from real events on one timeline (the
// host's): the CLI's start and exit (host), the agent's events (the guest's clock of the boot that
// sent them, put on the host's with that boot's offset), the new boot's kernel start (guest
// realtime − uptime) and console lines (host, as they appear in QEMU's file).
import type { BootClock } from "./vm-clock.js";

export interface TimedEvent {
  readonly state: string;
  /** The agent's clock (ISO 8601). */
  readonly time: string | null;
}

export interface RebootRun {
  /** Host ms. */
  readonly startMs: number;
  readonly endMs: number;
  readonly events: readonly TimedEvent[];
  /** The CLI's own report of its push, s (0 when nothing was missing). */
  readonly pushSeconds: number;
}

/** Guest ms of the first event in `state` (throws if there is none: a phase without its boundary). */
export function guestMs(events: readonly TimedEvent[], state: string): number {
  const e = events.find((x) => x.state === state && x.time !== null);
  if (e?.time === undefined || e.time === null) {
    throw new Error(`no ${state} event (saw ${events.map((x) => x.state).join(", ")})`);
  }
  return Date.parse(e.time);
}

/** `ms` on `clock`'s boot, on the host's clock. */
const host = (clock: BootClock, ms: number): number => ms - clock.offsetMs;

/**
 * A healthy `deploy --action boot --reboot`: `before` is the clock of the boot that installed it,
 * `after` of the boot that judged it; `restartMs`, the console's last line of the old kernel.
 */
export function rebootDeployPhases(
  run: RebootRun,
  before: BootClock,
  after: BootClock,
  restartMs: number | undefined,
): Record<string, number> {
  if (before.bootId === after.bootId) throw new Error("the deployment did not reboot the robot");
  const s = (ms: number) => ms / 1000;
  const old = (state: string) => host(before, guestMs(run.events, state));
  const now = (state: string) => host(after, guestMs(run.events, state));
  const pending = old("PENDING");
  const rebootAsked = old("AWAITING_REBOOT");
  const judging = now("CHECKING_HEALTH");
  const awaiting = now("AWAITING_CONFIRMATION");
  const succeeded = now("SUCCEEDED");
  const rows: Record<string, number> = {
    "deploy (CLI, total)": s(run.endMs - run.startMs),
    "transfer (start → PENDING: closure, query, push)": s(pending - run.startMs),
    "  push (CLI's report)": run.pushSeconds,
    "install (PENDING → AWAITING_REBOOT: profile, loader entry)": s(rebootAsked - pending),
    "reboot (AWAITING_REBOOT → new kernel start)": s(after.kernelStartMs - rebootAsked),
  };
  if (restartMs !== undefined) {
    rows["  shutdown (→ the old kernel's 'Restarting system')"] = s(restartMs - rebootAsked);
    rows["  firmware, loader (→ new kernel start)"] = s(after.kernelStartMs - restartMs);
  }
  return {
    ...rows,
    "boot (kernel start → CHECKING_HEALTH)": s(judging - after.kernelStartMs),
    "health (CHECKING_HEALTH → AWAITING_CONFIRMATION)": s(awaiting - judging),
    "confirm (AWAITING_CONFIRMATION → SUCCEEDED)": s(succeeded - awaiting),
    "SUCCEEDED → CLI exit": s(run.endMs - succeeded),
  };
}

/**
 * A generation that panics: from the reboot into it (AWAITING_REBOOT) and from its first panic on
 * the console to the previous generation's kernel start, its agent's ROLLED_BACK and the CLI's exit.
 */
export function panicPhases(
  run: RebootRun,
  before: BootClock,
  after: BootClock,
  panicsMs: readonly number[],
): Record<string, number> {
  if (before.bootId === after.bootId) throw new Error("the deployment did not reboot the robot");
  const first = panicsMs[0];
  if (first === undefined) throw new Error("no kernel panic on the console");
  const s = (ms: number) => ms / 1000;
  const rebootAsked = host(before, guestMs(run.events, "AWAITING_REBOOT"));
  const rolledBack = host(after, guestMs(run.events, "ROLLED_BACK"));
  return {
    "reboot asked (AWAITING_REBOOT) → 1st panic (console)": s(first - rebootAsked),
    "1st panic → previous generation's kernel start": s(after.kernelStartMs - first),
    "1st panic → ROLLED_BACK (agent, on the previous generation)": s(rolledBack - first),
    "1st panic → CLI exit": s(run.endMs - first),
    "reboot asked → ROLLED_BACK": s(rolledBack - rebootAsked),
  };
}
