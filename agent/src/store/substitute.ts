import { spawn } from "node:child_process";
import { join } from "node:path";
import { type NixPublicKey, quote, validateStorePath } from "@ros-rollback/nix-core";
import { AgentError } from "../errors.js";
import { cut, quoteList } from "../text/bounded.js";
import { startCacheRelay } from "./cache-relay.js";
import type { NixStore } from "./nix-store.js";
import type { NixCliOptions } from "./serve-process.js";
import { verifyPathSignature } from "./signature.js";
import { explainFailure, type NixExit } from "./substitute-failure.js";
import { type Found, type NarInfoLookup, queryCaches } from "./substituters.js";

export interface SubstituteProgress {
  readonly pathsDone: number;
  readonly pathsTotal: number;
  readonly narBytesDone: number;
  readonly narBytesTotal: number;
  readonly pathsAlreadyValid: number;
  readonly done: boolean;
}

export interface SubstituteDeps extends NixCliOptions {
  readonly store: NixStore;
  /** The agent's configured substituters, in order; never from a request. */
  readonly caches: readonly string[];
  readonly trustedKeys: readonly NixPublicKey[];
  /** The same keys as config text, handed to Nix as trusted-public-keys. */
  readonly trustedKeyTexts: readonly string[];
  readonly lookup: NarInfoLookup;
  /** How often progress is measured (validity of the paths not done yet). */
  readonly pollMs?: number;
  /** Nix gives up on a download that moved no byte for this long (a stuck cache). */
  readonly stalledSeconds?: number;
  /** See PushDeps.ensureSpace: asked with the narinfos' NAR sizes before Nix fetches a byte. */
  readonly ensureSpace?: (neededBytes: number, what: string) => Promise<void>;
}

const STDERR_TAIL = 16 * 1024;

/**
 * Fetches `paths` from the agent's caches with Nix (`nix-store --realise`,
 * require-sigs with the agent's trusted keys only). The agent checks each
 * narinfo's signature first so an untrusted path fails with the same
 * UNTRUSTED error as a pushed one; Nix checks again on its own. Nix reaches
 * the caches only through the agent's relay (cache-relay.ts), which keeps
 * every request on the cache that had the path.
 */
export async function substitute(
  paths: readonly string[],
  d: SubstituteDeps,
  signal: AbortSignal,
  onProgress: (p: SubstituteProgress) => void,
): Promise<SubstituteProgress> {
  const asked = [...new Set(paths)];
  for (const p of asked) validateStorePath(p, d.store.storeDir);
  if (d.caches.length === 0) {
    throw new AgentError("FAILED_PRECONDITION", "this agent has no substituters configured");
  }
  const valid = await d.store.queryValidPaths(asked, signal);
  const todo = asked.filter((p) => !valid.has(p));
  const { found, unreachable } = await queryCaches(d.caches, todo, d.lookup, signal);
  const absent = todo.filter((p) => !found.has(p));
  if (absent.length > 0) {
    throw new AgentError(
      "NOT_FOUND",
      `not in any of the agent's caches: ${quoteList(absent, "path")}` +
        (unreachable.length > 0 ? ` (${cut(unreachable.join("; "), 600)})` : ""),
    );
  }
  for (const p of todo) {
    const f = found.get(p);
    if (f === undefined) continue;
    try {
      verifyPathSignature(f.info, d.trustedKeys);
    } catch (e) {
      if (!(e instanceof AgentError)) throw e;
      throw new AgentError(e.code, `cache ${quote(f.cacheUrl)}: ${e.message}`, { cause: e });
    }
  }
  const sizeOf = (p: string) => found.get(p)?.info.narSize ?? 0;
  let progress: SubstituteProgress = {
    pathsDone: valid.size,
    pathsTotal: asked.length,
    narBytesDone: 0,
    narBytesTotal: todo.reduce((s, p) => s + sizeOf(p), 0),
    pathsAlreadyValid: valid.size,
    done: todo.length === 0,
  };
  if (todo.length > 0) await d.ensureSpace?.(progress.narBytesTotal, "the substitution");
  onProgress(progress);
  if (todo.length === 0) return progress;

  const stalledSeconds = d.stalledSeconds ?? 30;
  const relay = await startCacheRelay(new Map(todo.flatMap((p) => fetchable(p, found))), {
    storeDir: d.store.storeDir,
    stalledMs: stalledSeconds * 1000,
  });
  let pending = todo;
  const measure = async () => {
    const nowValid = await d.store.queryValidPaths(pending, signal);
    if (nowValid.size === 0) return;
    pending = pending.filter((p) => !nowValid.has(p));
    progress = {
      ...progress,
      pathsDone: asked.length - pending.length,
      narBytesDone: progress.narBytesTotal - pending.reduce((s, p) => s + sizeOf(p), 0),
    };
    onProgress(progress);
  };
  let polling = Promise.resolve();
  const timer = setInterval(() => {
    polling = polling.then(measure).catch(() => undefined);
  }, d.pollMs ?? 1_000);
  try {
    const exit = await realise(todo, relay.url, stalledSeconds, d, signal);
    if (exit !== undefined) {
      const nowValid = await d.store.queryValidPaths(todo, signal).catch(() => new Set<string>());
      throw explainFailure(exit, relay, found, new Set(todo.filter((p) => !nowValid.has(p))));
    }
  } finally {
    clearInterval(timer);
    await polling;
    await relay.close();
  }
  pending = [];
  progress = { ...progress, pathsDone: asked.length, narBytesDone: progress.narBytesTotal, done: true };
  onProgress(progress);
  return progress;
}

