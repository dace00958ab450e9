import type { PathInfo } from "@ros-rollback/proto";
import { UserError } from "../core/errors.js";

/**
 * References first, the way `nix-store --export` orders a closure: a
 * depth-first walk over the paths in name order, each emitted after the
 * references it has within the set. Deterministic, so a repeated push sends
 * the same stream.
 */
export function sortReferencesFirst(infos: readonly PathInfo[]): PathInfo[] {
  const byPath = new Map(infos.map((i) => [i.storePath, i]));
  const done = new Set<string>();
  const onStack = new Set<string>();
  const out: PathInfo[] = [];
  const visit = (info: PathInfo): void => {
    if (done.has(info.storePath)) return;
    if (onStack.has(info.storePath)) throw new UserError(`reference cycle through ${info.storePath}`);
    onStack.add(info.storePath);
    for (const ref of [...info.references].sort()) {
      const dep = byPath.get(ref);
      if (ref !== info.storePath && dep !== undefined) visit(dep);
    }
    onStack.delete(info.storePath);
    done.add(info.storePath);
    out.push(info);
  };
  for (const info of [...infos].sort((a, b) => (a.storePath < b.storePath ? -1 : 1))) visit(info);
  return out;
}
