// What receivePush is given (its limits, with their defaults) and what it returns.
import type { NixPublicKey } from "@ros-rollback/nix-core";
import type { DecompressOptions } from "./decompress.js";
import type { NixStore } from "./nix-store.js";
import type { PushObserver } from "./push-observer.js";

export interface PushDeps {
  readonly store: NixStore;
  /** Only paths signed by one of these are imported. */
  readonly trustedKeys: readonly NixPublicKey[];
  readonly decompress?: DecompressOptions;
  readonly observer?: PushObserver;
  /**
   * NAR bytes (as announced) of paths the robot has already that one push may
   * send: their bytes are decompressed and dropped, work for nothing. The
   * controller asks QueryMissingPaths first, so only a race gets near this.
   */
  readonly maxSkippedBytes?: number;
  /** A push that sends nothing this long ends (TIMEOUT): it holds nix processes and a push slot. */
  readonly idleTimeoutMs?: number;
  /**
   * A push whose first message (PushOptions) does not come within this long ends (TIMEOUT): a
   * connection that never sends a byte must not hold a push slot for the whole idle limit.
   */
  readonly openingTimeoutMs?: number;
  /**
   * Refuses (NO_SPACE) when the store cannot take this many NAR bytes (gc/space-check.ts); asked
   * with PushOptions' total before any PathInfo is read or nix is started.
   */
  readonly ensureSpace?: (neededBytes: number, what: string) => Promise<void>;
}

export const DEFAULT_MAX_SKIPPED_BYTES = 256 * 1024 * 1024;
export const DEFAULT_PUSH_IDLE_TIMEOUT_MS = 120_000;
/** A controller sends PushOptions as soon as it has sampled the first NAR's bytes: well within. */
export const DEFAULT_PUSH_OPENING_TIMEOUT_MS = 15_000;

export interface PushResult {
  /** Registered by this push, in order. */
  imported: string[];
  /** Valid already; their bytes were read and dropped. */
  skipped: string[];
  /** NAR bytes received (decompressed). */
  narBytes: number;
}
