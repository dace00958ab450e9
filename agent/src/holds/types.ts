import { printable } from "../text/printable.js";

/** Where a hold comes from: an operator's command, a file robot software dropped, or a configured condition. */
export type HoldSource = "command" | "file" | "condition";

/** Something that keeps controllers from switching the robot now (the agent's own rollbacks still run). */
export interface Hold {
  /** Unique within its source: the command's name, the file's name, the condition's id. */
  readonly name: string;
  readonly source: HoldSource;
  readonly reason: string;
  /** When the hold was set (0: unknown, e.g. a condition). */
  readonly since: number;
  /** When a command hold expires by itself (undefined: never). */
  readonly expiresAt: number | undefined;
}

/** Reasons and names come from people and robot software: kept short in every message. */
export const MAX_REASON = 200;
export const MAX_NAME = 64;
/** A refusal names at most this many holds, then says how many more. */
export const MAX_LISTED = 10;

/** One line of at most `max` characters (then "…"), control characters escaped: names and reasons are data. */
export function clip(s: string, max: number): string {
  const one = printable(s.replace(/\s+/g, " ").trim());
  return one.length <= max ? one : `${one.slice(0, max)}…`;
}

export function describeHolds(holds: readonly Hold[]): string {
  const shown = holds
    .slice(0, MAX_LISTED)
    .map((h) => `${h.source} hold "${clip(h.name, MAX_NAME)}": ${clip(h.reason, MAX_REASON)}`);
  const more = holds.length > MAX_LISTED ? `; and ${holds.length - MAX_LISTED} more` : "";
  return `${shown.join("; ")}${more}`;
}
