import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { quote } from "@ros-rollback/nix-core";
import { type NarInfo, parseNarInfo } from "./narinfo.js";

/** What the config accepts as a substituter: caches the agent can ask itself. */
export const SUBSTITUTER_URL = /^(https?:\/\/[^\s/]+(\/\S*)?|file:\/\/\/\S*)$/;

/** Canonical form (no trailing slash), as Nix and the agent's answers name it. */
export function normaliseCacheUrl(url: string): string {
  return url.replace(/\/+$/, "");
}

/** A narinfo, undefined if the cache does not have the path; throws CacheError if the cache cannot be asked. */
export type NarInfoLookup = (
  cacheUrl: string,
  storePath: string,
  signal: AbortSignal,
) => Promise<NarInfo | undefined>;

export class CacheError extends Error {
  constructor(
    readonly cacheUrl: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "CacheError";
  }
}

export interface LookupOptions {
  readonly storeDir: string;
  /** Per narinfo request: a slow cache counts as down. */
  readonly timeoutMs: number;
}

/** Narinfo lookups over HTTP(S) (`GET URL/<hash>.narinfo`) and file:// (reading the file). */
export function narInfoLookup(o: LookupOptions): NarInfoLookup {
  return async (cacheUrl, storePath, signal) => {
    const hash = storePath.slice(o.storeDir.length + 1, o.storeDir.length + 33);
    const where = `${cacheUrl}/${hash}.narinfo`;
    let text: string;
    if (cacheUrl.startsWith("file://")) {
      try {
        text = await readFile(fileURLToPath(where), { encoding: "utf8", signal });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
        throw new CacheError(cacheUrl, `cannot read ${quote(where)}: ${(e as Error).message}`, { cause: e });
      }
    } else {
      let res: Response;
      try {
        res = await fetch(where, { signal: AbortSignal.any([signal, AbortSignal.timeout(o.timeoutMs)]) });
        if (res.status === 404 || res.status === 403) {
          await res.body?.cancel();
          return undefined;
        }
        if (res.status !== 200) {
          await res.body?.cancel();
          throw new CacheError(cacheUrl, `GET ${quote(where)}: HTTP ${res.status}`);
        }
        text = await res.text();
      } catch (e) {
        if (e instanceof CacheError || signal.aborted) throw e;
        throw new CacheError(cacheUrl, `GET ${quote(where)}: ${(e as Error).message}`, { cause: e });
      }
    }
    const info = parseNarInfo(text, o.storeDir);
    if (typeof info === "string") throw new CacheError(cacheUrl, `${quote(where)}: ${info}`);
    if (info.storePath !== storePath) {
      throw new CacheError(cacheUrl, `${quote(where)} names another path ${quote(info.storePath)}`);
    }
    return info;
  };
}

export interface Found {
  readonly cacheUrl: string;
  readonly info: NarInfo;
}

export interface CacheQueryResult {
  /** By store path; the first cache (in config order) that has it. */
  readonly found: Map<string, Found>;
  /** Caches that failed, with why; asked no further. */
  readonly unreachable: string[];
}

const LOOKUPS_AT_ONCE = 8;

/** Asks each cache in order for the paths no earlier cache had. */
export async function queryCaches(
  caches: readonly string[],
  paths: readonly string[],
  lookup: NarInfoLookup,
  signal: AbortSignal,
): Promise<CacheQueryResult> {
  const found = new Map<string, Found>();
  const unreachable: string[] = [];
  for (const cacheUrl of caches) {
    const todo = paths.filter((p) => !found.has(p));
    let failed: CacheError | undefined;
    let next = 0;
    const worker = async () => {
      while (failed === undefined && next < todo.length) {
        const path = todo[next++] as string;
        try {
          const info = await lookup(cacheUrl, path, signal);
          if (info !== undefined) found.set(path, { cacheUrl, info });
        } catch (e) {
          if (!(e instanceof CacheError)) throw e;
          failed ??= e;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(LOOKUPS_AT_ONCE, todo.length) }, worker));
    if (failed !== undefined) {
      unreachable.push(failed.message);
      // A cache that failed once is not trusted to have the rest: drop what it said.
      for (const [p, f] of found) if (f.cacheUrl === cacheUrl) found.delete(p);
    }
  }
  return { found, unreachable };
}
