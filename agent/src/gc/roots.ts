import { lstat, lutimes, mkdir, readdir, symlink, unlink } from "node:fs/promises";
import { basename, join } from "node:path";
import type { StorePort } from "../store/store-port.js";
import type { RootFence } from "./fence.js";
import type { GcLock } from "./gc-lock.js";

/** Links made at once: a system's closure is a few thousand paths. */
const BATCH = 64;

/**
 * Permanent GC roots (symlinks in a directory under Nix's gcroots) for the paths a deployment
 * asked about or fetches. Made BEFORE the store is asked or written: a GC that started earlier
 * sees the importing nix process's temporary roots, one that starts later sees these links, so
 * no collection falls between a push registering a path and the switch that needs it. A link to
 * a path not yet valid is skipped by Nix's GC. Each link's mtime says when it was last asked for.
 */
export class PathRoots {
  constructor(
    private readonly dir: string,
    private readonly now: () => number,
  ) {}

  async protect(paths: readonly string[]): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o755 });
    const unique = [...new Set(paths)];
    for (let i = 0; i < unique.length; i += BATCH) {
      await Promise.all(unique.slice(i, i + BATCH).map((p) => this.link(p)));
    }
  }

  /** Removes the links last asked for before `before` (ms since the epoch); returns how many. */
  async prune(before: number): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return 0;
      throw e;
    }
    let removed = 0;
    for (const name of names) {
      const link = join(this.dir, name);
      const st = await lstat(link).catch(() => undefined);
      if (st === undefined || st.mtimeMs >= before) continue;
      await unlink(link).catch(() => undefined);
      removed++;
    }
    return removed;
  }

  private async link(path: string): Promise<void> {
    const link = join(this.dir, basename(path));
    try {
      await symlink(path, link);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const t = new Date(this.now());
      await lutimes(link, t, t);
    }
  }
}

/**
 * The store with its paths rooted from the moment a deployment asks about them (QueryMissingPaths,
 * which names the whole closure, the paths the robot has included) or substitutes them. Paths
 * are validated first: bad input makes no link and gets the store's own refusal. A running
 * collection is stopped first (gc/fence.ts): it would not see roots made after it started. One
 * the agent did not start (`nix-store --gc` by hand) is waited out after the roots are made, so
 * the store is asked only once every GC still running has seen them.
 */
export function rootingStore<S extends StorePort & { validateStorePath: (p: string) => void }>(
  store: S,
  roots: Pick<PathRoots, "protect">,
  fence: Pick<RootFence, "takingRoots" | "stopCollection">,
  gcLock: GcLock,
): S {
  const valid = (paths: readonly string[]) => {
    try {
      for (const p of paths) store.validateStorePath(p);
      return true;
    } catch {
      return false;
    }
  };
  const root = async (paths: readonly string[], signal: AbortSignal) => {
    if (!valid(paths)) return;
    // Inside the fence: the agent's own collection does not start while a hand-started one is waited out.
    await fence.takingRoots(async () => {
      await roots.protect(paths);
      await gcLock.waitForRunningGc(signal);
    });
  };
  return {
    ...store,
    queryMissing: async (paths, signal) => {
      await root(paths, signal);
      return store.queryMissing(paths, signal);
    },
    substitute: async (paths, signal, onProgress, client) => {
      await root(paths, signal);
      return store.substitute(paths, signal, onProgress, client);
    },
    // What a push registers was rooted by its query; the collection only competes for the disk.
    receivePush: async (requests, signal, progress, client) => {
      await fence.stopCollection();
      return store.receivePush(requests, signal, progress, client);
    },
  };
}