function fetchable(path: string, found: ReadonlyMap<string, Found>): [string, Found][] {
  const f = found.get(path);
  return f === undefined ? [] : [[path, f]];
}

/**
 * Runs Nix against the relay (its only substituter); undefined when it
 * succeeded, how it ended otherwise. Rejects only when it could not run or
 * was aborted.
 */
function realise(
  paths: readonly string[],
  relayUrl: string,
  stalledSeconds: number,
  d: SubstituteDeps,
  signal: AbortSignal,
): Promise<NixExit | undefined> {
  const bin = d.nixBinDir === undefined ? "nix-store" : join(d.nixBinDir, "nix-store");
  const args = [
    ...(d.storeUri === undefined ? [] : ["--store", d.storeUri]),
    "--realise",
    ...["--option", "substituters", relayUrl],
    ...["--option", "trusted-public-keys", d.trustedKeyTexts.join(" ")],
    ...["--option", "require-sigs", "true"],
    // Nix remembers "not in this cache" for an hour; the path may have been uploaded since.
    ...["--option", "narinfo-cache-negative-ttl", "0"],
    ...["--option", "connect-timeout", "10"],
    // The relay notices a stalled cache first and says which; this only catches the relay itself.
    ...["--option", "stalled-download-timeout", String(stalledSeconds + 15)],
    ...["--option", "fallback", "false"],
    "--",
    ...paths,
  ];
  const env = d.env ?? process.env;
  // curl would send the relay's loopback requests to a configured HTTP proxy.
  const noProxy = [env.no_proxy, "127.0.0.1"].filter((x) => x !== undefined && x !== "").join(",");
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, {
      env: { ...env, no_proxy: noProxy, NO_PROXY: noProxy },
      stdio: ["ignore", "ignore", "pipe"],
      signal,
    });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (s: string) => {
      stderr = (stderr + s).slice(-STDERR_TAIL);
    });
    child.on("error", (cause) => {
      if (signal.aborted) reject(new AgentError("ABORTED", "substitution was aborted", { cause }));
      else
        reject(new AgentError("EXTERNAL_COMMAND_FAILED", `cannot run ${bin}: ${cause.message}`, { cause }));
    });
    child.on("close", (code, sig) => {
      if (code === 0) return resolve(undefined);
      if (signal.aborted) return reject(new AgentError("ABORTED", "substitution was aborted"));
      resolve({ code, signal: sig, stderr });
    });
  });
}
