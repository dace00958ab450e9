import { posix } from "node:path";
import { quote } from "../text/bounded.js";

/**
 * Which directories a data entry may name. A snapshot and its restore copy a
 * whole tree back in place, with its writers stopped: on a tree the system or
 * the agent manages (the Nix store, /etc, the agent's own state) that
 * corrupts it, so such entries are refused before anything runs. Pure: the
 * symlink check, which needs the file system, is in entry-paths.ts.
 */

/** Refused when an entry is one of these, contains one, or lies anywhere inside one. */
export const SYSTEM_TREES: readonly string[] = [
  "/nix",
  "/proc",
  "/sys",
  "/dev",
  "/run",
  "/boot",
  "/etc",
  "/usr",
  "/bin",
  "/sbin",
  "/lib",
  "/lib64",
];

/**
 * Refused when an entry is one of these or contains one; a directory inside
 * (/var/lib/mapdb, /home/ros/maps) is what entries are for.
 */
export const SHARED_PARENTS: readonly string[] = [
  "/var/lib",
  "/var/cache",
  "/var/log",
  "/var/tmp",
  "/home",
  "/root",
  "/srv",
  "/opt",
  "/mnt",
  "/media",
  "/tmp",
];

/** The suffixes of systemd's unit types (systemd.unit(5)). */
const UNIT_TYPES = "service|socket|device|mount|automount|swap|target|path|timer|slice|scope";
/** systemd's unit-name rules: a prefix, an optional instance, a known type; no template (`x@.service`). */
const UNIT_NAME = new RegExp(
  `^[A-Za-z0-9:_.\\\\][A-Za-z0-9:_.\\\\-]*(@[A-Za-z0-9:_.\\\\@-]+)?\\.(${UNIT_TYPES})$`,
);
/** systemd's UNIT_NAME_MAX, less its NUL. */
export const MAX_UNIT_NAME = 255;
// C0, DEL and C1: a newline or an escape sequence in a path is never a directory anyone meant.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

export interface EntryPlaces {
  /** The agent's state directory (its record and snapshots). */
  readonly stateDir: string;
  /** The hold directory robot software writes to. */
  readonly holdDir: string;
}

export interface NamedEntry {
  readonly path: string;
  readonly units: readonly string[];
  /** How a message names the entry, e.g. `data.2` (config) or `data.json entry 0`. */
  readonly name: string;
}

/** `a` is `b` or lies inside it (both canonical). */
export function within(a: string, b: string): boolean {
  return a === b || b === "/" || a.startsWith(`${b}/`);
}

/** Untrusted text quoted for a one-line message: C1 and DEL escaped too (JSON leaves them raw). */
export function show(text: string): string {
  return quote(text).replace(
    /[\u007f-\u009f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** What is wrong with one unit name; undefined when systemd would take it. */
export function unitNameProblem(unit: string): string | undefined {
  if (unit.length > MAX_UNIT_NAME) return `is longer than systemd's ${MAX_UNIT_NAME} characters`;
  if (UNIT_NAME.test(unit)) return undefined;
  return `is not a systemd unit name (letters, digits and ":_.\\-@", not starting with "-", ending in .service, .socket, .mount, …; no template)`;
}

/** What is wrong with one entry on its own; undefined when nothing. */
export function entryPathProblem(path: string, places: EntryPlaces): string | undefined {
  if (CONTROL.test(path)) return "holds a control character";
  if (!path.startsWith("/")) return "is not an absolute path";
  const canonical = posix.resolve(path);
  if (canonical !== path)
    return `is not canonical (no "..", ".", "//" or trailing "/"): expected ${show(canonical)}`;
  if (path === "/") return "is the root directory";
  for (const tree of SYSTEM_TREES) {
    if (within(path, tree))
      return `${path === tree ? "is" : "lies inside"} ${tree}, which the system manages: restoring it would corrupt the system`;
    if (within(tree, path)) return `contains ${tree}, which the system manages`;
  }
  for (const parent of SHARED_PARENTS)
    if (within(parent, path))
      return `${path === parent ? "is" : "contains"} ${parent}, which holds other software's data; name its own directory (${parent}/NAME)`;
  for (const [what, dir] of [
    ["the agent's state directory", places.stateDir],
    ["the hold directory", places.holdDir],
  ] as const) {
    if (within(path, dir)) return `${path === dir ? "is" : "lies inside"} ${what} ${show(dir)}`;
    if (within(dir, path)) return `contains ${what} ${show(dir)}`;
  }
  return undefined;
}

/**
 * The first problem with a list of entries, as one line naming the entry;
 * undefined when there is none. Two entries may not nest or repeat: the
 * restore of one would undo the other's.
 */
export function entriesProblem(entries: readonly NamedEntry[], places: EntryPlaces): string | undefined {
  for (const e of entries) {
    const bad = entryPathProblem(e.path, places);
    if (bad !== undefined) return `${e.name}.path ${show(e.path)} ${bad}`;
    for (const [j, u] of e.units.entries()) {
      const badUnit = unitNameProblem(u);
      if (badUnit !== undefined) return `${e.name}.units.${j} ${show(u)} ${badUnit}`;
    }
  }
  for (const [i, a] of entries.entries()) {
    for (const b of entries.slice(0, i)) {
      if (a.path === b.path) return `${a.name}.path ${show(a.path)} repeats ${b.name}.path`;
      if (within(a.path, b.path) || within(b.path, a.path))
        return `${a.name}.path ${show(a.path)} and ${b.name}.path ${show(b.path)} nest: one restore would undo the other's`;
    }
  }
  return undefined;
}
