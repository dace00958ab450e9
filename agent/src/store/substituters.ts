import { fileURLToPath } from "node:url";
import { quote } from "@ros-rollback/nix-core";
import { withDeadline } from "../abort/with-deadline.js";
import { discardBody, fetchOnCache, narLocation, readBounded, readFileBounded } from "./cache-origin.js";
import { MAX_NARINFO_BYTES, type NarInfo, parseNarInfo } from "./narinfo.js";

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

/**
 * Narinfo lookups over HTTP(S) (`GET URL/<hash>.narinfo`) and file:// (reading
 * the file). The body is read up to MAX_NARINFO_BYTES and no further; redirects
 * and the NAR URL must stay on the cache (cache-origin.ts).
 */
export function narInfoLookup(o: LookupOptions): NarInfoLookup {
  return async (cacheUrl, storePath, signal) => {
    const hash = storePath.slice(o.storeDir.length + 1, o.storeDir.length + 33);
    const where = `${cacheUrl}/${hash}.narinfo`;
    let text: string | undefined;
    if (cacheUrl.startsWith("file://")) text = await readLocal(cacheUrl, where, signal);
    else {
      const deadline = withDeadline(signal, o.timeoutMs);
      try {
        text = await readRemote(cacheUrl, where, deadline.signal, signal);
      } finally {
        deadline.clear();
      }
    }
    if (text === undefined) return undefined;
    const info = parseNarInfo(text, o.storeDir);
    if (typeof info === "string") throw new CacheError(cacheUrl, `${quote(where)}: ${info}`);
    if (info.storePath !== storePath) {
      throw new CacheError(cacheUrl, `${quote(where)} names another path ${quote(info.storePath)}`);
    }
    const nar = narLocation(cacheUrl, info.url);
    if (typeof nar === "string") throw new CacheError(cacheUrl, `${quote(where)}: ${nar}`);
    return info;
  };
}

const tooLarge = (where: string) =>
  `${quote(where)} is larger than ${MAX_NARINFO_BYTES} bytes (not read further)`;

async function readLocal(cacheUrl: string, where: string, signal: AbortSignal): Promise<string | undefined> {
  let text: string | undefined;
  try {
    signal.throwIfAborted();
    text = await readFileBounded(fileURLToPath(where), MAX_NARINFO_BYTES, "the narinfo");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    if (signal.aborted) throw e;
    throw new CacheError(cacheUrl, `cannot read ${quote(where)}: ${(e as Error).message}`, { cause: e });
  }
  if (text === undefined) throw new CacheError(cacheUrl, tooLarge(where));
  return text;
}

/** `signal` bounds the whole read (the caller's and the per-request timeout); `caller` alone is the caller's. */
async function readRemote(
  cacheUrl: string,
  where: string,
  signal: AbortSignal,
  caller: AbortSignal,
): Promise<string | undefined> {
  let text: string | undefined;
  try {
    const got = await fetchOnCache(cacheUrl, new URL(where), signal);
    if ("refused" in got) throw new CacheError(cacheUrl, got.refused);
    const res = got.response;
    if (res.status === 404 || res.status === 403) {
      discardBody(res);
      return undefined;
    }
    if (res.status !== 200) {
      discardBody(res);
      throw new CacheError(cacheUrl, `GET ${quote(where)}: HTTP ${res.status}`);
    }
    text = await readBounded(res, MAX_NARINFO_BYTES);
  } catch (e) {
    if (e instanceof CacheError || caller.aborted) throw e;
    throw new CacheError(cacheUrl, `GET ${quote(where)}: ${(e as Error).message}`, { cause: e });
  }
  if (text === undefined) throw new CacheError(cacheUrl, tooLarge(where));
  return text;
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
