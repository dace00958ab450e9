import { AgentError } from "../errors.js";
import { quote } from "../text/bounded.js";
import { clip, type Hold, MAX_LISTED, MAX_NAME } from "./types.js";

/** A request overrides at most this many holds, each named in at most this many characters. */
export const MAX_OVERRIDES = 32;
export const MAX_OVERRIDE_NAME = 256;

/** Control characters and lone surrogates: not a name anybody can type or read. */
const UNPRINTABLE = /[\p{Cc}\p{Cs}]/u;

/** A request's override_holds: checked (INVALID_ARGUMENT names the problem, bounded), duplicates dropped. */
export function overrideHoldsFromPb(names: readonly string[]): string[] {
  if (names.length > MAX_OVERRIDES) {
    throw new AgentError(
      "INVALID_ARGUMENT",
      `override_holds names ${names.length} holds; at most ${MAX_OVERRIDES}`,
    );
  }
  for (const [i, name] of names.entries()) {
    if (name === "" || name.length > MAX_OVERRIDE_NAME || UNPRINTABLE.test(name)) {
      throw new AgentError(
        "INVALID_ARGUMENT",
        `override_holds[${i}] ${quote(name, MAX_NAME)} (${name.length} characters) is not a hold name: ` +
          `1 to ${MAX_OVERRIDE_NAME} printable characters`,
      );
    }
  }
  return [...new Set(names)];
}

/** The holds now, split by a request's override list. */
export interface HoldSplit {
  /** Still refuse the request. */
  readonly blocking: readonly Hold[];
  /** Held, and named in the override list: the request goes ahead despite them. */
  readonly overridden: readonly Hold[];
  /** Named in the override list but not a hold now (released meanwhile, or a typo). */
  readonly notHeld: readonly string[];
}

/** Exact names only: an override never matches a prefix or another source's hold by accident of case. */
export function splitHolds(holds: readonly Hold[], override: readonly string[]): HoldSplit {
  const wanted = new Set(override);
  const blocking = holds.filter((h) => !wanted.has(h.name));
  const overridden = holds.filter((h) => wanted.has(h.name));
  const names = new Set(holds.map((h) => h.name));
  return { blocking, overridden, notHeld: override.filter((n) => !names.has(n)) };
}

/** The hint's flags stop here (then "…"): the whole refusal must fit its trailer. */
const MAX_HINT = 1_000;

/**
 * ` (to go ahead anyway: --override-hold mission --override-hold 'topic:/x y')`: each name
 * exactly as it must be typed (names are at most MAX_OVERRIDE_NAME long), bounded.
 */
export function overrideHint(holds: readonly Hold[]): string {
  const flags: string[] = [];
  let size = 0;
  for (const h of holds.slice(0, MAX_LISTED)) {
    const flag = `--override-hold ${shellWord(clip(h.name, MAX_OVERRIDE_NAME))}`;
    if (size + flag.length > MAX_HINT) break;
    flags.push(flag);
    size += flag.length + 1;
  }
  const more = flags.length < holds.length ? " …" : "";
  return ` (to go ahead anyway: ${flags.join(" ")}${more})`;
}

function shellWord(s: string): string {
  return /^[A-Za-z0-9._@:/=+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
