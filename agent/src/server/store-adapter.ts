import type { Logger } from "pino";
import {
  NixCliStore,
  type PushObserver,
  parseTrustedKeys,
  queryMissingPaths,
  receivePush,
  validateStorePath,
} from "../store/index.js";
import { PushSlots } from "../store/push-slots.js";
import type { StorePort } from "./store-port.js";

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
  /** See PushDeps.maxSkippedBytes and idleTimeoutMs. */
  readonly maxSkippedBytes?: number;
  readonly pushIdleTimeoutMs?: number;
}

/** Each push holds two nix-store processes and a decompressor; a robot's CPU and RAM are small. */
export const DEFAULT_MAX_CONCURRENT_PUSHES = 2;

/** The robot's Nix store as the gRPC service needs it: the real nix CLI behind the store/ module. */
export function createStorePort(
  o: StoreAdapterOptions,
): StorePort & { validateStorePath: (p: string) => void } {
  const store = new NixCliStore({
    storeDir: o.storeDir,
    nixBinDir: o.nixBinDir,
    storeUri: o.storeUri,
    env: o.env,
  });
  // Parsed once at start: a bad key in the config stops the agent instead of every push.
  const trustedKeys = parseTrustedKeys(o.trustedPublicKeys);
  const slots = new PushSlots(o.maxConcurrentPushes ?? DEFAULT_MAX_CONCURRENT_PUSHES);
  const deps = {
    store,
    trustedKeys,
    observer: o.observer,
    maxSkippedBytes: o.maxSkippedBytes,
    idleTimeoutMs: o.pushIdleTimeoutMs,
  };
  return {
    validateStorePath: (p) => validateStorePath(p, o.storeDir),
    queryMissing: (paths, signal) => queryMissingPaths(store, paths, signal),
    receivePush: (requests, signal) =>
      slots.run(async () => {
        const started = Date.now();
        const res = await receivePush(requests, deps, signal);
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
      }),
  };
}
