import { parseTrustedKeys, validateStorePath } from "@ros-rollback/nix-core";
import type { Logger } from "pino";
import { lazy } from "../lazy.js";
import { NixCliStore, queryMissingPaths } from "./cli-store.js";
import type { PushObserver } from "./push-observer.js";
import { PushSlots } from "./push-slots.js";
import type { PushByteCounts, StorePort } from "./store-port.js";
import { narInfoLookup, queryCaches } from "./substituters.js";

export interface StoreAdapterOptions {
  readonly storeDir: string;
  readonly nixBinDir: string | undefined;
  readonly trustedPublicKeys: readonly string[];
  readonly log: Logger;
  readonly observer?: PushObserver;
  /** `--store` for nix (tests use chroot stores), and nix's environment. */
  readonly storeUri?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Pushes at once; more are refused with RESOURCE_EXHAUSTED. */
  readonly maxConcurrentPushes?: number;
  /** See PushDeps.maxSkippedBytes, idleTimeoutMs and openingTimeoutMs. */
  readonly maxSkippedBytes?: number;
  readonly pushIdleTimeoutMs?: number;
  readonly pushOpeningTimeoutMs?: number;
  /** See PushSlots: a push waiting this long for its client gives way to a new one from that client. */
  readonly pushReplaceAfterMs?: number;
  /** The configured caches (normalised URLs), in order. */
  readonly substituters?: readonly string[];
  /** Per narinfo request. */
  readonly cacheTimeoutMs?: number;
  /** See SubstituteDeps. */
  readonly substitutePollMs?: number;
  readonly stalledDownloadSeconds?: number;
  /** See PushDeps.ensureSpace. */
  readonly ensureSpace?: (neededBytes: number, what: string) => Promise<void>;
  /** See CliStoreOptions.keepQueryProcessMs. */
  readonly keepQueryProcessMs?: number;
}

// Loaded on the first push or substitution: an idle agent never needs the receive pipeline
// (decompressors, zstd demux, NAR checks) nor the substituter (issue 13: idle RSS).
const loadReceivePush = lazy(() => import("./receive-push.js"));
const loadSubstitute = lazy(() => import("./substitute.js"));

/** Each push holds two nix-store processes and a decompressor; a robot's CPU and RAM are small. */
export const DEFAULT_MAX_CONCURRENT_PUSHES = 2;

/** `deps` whose observer also tells `counts` (one push's). */
function withCounts<D extends { readonly observer: PushObserver | undefined }>(
  deps: D,
  counts: PushByteCounts | undefined,
): D {
  if (counts === undefined) return deps;
  const o = deps.observer;
  const observer: PushObserver = {
    pathImported: (p, size) => o?.pathImported?.(p, size),
    pathSkipped: (p) => o?.pathSkipped?.(p),
    pathRefused: (p, why) => o?.pathRefused?.(p, why),
    wireBytes: (n) => {
      o?.wireBytes?.(n);
      counts.wireBytes(n);
    },
    narBytes: (n) => {
      o?.narBytes?.(n);
      counts.narBytes(n);
    },
  };
  return { ...deps, observer };
}

/** The robot's Nix store as the gRPC service needs it: the real nix CLI behind the store/ module. */
export function createStorePort(
  o: StoreAdapterOptions,
): StorePort & { validateStorePath: (p: string) => void } {
  const store = new NixCliStore({
    storeDir: o.storeDir,
    nixBinDir: o.nixBinDir,
    storeUri: o.storeUri,
    env: o.env,
    keepQueryProcessMs: o.keepQueryProcessMs,
  });
  // Parsed once at start: a bad key in the config stops the agent instead of every push.
  const trustedKeys = parseTrustedKeys(o.trustedPublicKeys);
  const slots = new PushSlots(o.maxConcurrentPushes ?? DEFAULT_MAX_CONCURRENT_PUSHES, o.pushReplaceAfterMs);
  const deps = {
    store,
    trustedKeys,
    observer: o.observer,
    maxSkippedBytes: o.maxSkippedBytes,
    idleTimeoutMs: o.pushIdleTimeoutMs,
    openingTimeoutMs: o.pushOpeningTimeoutMs,
    ensureSpace: o.ensureSpace,
  };
  const caches = o.substituters ?? [];
  const lookup = narInfoLookup({ storeDir: o.storeDir, timeoutMs: o.cacheTimeoutMs ?? 10_000 });
  const substituteDeps = {
    store,
    caches,
    trustedKeys,
    trustedKeyTexts: o.trustedPublicKeys,
    lookup,
    nixBinDir: o.nixBinDir,
    storeUri: o.storeUri,
    env: o.env,
    pollMs: o.substitutePollMs,
    stalledSeconds: o.stalledDownloadSeconds,
    ensureSpace: o.ensureSpace,
  };
  return {
    validateStorePath: (p) => validateStorePath(p, o.storeDir),
    queryMissing: (paths, signal) => queryMissingPaths(store, paths, signal),
    prepareQuery: () => store.prewarmQuery(),
    querySubstitutable: async (paths, signal) => {
      for (const p of paths) validateStorePath(p, o.storeDir);
      const { found, unreachable } = await queryCaches(caches, [...new Set(paths)], lookup, signal);
      if (unreachable.length > 0) o.log.warn({ unreachable }, "binary caches could not be asked");
      return {
        paths: [...found].map(([storePath, f]) => ({
          storePath,
          cacheUrl: f.cacheUrl,
          narSize: f.info.narSize,
          fileSize: f.info.fileSize,
        })),
        unreachable,
      };
    },
    // Shares the push slots: both write the store with a few nix processes.
    substitute: (paths, signal, onProgress, client) =>
      slots.run(client, async () => {
        const started = Date.now();
        const { substitute } = await loadSubstitute();
        const res = await substitute(paths, substituteDeps, signal, onProgress);
        o.log.info(
          {
            paths: res.pathsTotal - res.pathsAlreadyValid,
            narBytes: res.narBytesTotal,
            seconds: (Date.now() - started) / 1000,
          },
          "paths substituted",
        );
        return res;
      }),
    receivePush: (requests, signal, progress, client) =>
      slots.run(
        client,
        async (slot) => {
          const started = Date.now();
          const { receivePush } = await loadReceivePush();
          const res = await receivePush(slot.watch(requests), withCounts(deps, progress), slot.signal);
          o.log.info(
            {
              imported: res.imported.length,
              skipped: res.skipped.length,
              narBytes: res.narBytes,
              seconds: (Date.now() - started) / 1000,
            },
            "push received",
          );
          return res;
        },
        signal,
      ),
  };
}
