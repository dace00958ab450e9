import { lstat, realpath } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { type NamedEntry, show } from "./entry-rules.js";

/**
 * Why `path` (lexically canonical already) is not the directory it names on
 * this machine: a symlink on the way (dangling or looping too), a file in the
 * way. undefined when it is. A part that does not exist yet is fine: a data
 * directory may appear later.
 */
export async function symlinkProblem(path: string): Promise<string | undefined> {
  const missing: string[] = [];
  let head = path;
  for (;;) {
    let real: string;
    try {
      real = await realpath(head);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ELOOP") return "loops through symbolic links";
      if (code === "ENOTDIR") return "has a file where a directory should be";
      if (code !== "ENOENT" || head === "/") return `cannot be resolved (${code ?? "error"})`;
      // realpath says ENOENT for a dangling link too: that one exists.
      if (await exists(head)) return `goes through ${show(head)}, a symbolic link to a missing target`;
      missing.push(basename(head));
      head = dirname(head);
      continue;
    }
    const full = missing.length === 0 ? real : join(real, ...missing.reverse());
    return full === path ? undefined : `goes through a symbolic link: it is really ${show(full)}`;
  }
}

async function exists(p: string): Promise<boolean> {
  return lstat(p).then(
    () => true,
    () => false,
  );
}

/** The first entry that is not the directory it names, as one line naming it. */
export async function firstSymlinkProblem(entries: readonly NamedEntry[]): Promise<string | undefined> {
  for (const e of entries) {
    const bad = await symlinkProblem(e.path);
    if (bad !== undefined) return `${e.name}.path ${show(e.path)} ${bad}`;
  }
  return undefined;
}
