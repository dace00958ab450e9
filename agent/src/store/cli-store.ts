import { DEFAULT_STORE_DIR, type NixCliOptions, validateStorePath } from "@ros-rollback/nix-core";
import { CliImport, notSupported, serveQueryValid } from "./cli-import.js";
import type { ImportEvents, NixStore, StoreImport } from "./nix-store.js";
import { ServeProcess } from "./serve-process.js";
import { WarmValidityQuery } from "./warm-query.js";

export interface CliStoreOptions extends NixCliOptions {
  /** The store's logical directory (what paths start with); default /nix/store. */
  readonly storeDir?: string;
  /**
   * Keep the `nix-store --serve` of validity queries this long after each
   * answer, for the next query (see WarmValidityQuery); 0 or unset: one
   * process per query.
   */
  readonly keepQueryProcessMs?: number;
}

/** The robot's store through the nix CLI (`nix-store --serve`, the protocol of `nix copy --to ssh://`). */
export class NixCliStore implements NixStore {
  readonly storeDir: string;

  private readonly warm: WarmValidityQuery | undefined;
  /** A nix-store has started on this store: it exists, nix processes no longer race to create it. */
  private initialised = false;

  constructor(private readonly options: CliStoreOptions = {}) {
    this.storeDir = options.storeDir ?? DEFAULT_STORE_DIR;
    const keepMs = options.keepQueryProcessMs ?? 0;
    this.warm = keepMs > 0 ? new WarmValidityQuery(options, keepMs) : undefined;
  }

  async queryValidPaths(paths: readonly string[], signal: AbortSignal): Promise<Set<string>> {
    for (const p of paths) validateStorePath(p, this.storeDir);
    if (paths.length === 0) return new Set();
    if (this.warm !== undefined) {
      const valid = await this.warm.queryValid(paths, signal);
      this.initialised = true;
      return valid;
    }
    const proc = await ServeProcess.start({ ...this.options, write: false, signal });
    this.initialised = true;
    try {
      const valid = await serveQueryValid(proc, paths, false);
      await proc.stop(5_000);
      return valid;
    } catch (e) {
      throw await proc.failed("querying path validity", e);
    } finally {
      proc.terminate();
    }
  }

  /** A validity query is likely soon: with a kept process, start it now (see WarmValidityQuery). */
  prewarmQuery(): void {
    this.warm?.prewarm();
  }

  /** Ends a kept query process now. */
  async close(): Promise<void> {
    await this.warm?.close();
  }

  async openImport(signal: AbortSignal, events?: ImportEvents): Promise<StoreImport> {
    const [query, importer] = await this.startPair(signal);
    this.initialised = true;
    if ((importer.serverVersion & 0xff) < 5) {
      query.terminate();
      importer.terminate();
      throw notSupported(importer.serverVersion);
    }
    return new CliImport(query, importer, events);
  }

  /** The import's query and importer processes; neither is left running if one fails to start. */
  private async startPair(signal: AbortSignal): Promise<[ServeProcess, ServeProcess]> {
    const start = () => ServeProcess.start({ ...this.options, write: true, signal });
    if (!this.initialised) {
      // One after the other: started at once, two nix processes race to initialise a new store
      // ("creating symlink … gcroots/profiles: File exists").
      const query = await start();
      try {
        return [query, await start()];
      } catch (e) {
        query.terminate();
        throw e;
      }
    }
    // At once: a push's first path waits for the slower start, not for both in turn.
    const [q, i] = await Promise.allSettled([start(), start()]);
    if (q.status === "fulfilled" && i.status === "fulfilled") return [q.value, i.value];
    for (const r of [q, i]) if (r.status === "fulfilled") r.value.terminate();
    throw [q, i].find((r): r is PromiseRejectedResult => r.status === "rejected")?.reason;
  }
}

/** The paths among `paths` that the store does not have, in the order given. */
export async function queryMissingPaths(
  store: NixStore,
  paths: readonly string[],
  signal: AbortSignal,
): Promise<string[]> {
  const valid = await store.queryValidPaths(paths, signal);
  return paths.filter((p) => !valid.has(p));
}
