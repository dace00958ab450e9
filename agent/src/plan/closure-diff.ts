/** One store path of a closure with its NAR size. */
export interface SizedPath {
  readonly path: string;
  readonly narSize: number;
}

export interface PackageChange {
  readonly name: string;
  readonly oldVersions: readonly string[];
  readonly newVersions: readonly string[];
  readonly sizeDelta: number;
}

/** Like `nix store diff-closures`: packages by name, their versions and size on both sides. */
export interface ClosureDiff {
  readonly added: readonly PackageChange[];
  readonly removed: readonly PackageChange[];
  readonly changed: readonly PackageChange[];
  readonly oldSize: number;
  readonly newSize: number;
  readonly oldPaths: number;
  readonly newPaths: number;
}

/** A diff of thousands of packages is not read by anyone: keep this many per list. */
const MAX_CHANGES = 1000;

/**
 * Name and version from a store path, as Nix splits a derivation name: the
 * version starts at the first dash followed by a digit ("hello-2.12.1" →
 * "hello", "2.12.1"); output suffixes like "-bin" belong to the version side.
 */
export function parseName(storePath: string): { name: string; version: string } {
  const base = storePath.slice(storePath.lastIndexOf("/") + 1);
  const full = base.replace(/^[0-9a-df-np-sv-z]{32}-/, "");
  const m = /-(?=\d)/.exec(full);
  if (m === null) return { name: full, version: "" };
  return { name: full.slice(0, m.index), version: full.slice(m.index + 1) };
}

interface Side {
  versions: Set<string>;
  size: number;
}

function group(paths: readonly SizedPath[]): Map<string, Side> {
  const out = new Map<string, Side>();
  for (const p of paths) {
    const { name, version } = parseName(p.path);
    const side = out.get(name) ?? { versions: new Set<string>(), size: 0 };
    side.versions.add(version);
    side.size += p.narSize;
    out.set(name, side);
  }
  return out;
}

const sameSet = (a: Set<string>, b: Set<string>) => a.size === b.size && [...a].every((x) => b.has(x));

export function diffClosures(before: readonly SizedPath[], after: readonly SizedPath[]): ClosureDiff {
  const old = group(before);
  const neu = group(after);
  const added: PackageChange[] = [];
  const removed: PackageChange[] = [];
  const changed: PackageChange[] = [];
  const versions = (s: Side | undefined) => (s === undefined ? [] : [...s.versions].sort());
  for (const name of [...new Set([...old.keys(), ...neu.keys()])].sort()) {
    const o = old.get(name);
    const n = neu.get(name);
    const c = {
      name,
      oldVersions: versions(o),
      newVersions: versions(n),
      sizeDelta: (n?.size ?? 0) - (o?.size ?? 0),
    };
    if (o === undefined) added.push(c);
    else if (n === undefined) removed.push(c);
    else if (!sameSet(o.versions, n.versions) || c.sizeDelta !== 0) changed.push(c);
  }
  const sum = (ps: readonly SizedPath[]) => ps.reduce((t, p) => t + p.narSize, 0);
  return {
    added: added.slice(0, MAX_CHANGES),
    removed: removed.slice(0, MAX_CHANGES),
    changed: changed.slice(0, MAX_CHANGES),
    oldSize: sum(before),
    newSize: sum(after),
    oldPaths: before.length,
    newPaths: after.length,
  };
}
