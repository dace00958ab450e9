import type { Logger } from "pino";
import {
  NixCliStore,
  type PushObserver,
  parseTrustedKeys,
  queryMissingPaths,
  receivePush,
  validateStorePath,
} from "../store/index.js";
import type { StorePort } from "./store-port.js";

export interface StoreAdapterOptions {
  readonly storeDir: string;
  readonly nixBinDir: string | undefined;
  readonly trustedPublicKeys: readonly string[];
  readonly log: Logger;
  readonly observer?: PushObserver;
}

/** The robot's Nix store as the gRPC service needs it: the real nix CLI behind the store/ module. */
export function createStorePort(
  o: StoreAdapterOptions,
): StorePort & { validateStorePath: (p: string) => void } {
  const store = new NixCliStore({ storeDir: o.storeDir, nixBinDir: o.nixBinDir });
  // Parsed once at start: a bad key in the config stops the agent instead of every push.
  const trustedKeys = parseTrustedKeys(o.trustedPublicKeys);
  return {
    validateStorePath: (p) => validateStorePath(p, o.storeDir),
    queryMissing: (paths, signal) => queryMissingPaths(store, paths, signal),
    receivePush: async (requests, signal) => {
      const started = Date.now();
      const res = await receivePush(requests, { store, trustedKeys, observer: o.observer }, signal);
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
  };
}
