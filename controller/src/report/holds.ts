// How holds show in reports: the holds that kept a robot, and the warning for overridden ones.
import { type HoldJson, holdText } from "./views.js";

/** A line names at most this many holds, then says how many more; each is clipped. */
export const MAX_LISTED = 10;
/** Names shown in the override warning, each clipped. */
const SHOWN_NAME = 64;

/** What the report says about holds: those that kept the robot, how long it waited, whether they went. */
export interface HeldJson {
  /** Every hold seen (latest reason per hold), at most MAX_LISTED. */
  readonly holds: readonly HoldJson[];
  readonly waitedSeconds: number;
  /** The holds went and the request went ahead. */
  readonly released: boolean;
}

/** `file hold "mission": executing waypoint 3; command hold "demo": filming`, bounded. */
export function holdsLine(holds: readonly HoldJson[]): string {
  if (holds.length === 0) return "no hold left";
  const more = holds.length > MAX_LISTED ? `; and ${holds.length - MAX_LISTED} more` : "";
  return `${holds.slice(0, MAX_LISTED).map(holdText).join("; ")}${more}`;
}

/** `warning: overriding hold(s): mission, topic:/mission_state` (bounded), or undefined when none. */
export function overrideWarning(names: readonly string[]): string | undefined {
  if (names.length === 0) return undefined;
  return `warning: overriding hold(s): ${names.map(clipName).join(", ")}`;
}

/** A hold name as messages show it: at most SHOWN_NAME characters. */
export function clipName(s: string): string {
  return s.length <= SHOWN_NAME ? s : `${s.slice(0, SHOWN_NAME)}…`;
}
